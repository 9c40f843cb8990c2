"""``GET /v1/models`` and ``GET /v1/models/{id}``: the models a caller may use, as OpenAI lists
them, plus the routes allowed for the end user (``X-Router-User`` or ``?user=``).

A model is listed, and retrieved, only if at least one of its routes is allowed under the
effective preferences; otherwise ``/v1/models/{id}`` answers 404 ``model_not_found``, as for a
model the catalog does not have, with the reason. ``{id}`` is any name of the model: slug,
display name, alias or provider id.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request

from router._router import ModelAvailability, PolicyRouter
from router._server.context import Caller, RouterUser, context, end_user, router_user
from router._server.errors import ApiError
from router._server.schemas import ModelEntry, ModelList, RouteInfo

UserQuery = Annotated[str | None, Query(description="The end user; or X-Router-User.")]


async def list_models(
    request: Request, caller: Caller, x_router_user: RouterUser = None, user: UserQuery = None
) -> ModelList:
    """Models with at least one allowed route, for the end user if one is named."""
    router = context(request).router
    models = await router.available_models(
        end_user(user, router_user(request, x_router_user), "user")
    )
    return ModelList(data=[_model_entry(m, _created(router)) for m in models])


async def retrieve_model(
    request: Request,
    model: str,
    caller: Caller,
    x_router_user: RouterUser = None,
    user: UserQuery = None,
) -> ModelEntry:
    """One model, if at least one of its routes is allowed for the end user (else 404)."""
    router = context(request).router
    found = router.catalog.model(model)  # UnknownModel: 404 model_not_found
    decision = await router.explain(
        found.slug, end_user(user, router_user(request, x_router_user), "user")
    )
    if not decision.allowed:
        raise ApiError(
            404,
            f"model {found.name!r} has no route allowed under the effective "
            "preferences of this request; GET /v1/models lists the models that have one",
            code="model_not_found",
            param="model",
        )
    available = ModelAvailability(found.slug, found.name, decision.allowed, found)
    return _model_entry(available, _created(router))


def _created(router: PolicyRouter) -> int:
    effective = router.catalog.effective
    return int(datetime.combine(effective, datetime.min.time(), UTC).timestamp())


def _model_entry(found: ModelAvailability, created: int) -> ModelEntry:
    routes = [
        RouteInfo(**r.to_dict(), provider_name=r.provider.name, **r.policy.effective().to_dict())
        for r in found.routes
    ]
    return ModelEntry(
        id=found.slug,
        created=created,
        owned_by="policy-router",
        name=found.name,
        aliases=list(found.model.aliases),
        providers=[r.provider for r in routes],
        routes=routes,
    )


def add_model_routes(app: FastAPI, errors: dict[int | str, dict[str, Any]]) -> None:
    """Register the endpoints above; ``errors`` are their documented error responses."""
    app.add_api_route("/v1/models", list_models, methods=["GET"], responses=errors)
    app.add_api_route("/v1/models/{model:path}", retrieve_model, methods=["GET"], responses=errors)
