"""The litellm adapter: forwards one already-scrubbed call to one route's backend.

Retries are never litellm's: each call is one attempt, and failover is the caller's. Each
call runs as one of litellm's "internal" calls, which skips its per-call logging work.
Where litellm's behaviour differs per provider, the wire tests (tests/upstream/test_wire.py) say so.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from router._core.surface import CONSUMED, PARAMETERS
from router._core.values import one_write
from router._errors import (
    FailureKind,
    IdentifierInRequest,
    RequestRejected,
    RouterError,
    UpstreamFailure,
)
from router._upstream import anthropic, chat_claude, lean, openai_responses, providers
from router._upstream.callbacks import hidden_from_callbacks, shield
from router._upstream.deployment import Target
from router._upstream.errors import _translated, translate
from router._upstream.guard import IdentifierOnWire, WireCheck, watching
from router._upstream.own import own
from router._upstream.setup import _module

# What a route's call may carry from the caller: the accepted surface, less what the router
# itself owns (the deadline and retries are failover's; ``privacy`` and ``stream`` are read
# before) and what litellm gets from the deployment (``model``).
FORWARDED: Final = frozenset(PARAMETERS) - CONSUMED - {
    "model", "stream", "privacy", "timeout", "num_retries", "max_retries"
}  # fmt: skip
# litellm prefixes whose provider keeps completions unless told ``store: false``.
STORES_BY_DEFAULT: Final = frozenset({"openai", "azure"})


@one_write  # built per request: one write, not one per field
@dataclass(frozen=True)
class UpstreamCall:
    """One attempt's call: where it goes and the scrubbed, checked arguments it carries."""

    target: Target
    arguments: Mapping[str, Any]  # OpenAI-style, without ``model``; already scrubbed
    api_base: str | None = None
    timeout: float = 60.0  # litellm's per-request httpx timeout
    offline_text: str | None = None  # set: answered offline (no network, no keys): the lean
    # path's own answer (router/_upstream/offline.py), else litellm's mock
    check: WireCheck = field(default_factory=lambda: WireCheck(None, frozenset()))
    raw: bool = False  # the lean path answers the upstream's bytes (lean.Raw, SSE events)
    parsed: bool = False  # the lean path answers a JSON answer as its checked dict (no litellm
    # types), and checks a raw stream's events for errors: a plain Messages or Responses
    # request translated to chat (router/_upstream/messages_plain.py, responses_plain.py)
    chunks: bool = False  # the lean path answers a stream as ``lean.Chunks`` (no litellm types):
    # a plain Messages request translated to chat (router/_upstream/messages_stream.py)
    clients: lean.Clients | None = None  # the router's pooled lean clients (None: shared ones)
    # The wire format of ``arguments``: chat's, or a Messages request sent as it came to
    # Anthropic (router/_upstream/anthropic.py), or a Responses request to OpenAI's
    # Responses-API models (router/_upstream/openai_responses.py); failover chooses per attempt.
    api: Literal["chat", "messages", "responses"] = "chat"


async def complete(call: UpstreamCall) -> Any:
    """One non-streaming call; returns litellm's ``ModelResponse`` (or ``Raw`` if asked)."""
    with own():  # the router's own sends (strict mode lets them out)
        if call.api == "messages":
            return await anthropic.complete(call, raw=call.raw)
        if call.api == "responses":
            return await openai_responses.complete(call, raw=call.raw)
        if _lean(call):
            return await lean.complete(call, raw=call.raw, parsed=call.parsed)
        if chat_claude.serves(call):
            return await chat_claude.complete(call, raw=call.raw)
        return await _acompletion(_arguments(call), call)


def _lean(call: UpstreamCall) -> bool:
    """Whether the lean path takes this call (router/_upstream/lean.py); refuses what it must."""
    if not providers.serves(call.target):
        return False
    _refuse_unknown(call)
    return True


async def open_stream(call: UpstreamCall) -> AsyncIterator[Any]:
    """Start a streaming call; return its chunks once the first one has arrived.

    A failure before the first chunk raises from here, so the caller can still fail over;
    a failure after it raises, translated, from the iteration. Some providers send the
    request only when the first chunk is asked for: both steps are watched by the guard.
    """
    with own():  # the router's own sends (strict mode lets them out)
        if call.api == "messages":
            return await anthropic.open_stream(call, raw=call.raw)
        if call.api == "responses":
            return await openai_responses.open_stream(call, raw=call.raw)
        if _lean(call):
            return await lean.open_stream(call, raw=call.raw, parsed=call.chunks)
        stream = await _acompletion(_arguments(call) | {"stream": True}, call)
        _unobserved(stream)
        with watching(call.check):
            first = await _first_chunk(stream, call)
        return _chunks(first, stream, call.target)


async def _acompletion(arguments: dict[str, Any], call: UpstreamCall) -> Any:
    """``litellm.acompletion`` marked as litellm's own internal call, errors translated.

    An internal call skips litellm's success and failure logging (a task per call that
    builds a logging payload for callbacks we never register), about a third of its CPU.
    """
    litellm = _module()
    shield(litellm)
    internal = litellm._internal_context.is_internal_call
    token = internal.set(True)
    try:
        with watching(call.check), hidden_from_callbacks():
            return await litellm.acompletion(**arguments)
    except _caught() as exc:
        raise _our_error(exc, call) from exc
    finally:
        internal.reset(token)


def _caught() -> tuple[type[BaseException], ...]:
    return (*_translated(), IdentifierOnWire)


def _our_error(exc: BaseException, call: UpstreamCall) -> RouterError:
    """The guard's refusal if it refused (whatever litellm made of it), else the translation."""
    if call.check.found is not None:
        return IdentifierInRequest(call.check.found)
    return translate(exc, call.target)


def _unobserved(stream: Any) -> None:
    """No success or failure logging for this stream: the host's callbacks never see it.

    The internal-call mark skips litellm's logging for a JSON answer but not for a stream:
    there, litellm still builds a logging payload per chunk and at the end, and hands it to
    every callback the application registered with litellm. The router's calls are recorded
    by its audit log; an application's callbacks see the application's own calls only. Only
    this call's logging object is touched.
    """
    logging_obj = getattr(stream, "logging_obj", None)
    if logging_obj is None:
        return
    for name in ("dispatch_success_handlers", "async_success_handler", "async_failure_handler"):
        setattr(logging_obj, name, _no_logging)
    for name in ("success_handler", "failure_handler"):
        setattr(logging_obj, name, _no_sync_logging)


async def _no_logging(*_args: object, **_kwargs: object) -> None:
    return None


def _no_sync_logging(*_args: object, **_kwargs: object) -> None:
    return None


async def _next(stream: Any) -> Any:
    with own(), hidden_from_callbacks():
        return await anext(stream)


async def _first_chunk(stream: Any, call: UpstreamCall) -> Any:
    target = call.target
    try:
        return await _next(stream)
    except StopAsyncIteration:
        await stream.aclose()
        raise UpstreamFailure(
            f"{target.prefix}: server: the stream ended before its first chunk",
            kind=FailureKind.SERVER,
            status_code=None,
            provider=target.prefix,
        ) from None
    except _caught() as exc:
        await stream.aclose()
        raise _our_error(exc, call) from exc
    except asyncio.CancelledError:  # the caller's deadline passed while waiting for it
        await stream.aclose()
        raise


async def _chunks(first: Any, stream: Any, target: Target) -> AsyncIterator[Any]:
    try:
        yield first
        while True:
            try:
                chunk = await _next(stream)
            except StopAsyncIteration:
                return
            yield chunk
    except _translated() as exc:
        raise translate(exc, target) from exc
    finally:
        await stream.aclose()


def _arguments(call: UpstreamCall) -> dict[str, Any]:
    """litellm's keyword arguments for ``call``: the caller's, then the router's own settings.

    The router has already refused anything outside the accepted surface; this refuses it
    again, so that no path around the router's check can hand litellm an argument unseen.
    """
    _refuse_unknown(call)
    target = call.target
    arguments = dict(call.arguments)
    arguments.update(
        model=target.model,
        custom_llm_provider=target.prefix,
        stream=False,
        timeout=call.timeout,
        num_retries=0,
        max_retries=0,
        drop_params=True,
        caching=False,  # an application's litellm.cache neither answers nor keeps a routed call
        cache={"no-cache": True, "no-store": True},
    )
    arguments.update(_prefix_arguments(target.prefix))
    if call.offline_text is not None:
        arguments["mock_response"] = call.offline_text
    elif call.api_base is not None:
        arguments["api_base"] = call.api_base
    return arguments


def _refuse_unknown(call: UpstreamCall) -> None:
    unknown = sorted(call.arguments.keys() - FORWARDED)
    if unknown:
        raise RequestRejected(
            f"{', '.join(map(repr, unknown))}: not an argument the router forwards; "
            "remove it from the call",
            status_code=400,
        )


def _prefix_arguments(prefix: str) -> dict[str, Any]:
    """Per-provider corrections of litellm's behaviour, fresh on each call (litellm mutates)."""
    if prefix in STORES_BY_DEFAULT:
        # OpenAI's Responses API (litellm's bridge for o3 pro and GPT 5 Codex) keeps every
        # response unless told not to; chat completions take the same field.
        return {"store": False}
    if prefix == "deepinfra":
        # litellm drops max_retries=0 for DeepInfra (not among its supported params), and the
        # openai SDK client it then builds retries twice by itself; this lets the param through.
        return {"allowed_openai_params": ["max_retries"]}
    return {}


def annotate(response: Any, where: Mapping[str, Any], *, add: bool = True) -> None:
    """Say where a response came from, where litellm's callers look: ``_hidden_params``.

    ``add=False`` only fills in a ``_hidden_params`` the object has (litellm's chunks do)."""
    if isinstance(response, bytes | lean.Raw | lean.Events | lean.Chunks | dict):
        return  # relayed as the upstream sent it (a Messages answer: a dict); headers say where
    hidden = getattr(response, "_hidden_params", None)
    if isinstance(hidden, dict):
        hidden["policy_router"] = dict(where)
    elif add:
        response._hidden_params = {"policy_router": dict(where)}
