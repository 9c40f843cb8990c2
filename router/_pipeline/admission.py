"""Admission: a request's arguments checked against the accepted surface and the model's
fixed parameters before anything is decided."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from router._core import surface
from router._core.catalog import Catalog, Model
from router._core.redact import kind
from router._core.surface import SurfaceError, check_request
from router._errors import InvalidRequest

_LIMITS: Final = ("timeout", "num_retries", "max_retries")


def check_fixed(catalog: Catalog, model: Model, arguments: Mapping[str, Any]) -> None:
    """A caller's value that differs from one the catalog fixes for the model: refused."""
    for name, fixed in model.params.items():
        if name in arguments and arguments[name] != fixed:
            base = model.variant_of and catalog.model(model.variant_of).name
            instead = f", or ask for {base!r} to choose it yourself" if base else ""
            raise InvalidRequest(
                f"{name!r}: the request's value ({kind(arguments[name])}) conflicts with model "
                f"{model.name!r}, which fixes {name}={fixed!r} (its catalog params); "
                f"leave {name!r} out{instead}",
                param=name,
            )


def checked(
    arguments: Mapping[str, Any],
    *,
    proxy: bool,
    model: object = None,
    user: object = None,
    same_format: bool = False,
) -> dict[str, Any]:
    """The arguments, if all are within the accepted surface; else InvalidRequest naming one.
    ``model`` and ``user``, the call's own arguments, must be valid Unicode text too.
    ``same_format``: a request that goes out as it came (a Messages or Responses request),
    checked against its own API's surface by its caller: only ``model``, ``user`` and the
    call's limits (``timeout``, ``num_retries``, ``max_retries``) are checked here."""
    if same_format:  # checked against its own API's surface already; nothing in chat's form
        limits = {k: arguments[k] for k in _LIMITS if k in arguments}
        return _texts(model, user, limits, proxy=proxy)
    if "model" in arguments:
        raise InvalidRequest("pass 'model' once, as acompletion's own argument", param="model")
    return _texts(model, user, arguments, proxy=proxy)


def _texts(
    model: object, user: object, arguments: Mapping[str, Any], *, proxy: bool = False
) -> dict[str, Any]:
    try:
        surface.text("model", model)
        surface.text("user", user)
        return check_request(arguments, proxy=proxy)  # litellm's bookkeeping left out
    except SurfaceError as exc:
        raise InvalidRequest(str(exc), param=exc.param) from None
