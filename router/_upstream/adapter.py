"""The litellm adapter: forwards one already-scrubbed call to one route's backend.

Retries are never litellm's: each call is one attempt, and failover is the caller's. Each
call runs as one of litellm's "internal" calls, which skips its per-call logging work.
Where litellm's behaviour differs per provider, the wire tests (tests/upstream/test_wire.py) say so.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any, Final

from router._errors import FailureKind, RequestRejected, UpstreamFailure
from router._upstream.deployment import Target
from router._upstream.errors import _translated, translate
from router._upstream.setup import _CALLBACK_LISTS, _module

# Arguments this adapter sets on every call; a caller's value for one of them is replaced.
_OWNED: Final = frozenset(
    {
        "model",
        "custom_llm_provider",
        "stream",
        "timeout",
        "api_base",
        "num_retries",
        "max_retries",
        "drop_params",
        "mock_response",
    }
)
# Arguments that would send the request elsewhere or hand it to an observer.
REFUSED: Final = frozenset(
    {
        "api_key",
        "base_url",
        "callbacks",
        "success_callback",
        "failure_callback",
        "logger_fn",
        "litellm_logging_obj",
    }
)


async def complete(
    target: Target,
    kwargs: Mapping[str, Any],
    *,
    api_base: str | None,
    timeout: float,  # noqa: ASYNC109 (litellm's per-request httpx timeout, not a wait of ours)
    offline: bool,
    offline_text: str,
) -> Any:
    """One non-streaming call to ``target``; returns litellm's ``ModelResponse``.

    ``kwargs`` are scrubbed OpenAI-style arguments without ``model``. Offline, litellm
    answers ``offline_text`` itself: no network, no credentials.
    """
    call = _arguments(target, kwargs, api_base, timeout, offline_text if offline else None)
    return await _acompletion(call, target)


async def open_stream(
    target: Target,
    kwargs: Mapping[str, Any],
    *,
    api_base: str | None,
    timeout: float,  # noqa: ASYNC109 (litellm's per-request httpx timeout, not a wait of ours)
    offline: bool,
    offline_text: str,
) -> AsyncIterator[Any]:
    """Start a streaming call; return its chunks once the first one has arrived.

    A failure before the first chunk raises from here, so the caller can still fail over;
    a failure after it raises, translated, from the iteration.
    """
    call = _arguments(target, kwargs, api_base, timeout, offline_text if offline else None)
    stream = await _acompletion(call | {"stream": True}, target)
    _unobserved(stream)
    first = await _first_chunk(stream, target)
    return _chunks(first, stream, target)


async def _acompletion(call: dict[str, Any], target: Target) -> Any:
    """``litellm.acompletion`` marked as litellm's own internal call, errors translated.

    An internal call skips litellm's success and failure logging (a task per call that
    builds a logging payload for callbacks we never register), about a third of its CPU.
    """
    litellm = _module()
    internal = litellm._internal_context.is_internal_call
    token = internal.set(True)
    try:
        return await litellm.acompletion(**call)
    except _translated() as exc:
        raise translate(exc, target) from exc
    finally:
        internal.reset(token)


def _unobserved(stream: Any) -> None:
    """Skip the success logging litellm runs at the end of a stream when nothing would see it.

    The internal-call mark skips it for a JSON answer but not for a stream: there, litellm
    still builds a logging payload, deep-copies it to redact messages and hands it to no one
    (measured: about a tenth of a streamed call's CPU). Only this call's logging object is
    touched, and only while no callback and no cache is registered with litellm: an
    application that registers one gets litellm's logging, redacted, as before.
    """
    litellm = _module()
    if litellm.cache is not None or any(getattr(litellm, name) for name in _CALLBACK_LISTS):
        return
    logging_obj = getattr(stream, "logging_obj", None)
    if logging_obj is not None:
        logging_obj.dispatch_success_handlers = _no_success_logging


async def _no_success_logging(*_args: object, **_kwargs: object) -> None:
    return None


async def _first_chunk(stream: Any, target: Target) -> Any:
    try:
        return await anext(stream)
    except StopAsyncIteration:
        await stream.aclose()
        raise UpstreamFailure(
            f"{target.prefix}: server: the stream ended before its first chunk",
            kind=FailureKind.SERVER,
            status_code=None,
            provider=target.prefix,
        ) from None
    except _translated() as exc:
        await stream.aclose()
        raise translate(exc, target) from exc


async def _chunks(first: Any, stream: Any, target: Target) -> AsyncIterator[Any]:
    try:
        yield first
        async for chunk in stream:
            yield chunk
    except _translated() as exc:
        raise translate(exc, target) from exc
    finally:
        await stream.aclose()


def _arguments(
    target: Target,
    kwargs: Mapping[str, Any],
    api_base: str | None,
    timeout: float,
    mock_response: str | None,
) -> dict[str, Any]:
    refused = sorted(REFUSED & kwargs.keys())
    if refused:
        raise RequestRejected(
            f"{', '.join(map(repr, refused))}: set by the router's deployment, not by a request; "
            "remove it from the call",
            status_code=400,
        )
    call = {key: value for key, value in kwargs.items() if key not in _OWNED}
    if isinstance(call.get("metadata"), Mapping):
        call["metadata"] = dict(call["metadata"])  # litellm adds keys to the dict it is given
    call.update(
        model=target.model,
        custom_llm_provider=target.prefix,
        stream=False,
        timeout=timeout,
        num_retries=0,
        max_retries=0,
        drop_params=True,
    )
    call.update(_prefix_arguments(target.prefix))
    if mock_response is not None:
        call["mock_response"] = mock_response
    elif api_base is not None:
        call["api_base"] = api_base
    return call


def _prefix_arguments(prefix: str) -> dict[str, Any]:
    """Per-provider corrections of litellm's behaviour, fresh on each call (litellm mutates)."""
    if prefix == "deepinfra":
        # litellm drops max_retries=0 for DeepInfra (not among its supported params), and the
        # openai SDK client it then builds retries twice by itself; this lets the param through.
        return {"allowed_openai_params": ["max_retries"]}
    return {}
