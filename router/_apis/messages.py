"""Anthropic's Messages API on the policy path: one policy for both APIs.

A Messages request is checked against its accepted surface (router/_core/messages.py) and
routed by ``Pipeline.route``, as chat completions are: the same model resolution, preferences,
decision, identifier scrubbing, wire guard, failover and audit as a chat completion, every
record marked ``api: "messages"``. An attempt to Claude on Anthropic (on the lean path) sends
it as it came (router/_upstream/anthropic.py); an attempt to any other route translates it into
chat-completion arguments with litellm's adapter (router/_upstream/messages.py), once, and the
answer back: a Messages response (a dict, as ``litellm.anthropic.messages.acreate`` returns),
or Anthropic's stream events (a plain request's, from the lean path, rendered without litellm:
router/_upstream/messages_stream.py).

``metadata.user_id``, Anthropic's identifier field, names the end user as chat's ``user``
does (the proxy's ``X-Router-User`` header wins over it): the end user selects the stored
preferences, then is removed or pseudonymised per route; ``metadata`` is never forwarded.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any, Final, cast

from router._core.catalog import Route
from router._core.messages import check_messages
from router._core.surface import SurfaceError
from router._errors import (
    InvalidRequest,
    RouterError,
    UnknownModel,
)
from router._pipeline.dropin import dropin_error
from router._pipeline.failover import Answered
from router._upstream import messages as translation
from router._upstream import messages_plain
from router._upstream.anthropic import SameFormat
from router._upstream.loader import imported
from router._upstream.sse import json_event, relay

if TYPE_CHECKING:
    from router._pipeline.pipeline import Pipeline

API: Final = "messages"


def user_of(request: Mapping[str, Any]) -> str | None:
    """The end user a Messages request names: ``metadata.user_id`` (if a string)."""
    metadata = request.get("metadata")
    user = metadata.get("user_id") if isinstance(metadata, Mapping) else None
    return user if isinstance(user, str) and user else None


async def route_messages(
    pipeline: Pipeline,
    request: Mapping[str, Any],
    user: str | None,
    *,
    request_id: str | None,
    proxy: bool,
) -> tuple[Any, Answered]:
    """The Messages response (a dict), or with ``stream`` its events (an async iterator of
    dicts), and the route that answered. ``user`` is the end user, already settled."""
    request_id = request_id or uuid.uuid4().hex
    checked = _checked(pipeline, request, user, request_id)
    model = checked["model"]
    native = SameFormat(checked)  # its hint: the catalog's slug, once the pipeline resolves it
    stream = checked.get("stream", False)
    result, answered = await pipeline.route(
        model, (), user, checked.get("privacy"), stream, request_id, {},
        proxy=proxy, raw=proxy, api=API, native=native,
    )  # fmt: skip
    if answered.native:  # as Anthropic sent it: bytes to relay (proxy), else dicts
        if proxy:
            return result, answered
        return (_named_events(result, model) if stream else result | {"model": model}), answered
    translated = native.translated()
    if stream:  # the proxy writes each list of events at once, the library yields them one by one
        batches = with_pings(translation.event_batches(result, model, translated))
        return (batches if proxy else _one_by_one(batches)), answered
    if isinstance(result, Mapping):  # a plain request's JSON answer, rendered here if plain
        rendered = messages_plain.message_of(result, model)
        if rendered is not None:
            return rendered, answered
        await imported()  # else litellm's adapter renders it (imported in a worker thread)
    return translation.to_message(result, model, translated), answered


async def _named_events(
    events: AsyncIterator[dict[str, Any]], model: str
) -> AsyncIterator[dict[str, Any]]:
    """Anthropic's events, ``message_start`` naming ``model`` as the caller asked for it;
    ``events`` is closed when this is (its attempt is recorded)."""
    try:
        async for event in events:
            message = event.get("message")
            if event.get("type") == "message_start" and isinstance(message, dict):
                event["message"] = message | {"model": model}
            yield event
    finally:
        await cast(Any, events).aclose()


async def count_tokens(
    pipeline: Pipeline, request: Mapping[str, Any], user: str | None, *, request_id: str
) -> tuple[int, Route]:
    """The input tokens of a Messages request (``count_tokens``), and the route whose
    tokenizer counted them: the first route the policy allows, as a request would be sent.

    The same surface, preferences and decision as a request, audited as a request's are
    (``route.decision``, or ``route.refused``); no allowed route raises PolicyViolation (or
    BackendsUnconfigured). Counted locally: no provider is contacted, no attempt made."""
    checked = _checked(pipeline, request, user, request_id, counting=True)
    model = checked["model"]
    await imported()  # the adapter and the tokenizers are litellm's
    translated = translation.to_chat(checked, _hint(pipeline, model))
    decision = await pipeline.decide_only(
        model, translated.messages, user, checked.get("privacy"), request_id,
        translated.arguments, api=API,
    )  # fmt: skip
    route = decision.allowed[0]
    target = pipeline.deployment.target(route.key)
    if target is None:  # the decision rejects such routes; a guard, not a path
        raise RouterError(f"route {route.key} has no target in the deployment")
    translated = translation.to_chat(checked, route.model.slug)
    return translation.count_tokens(translated, target.model), route


def _checked(
    pipeline: Pipeline,
    request: Mapping[str, Any],
    user: str | None,
    request_id: str,
    *,
    counting: bool = False,
) -> dict[str, Any]:
    """``request`` within the Messages surface; else InvalidRequest, audited as refused."""
    try:
        return check_messages(request, counting=counting)
    except SurfaceError as exc:
        model = request.get("model")
        model = model if isinstance(model, str) else None
        pipeline.refused(request_id, user, model, "InvalidRequest", str(exc), api=API)
        raise dropin_error(InvalidRequest(str(exc), param=exc.param), model or "") from None


def _hint(pipeline: Pipeline, model: str) -> str:
    """The catalog slug of ``model`` for the adapter's per-model choices; an unknown model is
    refused (and audited) by the router itself."""
    try:
        return pipeline.loaded.named(model).model.slug
    except (UnknownModel, LookupError):
        return model


def sse(events: AsyncIterator[dict[str, Any]]) -> AsyncIterator[bytes]:
    """Anthropic's SSE, ``event: <type>`` and ``data: <json>``; a failure raises from the
    iteration, and ``events`` is closed however it ends (router/_upstream/sse.py, ``relay``)."""
    return relay(events, event_bytes, _unreachable, catch=())


async def with_pings(
    batches: AsyncIterator[list[dict[str, Any]]],
) -> AsyncIterator[list[dict[str, Any]]]:
    """``batches`` of events, with a ``ping`` after ``message_start``, as Anthropic sends it;
    ``batches`` is closed when this is."""
    try:
        async for batch in batches:
            if batch[0].get("type") == "message_start":
                batch.insert(1, {"type": "ping"})
            yield batch
    finally:
        await cast(Any, batches).aclose()


async def _one_by_one(
    batches: AsyncIterator[list[dict[str, Any]]],
) -> AsyncIterator[dict[str, Any]]:
    """The events of ``batches``, one by one; ``batches`` is closed when this is."""
    try:
        async for batch in batches:
            for event in batch:
                yield event
    finally:
        await cast(Any, batches).aclose()


def event_bytes(event: Mapping[str, Any]) -> bytes:
    return json_event(event, str(event.get("type", "message")))


def batch_bytes(batch: list[dict[str, Any]]) -> bytes:
    """A list of events, written together."""
    return b"".join([event_bytes(event) for event in batch])


def _unreachable(exc: BaseException) -> bytes:  # pragma: no cover - relay catches nothing here
    raise exc
