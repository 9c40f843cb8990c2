"""The shell shared by the clients of requests sent as they came (Anthropic's Messages API,
router/_upstream/anthropic.py; OpenAI's Responses API, router/_upstream/openai_responses.py):
one request as built, sent through the chat lean path's ``send`` (the invariant on its bytes,
counted), its answer as ``lean.Raw`` or a JSON object, its stream as SSE bytes or one JSON
object per event, a failure event of the API's own naming the stream's failure. Errors map as
on the chat lean path (router/_upstream/errors.py)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from collections.abc import Set as AbstractSet
from typing import TYPE_CHECKING, Any

import orjson

from router._errors import RequestRejected, RouterError
from router._upstream import lean, sse

if TYPE_CHECKING:
    from router._upstream.adapter import UpstreamCall

Request = tuple[str, dict[str, str], bytes]  # URL, headers, body
Failed = Callable[[sse.Event, str], RouterError | None]  # an event's failure, if it is one


class Relayed(lean.Events):
    """A raw stream's item, where asked (``batched``): the events one upstream read completed,
    each encoded as it came (``event:`` and ``data:``), in order; relayed together, in one
    write, as the chat lean path's ``Events`` are (and counted per event, as they are)."""

    __slots__ = ()


def forwarded_only(arguments: Mapping[str, Any], forwarded: AbstractSet[str], api: str) -> None:
    """Refuse, unsent, a field that is not one the router forwards in ``api``'s requests (the
    surface check let nothing else through; a second line)."""
    unknown = sorted(arguments.keys() - forwarded)
    if unknown:
        raise RequestRejected(
            f"{', '.join(map(repr, unknown))}: not a {api} field the router forwards; "
            "remove it from the call",
            status_code=400,
        )


async def complete(call: UpstreamCall, request: Request, *, raw: bool, holds: str) -> Any:
    """One non-streaming call: ``lean.Raw`` if ``raw``, else the answer as a dict, whose
    ``holds`` field must be a list."""
    prefix = call.target.prefix
    opened = await lean.send(call, *request)
    data = await lean.body_of(opened, prefix)
    if raw:
        return lean.Raw(data, opened.content_type or "application/json")
    answer = json_object(data, prefix, "the answer")
    if not isinstance(answer.get(holds), list):
        raise lean.bad_response(prefix, f"the answer has no {holds}")
    return answer


async def open_stream(
    call: UpstreamCall, request: Request, *, raw: bool, failed: Failed, batched: bool = False
) -> AsyncIterator[Any]:
    """Start a streamed call; return its events once the first has arrived: each as SSE bytes
    (``event:`` and ``data:``, as sent) with ``raw`` (with ``batched``, the events of each
    upstream read together, as ``Relayed``), else its data as a dict. A failure before the
    first event raises from here, so the caller can still fail over."""
    prefix = call.target.prefix
    opened = await lean.send(call, *request)
    if opened.status >= 300:
        raise await lean.failure(opened, prefix)
    events = _events(opened, prefix, raw=raw, failed=failed, batched=raw and batched)
    return await lean.started(events, prefix)


async def _events(
    opened: lean.Opened, prefix: str, *, raw: bool, failed: Failed, batched: bool
) -> AsyncGenerator[Any]:
    """The stream's events; a failure event raises, after the events of its read before it
    (``batched``: as one item)."""
    decoder = sse.Decoder()
    try:
        try:
            async for piece in opened.pieces():
                read: list[bytes] = []
                for event in decoder.feed(piece):
                    failure = failed(event, prefix)
                    if failure is not None:
                        if read:
                            yield Relayed(read)
                        raise failure
                    if batched:
                        read.append(sse.encode(event.data, event.event))
                    elif raw:
                        yield sse.encode(event.data, event.event)
                    else:
                        yield json_object(event.data, prefix, "a streamed event")
                if read:
                    yield Relayed(read)
        except RouterError:
            raise
        except Exception as exc:
            raise lean.transport_failure(exc, prefix) from exc
    finally:
        await opened.close()


def json_object(data: bytes, prefix: str, what: str) -> dict[str, Any]:
    """``data`` as a JSON object; else the upstream's bad response."""
    try:
        parsed = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise lean.bad_response(prefix, f"{what} is not JSON") from None
    if not isinstance(parsed, dict):
        raise lean.bad_response(prefix, f"{what} is not a JSON object")
    return parsed


def parsed(data: bytes) -> Any:
    """An event's data as JSON, or None if it is not."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
