"""The lean path: OpenAI-format providers reached without litellm, the scrubbed body sent as it is.

For the providers that speak OpenAI's chat format, what litellm did is done here, explicitly,
from one table (``PROVIDERS``): the URL and auth header, the parameter renames a provider
requires (``max_completion_tokens`` for OpenAI's reasoning models), ``store: false`` where the
provider keeps completions by default. Nothing is dropped: a parameter the provider does not
take reaches it, and its 400 is reported as the request's refusal. ``metadata`` is the caller's
label, which litellm never sends to these providers; neither does this path.

The client is pooled per event loop: the router's own HTTP/1.1 client on httptools
(``transport = "httptools"``, router/_upstream/wire.py; aiohttp where httptools is not
installed), aiohttp (``transport = "aiohttp"``), or httpx (``transport = "httpx"``, so respx
and other httpx-level tools see every call). Before it is sent, the request is counted and
checked by the same identifier invariant as litellm's requests (router/_core/invariant.py,
through the attempt's WireCheck); on httptools, on every header line it writes.

Answers are litellm's types (``ModelResponse``, ``ModelResponseStream``) for the library; a
caller that relays bytes (the proxy's hot endpoint, ``route``) asks for ``Raw`` answers and gets
the upstream's JSON body untouched, and a stream's events' data as ``Events``: the events one
upstream read completed, together, so that the caller can relay them in one write; it never
needs litellm. Offline, the answer is made here (router/_upstream/offline.py) after the same
checks, and nothing is sent.
"""

from __future__ import annotations

import asyncio
import functools
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal, cast

import orjson

from router._core.invariant import find_on_wire
from router._errors import FailureKind, IdentifierInRequest, RouterError, UpstreamFailure
from router._upstream import offline, sse
from router._upstream.errors import failure_for_status, redacted_env
from router._upstream.providers import (
    _REASONING,
    PROVIDERS,
)

if TYPE_CHECKING:
    from router._upstream.adapter import UpstreamCall

Transport = Literal["httpx", "aiohttp", "httptools"]
_Mode = Literal["litellm", "raw", "parsed"]  # what a stream's items are (``open_stream``)
_DETAIL_LIMIT: Final = 300


@dataclass(frozen=True, slots=True)
class Raw:
    """An upstream's answer as bytes, for a caller that relays it."""

    body: bytes
    content_type: str = "application/json"


class Events(tuple[bytes, ...]):
    """A raw stream's item: the data of each SSE event one upstream read completed, in order."""

    __slots__ = ()


class EventsEnded(Events):
    """The last ``Events`` of a stream: ``[DONE]`` came in the same read (a plain Responses
    stream renders its closing events with them, in the same write)."""

    __slots__ = ()


class Chunks(tuple[dict[str, Any], ...]):
    """A parsed stream's item: the JSON object of each chunk one upstream read completed, in
    order (a plain Messages stream, rendered without litellm: router/_upstream/messages_stream.py)."""

    __slots__ = ()


class Ended(Chunks):
    """The last ``Chunks`` of a stream: ``[DONE]`` came in the same read (the stream's next
    step ends it, without waiting for the upstream)."""

    __slots__ = ()


# --- the request -----------------------------------------------------------------------------


def build(call: UpstreamCall, *, stream: bool) -> tuple[str, dict[str, str], bytes]:
    """The URL, headers and body this call sends."""
    target = call.target
    provider = PROVIDERS[target.prefix]
    model = target.model.split("/", 1)[1]
    name, value = provider.auth(target.prefix)
    headers = {"Content-Type": "application/json", name: value}
    url = provider.url(target.prefix, model, call.api_base)
    return url, headers, orjson.dumps(request_body(call, stream=stream))


def request_body(call: UpstreamCall, *, stream: bool) -> dict[str, Any]:
    """The JSON body this call sends (no credentials or endpoint needed to make it)."""
    provider = PROVIDERS[call.target.prefix]
    model = call.target.model.split("/", 1)[1]
    body: dict[str, Any] = {"model": model}
    body.update((k, v) for k, v in call.arguments.items() if k != "metadata")
    renames = provider.renames_reasoning and _REASONING.match(model)
    if renames and "max_tokens" in body and "max_completion_tokens" not in body:
        body["max_completion_tokens"] = body.pop("max_tokens")
    if provider.stores:
        body["store"] = False
    if stream:
        body["stream"] = True
    else:
        body.pop("stream", None)
    return body


def _checked(
    call: UpstreamCall, url: str, headers: dict[str, str] | list[tuple[str, str]], body: bytes
) -> None:
    """Count the send and refuse it, unsent, if the raw user id is outside content."""
    check = call.check
    check.sends += 1
    if check.identity is None:
        return
    lines = headers if isinstance(headers, list) else list(headers.items())
    found = find_on_wire(url, lines, body, check.identity, check.made_content)
    if found is not None:
        check.found = found
        raise IdentifierInRequest(found)


# --- the clients -------------------------------------------------------------------------------


class Clients:
    """The pooled clients of one router: one per event loop (a client belongs to the loop it
    was made on), made on first use with the router's ``transport`` (its settings'), closed
    by ``aclose`` (``PolicyRouter.aclose``), so a host that closes its router leaves no open
    session or connection behind."""

    def __init__(self, transport: Transport) -> None:
        self.transport: Final = transport
        self._by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = (
            weakref.WeakKeyDictionary()
        )

    def get(self) -> tuple[Transport, Any]:
        """This loop's client, made anew if it was closed."""
        loop = asyncio.get_running_loop()
        client = self._by_loop.get(loop)
        kind = self.transport
        if client is None or _closed(client):
            client = _new_client(kind)
            self._by_loop[loop] = client
        return client

    async def aclose(self) -> None:
        """Close this loop's client, if there is one (a later call opens a new one)."""
        client = self._by_loop.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await (client[1].aclose() if client[0] == "httpx" else client[1].close())


# The clients of calls that name none: an UpstreamCall made outside a router (tests and bench
# tools). httpx, which respx sees; a router's calls take its settings' transport.
_SHARED: Final = Clients("httpx")


def _closed(client: tuple[str, Any]) -> bool:
    return bool(client[1].is_closed if client[0] == "httpx" else client[1].closed)


def _new_client(kind: Transport) -> tuple[Transport, Any]:
    """A pooled client that keeps no cookies: nothing a provider sets on one user's call is
    sent with the next (and aiohttp skips its cookie work per request; the router's own
    client, router/_upstream/wire.py, has none). ``httptools`` without httptools installed
    (a library install without the server's dependencies) is aiohttp.

    httpx's gets router/_upstream/keepalive.py's transport and pool, as litellm's clients do:
    a stream ends at ``[DONE]``, before the chunked body's last line, and httpcore's own
    transport closes such a connection (a new connection, and a TLS handshake, per stream)."""
    if kind == "httpx":
        from http.cookiejar import CookieJar, DefaultCookiePolicy

        import httpx

        from router._upstream.keepalive import keep_alive

        limits = httpx.Limits(max_connections=1000, max_keepalive_connections=1000)
        jar = CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))
        return kind, keep_alive(httpx.AsyncClient(limits=limits, timeout=60.0, cookies=jar))
    if kind == "httptools":
        try:
            from router._upstream import wire
        except ImportError:
            kind = "aiohttp"
        else:
            return kind, wire.Client()
    import aiohttp

    connector = aiohttp.TCPConnector(limit=1000, ttl_dns_cache=300)
    return kind, aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar())


@functools.lru_cache(maxsize=64)
def _aiohttp_timeout(seconds: float) -> Any:
    import aiohttp

    return aiohttp.ClientTimeout(total=None, sock_connect=seconds, sock_read=seconds)


async def aclose() -> None:
    """Close this loop's client of calls that name none, if there is one."""
    await _SHARED.aclose()


class Opened:
    """A response whose status is known and whose body is still to be read."""

    def __init__(self, kind: str, response: Any) -> None:
        self.kind = kind
        self.response = response
        self.status: int = response.status_code if kind == "httpx" else response.status
        self.content_type: str = response.headers.get("content-type", "")

    async def read(self) -> bytes:
        if self.kind == "httptools":
            return cast(bytes, await self.response.read())
        if self.kind == "aiohttp":
            return bytes(await self.response.read())
        return bytes(await self.response.aread())

    def pieces(self) -> AsyncIterator[bytes]:
        """The body's bytes as they arrive (what each read of the connection brought)."""
        if self.kind == "httptools":
            return cast(AsyncIterator[bytes], self.response.pieces())
        if self.kind == "aiohttp":
            return cast(AsyncIterator[bytes], self.response.content.iter_any())
        return cast(AsyncIterator[bytes], self.response.aiter_bytes())

    async def close(self) -> None:
        if self.kind == "httpx":
            await self.response.aclose()
        else:
            self.response.close() if self.kind == "httptools" else self.response.release()


async def _open(call: UpstreamCall, *, stream: bool) -> Opened:
    return await send(call, *build(call, stream=stream))


async def send(call: UpstreamCall, url: str, headers: dict[str, str], body: bytes) -> Opened:
    """Check the request (the invariant, counted), send it, and return the opened answer."""
    kind, client = (call.clients or _SHARED).get()
    if kind == "httptools":
        return await _send_own(call, client, url, headers, body)
    _checked(call, url, headers, body)
    prefix = call.target.prefix
    try:
        if kind == "aiohttp":
            timeout = _aiohttp_timeout(call.timeout)
            response = await client.post(url, data=body, headers=headers, timeout=timeout)
        else:
            request = client.build_request("POST", url, content=body, headers=headers,
                                           timeout=call.timeout)  # fmt: skip
            response = await client.send(request, stream=True)
    except Exception as exc:
        raise transport_failure(exc, prefix) from exc
    return Opened(kind, response)


async def _send_own(
    call: UpstreamCall, client: Any, url: str, headers: dict[str, str], body: bytes
) -> Opened:
    """``send`` on the router's own client: the invariant checks every header line it writes;
    an answer in a content-encoding it did not ask for is a bad response."""
    from router._upstream import wire

    prefix = call.target.prefix
    try:
        request = wire.Request(url, headers, body)
    except ValueError as exc:
        _checked(call, url, headers, body)  # counted, as a send the other clients refuse
        raise transport_failure(exc, prefix) from exc
    _checked(call, url, request.headers, body)
    try:
        response = await client.send(request, call.timeout)
    except Exception as exc:
        raise transport_failure(exc, prefix) from exc
    if response.headers.get("content-encoding", "identity") not in ("identity", "gzip"):
        response.close()
        raise bad_response(prefix, "the answer's content-encoding was not asked for")
    return Opened("httptools", response)


def transport_failure(exc: BaseException, prefix: str) -> RouterError:
    """TIMEOUT or CONNECTION for a failure of either client library; others as they are."""
    if isinstance(exc, RouterError):
        return exc
    kind = FailureKind.TIMEOUT if _is_timeout(exc) else FailureKind.CONNECTION
    detail = redacted_env(f"{type(exc).__name__}: {exc}")[:_DETAIL_LIMIT]
    return UpstreamFailure(
        f"{prefix}: {kind}: {detail}", kind=kind, status_code=None, provider=prefix
    )


def _is_timeout(exc: BaseException) -> bool:
    name = type(exc).__name__
    return isinstance(exc, TimeoutError) or "Timeout" in name


async def failure(opened: Opened, prefix: str) -> RouterError:
    """The error for a non-2xx answer: its status decides, the provider's message explains."""
    try:
        data = await opened.read()
    except Exception:  # noqa: BLE001  the body of an error is a courtesy: its status says enough
        data = b""
    finally:
        await opened.close()
    detail = error_detail(data, opened.status)
    return failure_for_status(opened.status, detail, prefix, opened.response.headers)


def error_detail(data: bytes, status: int) -> str:
    try:
        parsed = orjson.loads(data)
    except orjson.JSONDecodeError:
        parsed = None
    message: Any = None
    if isinstance(parsed, dict):
        error = parsed.get("error", parsed)
        message = error.get("message") if isinstance(error, dict) else error
    text = str(message) if message else data.decode("utf-8", "replace").strip()
    text = redacted_env(text.splitlines()[0] if text else f"HTTP {status}")
    return text if len(text) <= _DETAIL_LIMIT else text[: _DETAIL_LIMIT - 1] + "…"


def bad_response(prefix: str, what: str) -> UpstreamFailure:
    kind = FailureKind.BAD_RESPONSE
    return UpstreamFailure(f"{prefix}: {kind}: {what}", kind=kind, status_code=None,
                           provider=prefix)  # fmt: skip


# --- the calls -----------------------------------------------------------------------------


async def complete(call: UpstreamCall, *, raw: bool = False, parsed: bool = False) -> Any:
    """One non-streaming call: litellm's ``ModelResponse``, or ``Raw`` bytes if ``raw``, or
    the answer's JSON object (checked as for litellm's type) if ``parsed`` (which wins)."""
    prefix = call.target.prefix
    if call.offline_text is not None:
        data = offline.completion(request_body(call, stream=False), call.check, call.offline_text)
        content_type = "application/json"
    else:
        opened = await _open(call, stream=False)
        data, content_type = await body_of(opened, prefix), opened.content_type
    if raw and not parsed:
        return Raw(data, content_type or "application/json")
    try:
        answer = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise bad_response(prefix, "the answer is not JSON") from None
    if not isinstance(answer, dict) or not isinstance(answer.get("choices"), list):
        raise bad_response(prefix, "the answer has no choices")
    if parsed:
        return answer
    from router._upstream.loader import litellm_module as _module

    return _module().ModelResponse(**answer)


async def open_stream(
    call: UpstreamCall, *, raw: bool = False, parsed: bool = False
) -> AsyncIterator[Any]:
    """Start a streamed call; return its chunks once the first has arrived.

    Chunks are litellm's ``ModelResponseStream``, or with ``raw`` ``Events``: the data of
    the events each upstream read completed, as the upstream sent them (the stream ends at
    ``[DONE]``, which is not among them; the read that brought it is ``EventsEnded``), or
    with ``parsed`` ``Chunks``: those events' JSON objects, checked as for litellm's type
    (an error event raises). A failure before the first chunk raises from here, so the
    caller can still fail over; after it, from the iteration. The ``Events`` of a call the
    router renders (``call.parsed``: a plain Responses stream) are checked as litellm's
    chunks are: an error object is the stream's failure.
    """
    prefix = call.target.prefix
    mode: _Mode = "raw" if raw else "parsed" if parsed else "litellm"
    if call.offline_text is not None:
        payloads = offline.chunks(request_body(call, stream=True), call.check, call.offline_text)
        return await started(_offline_events(payloads, prefix, mode), prefix)
    opened = await _open(call, stream=True)
    if opened.status >= 300:
        raise await failure(opened, prefix)
    if mode == "raw":
        tally = Tally()
        events = _raw_events(opened, prefix, tally, checked=call.parsed)
        return await started(events, prefix, tally)
    return await started(_events(opened, prefix, mode, checked=call.parsed), prefix)


async def body_of(opened: Opened, prefix: str) -> bytes:
    """The body of a 2xx answer; a non-2xx one raises its failure."""
    if opened.status >= 300:
        raise await failure(opened, prefix)
    try:
        return await opened.read()
    except Exception as exc:
        raise transport_failure(exc, prefix) from exc
    finally:
        await opened.close()


async def started(events: AsyncGenerator[Any], prefix: str, tally: Tally | None = None) -> Started:
    """``events`` once its first item has arrived (a failure before it raises from here, so
    the caller can still fail over); closed if none comes. ``tally``: the one ``events``
    keeps, if it keeps one (``Started.tally``)."""
    try:
        first = await anext(events)
    except StopAsyncIteration:
        raise UpstreamFailure(
            f"{prefix}: server: the stream ended before its first chunk",
            kind=FailureKind.SERVER,
            status_code=None,
            provider=prefix,
        ) from None
    except BaseException:
        await events.aclose()
        raise
    return Started(first, events, tally)


class Started:
    """A stream whose first item is in hand: that item, then the rest of ``events``.

    No layer of its own per item: ``__anext__`` hands out the generator's own awaitable (the
    first item's is a future already done), so an item costs what the generator's does.
    ``events`` ends as a generator does: it closes what it holds when it is read to its end,
    fails, or is closed (``aclose``: a reader that stops early).

    With a ``tally`` (a raw stream's, ``_raw_events``), ``events`` hands its first item out
    again itself, and counts the events it hands out (``handed``): iterated, this is
    ``events`` itself (``__aiter__``), with no call of this class per item."""

    __slots__ = ("_events", "_first", "tally")

    def __init__(self, first: Any, events: AsyncGenerator[Any], tally: Tally | None = None) -> None:
        self._first: asyncio.Future[Any] | None = None
        if tally is None:
            ready: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            ready.set_result(first)
            self._first = ready
        self._events = events
        self.tally = tally

    def handed(self) -> int:
        """The events handed out so far: a raw stream's tally (0 for others)."""
        return 0 if self.tally is None else self.tally.events

    def __aiter__(self) -> AsyncIterator[Any]:
        return self if self.tally is None else self._events

    def __anext__(self) -> Awaitable[Any]:
        first = self._first
        if first is None:
            return self._events.__anext__()
        self._first = None
        return first

    async def aclose(self) -> None:
        self._first = None
        await self._events.aclose()


def _as_it_ended(error: BaseException | None) -> BaseException | None:
    return error


class Tally:
    """What a raw stream tells its reader without a layer of its own per read: the events it
    has yielded (``events``), and how it ended: ``ended`` is called once, with None when the
    stream was read to its end, else with what ends it (an upstream's failure, a
    cancellation, a close), and returns the error the stream raises instead, if it fails
    (router/_pipeline/failover.py's ``RoutedStream`` records the attempt there). Until a
    reader sets it, the stream ends as it would anyway."""

    __slots__ = ("ended", "events")

    def __init__(self) -> None:
        self.events = 0
        self.ended: Callable[[BaseException | None], BaseException | None] = _as_it_ended


async def _raw_events(
    opened: Opened, prefix: str, tally: Tally, *, checked: bool
) -> AsyncGenerator[Events]:
    """``_events``' raw ``Events``, one item per upstream read up to ``[DONE]`` (``checked``:
    an error object among them raises), counted in ``tally`` as they are handed out, which
    hears how the stream ended. The first item comes twice: to ``started`` (the stream has
    begun), then to the reader. The relay's one layer per read: a raw stream's reader adds
    none of its own (``Started`` and router/_pipeline/failover.py's ``RoutedStream`` hand
    out this generator itself)."""
    decoder = sse.Decoder()
    beginning = True
    try:
        try:
            async for piece in opened.pieces():
                data = decoder.data(piece)
                done = b"[DONE]" in data  # as _up_to_done, without a call per read
                if done:
                    data = data[: data.index(b"[DONE]")]
                if checked:
                    _check_errors(data, prefix)
                if data:
                    events = EventsEnded(data) if done else Events(data)
                    if beginning:  # to ``started``; then to the reader, counted
                        beginning = False
                        yield events
                    tally.events += len(data)
                    yield events
                if done:
                    break
        except RouterError as exc:
            raise cast(BaseException, tally.ended(exc)) from exc.__cause__
        except Exception as exc:
            raise cast(BaseException, tally.ended(transport_failure(exc, prefix))) from exc
        except BaseException as exc:  # cancelled, or closed (GeneratorExit): as it came
            tally.ended(exc)
            raise
        tally.ended(None)
    finally:
        await opened.close()


async def _events(
    opened: Opened, prefix: str, mode: _Mode, *, checked: bool = False
) -> AsyncGenerator[Any]:
    """The stream's data events up to ``[DONE]``: litellm's chunks, or the ``Chunks``
    (``parsed``) of each upstream read (raw ``Events``: ``_raw_events``). Parsed as the whole
    SSE format (router/_upstream/sse.py)."""
    chunk_type: Any = _chunk_type() if mode == "litellm" else None
    decoder = sse.Decoder()
    try:
        try:
            async for piece in opened.pieces():
                events = decoder.feed(piece)
                if mode != "litellm":
                    data, done = _up_to_done([e.data for e in events])
                    chunks, error = _parsed(data, prefix)
                    if chunks:
                        yield Ended(chunks) if done and error is None else chunks
                    if error is not None:
                        raise error
                    if done:
                        return
                    continue
                for event in events:
                    if event.data == b"[DONE]":
                        return
                    yield chunk_type(**_chunk(event.data, prefix))
        except RouterError:
            raise
        except Exception as exc:
            raise transport_failure(exc, prefix) from exc
    finally:
        await opened.close()


def _up_to_done(data: list[bytes]) -> tuple[list[bytes], bool]:
    """The data of one read's events up to ``[DONE]``, and whether it came."""
    if b"[DONE]" in data:
        return data[: data.index(b"[DONE]")], True
    return data, False


def _parsed(data: list[bytes], prefix: str) -> tuple[Chunks, RouterError | None]:
    """The ``Chunks`` of one read's events, up to an error event's failure (raised after the
    chunks before it, as litellm's chunks come: one by one)."""
    chunks: list[dict[str, Any]] = []
    for payload in data:
        try:
            chunks.append(_chunk(payload, prefix))
        except RouterError as exc:
            return Chunks(chunks), exc
    return Chunks(chunks), None


def _check_errors(data: list[bytes], prefix: str) -> None:
    """Raise the upstream's failure if one of a raw read's events is an error object."""
    for payload in data:
        if b'"error"' in payload:
            _chunk(payload, prefix)


async def _offline_events(payloads: list[bytes], prefix: str, mode: _Mode) -> AsyncGenerator[Any]:
    """The offline answer's events, as ``_events`` gives an upstream's."""
    if mode == "raw":
        yield EventsEnded(payloads)  # as if one upstream read had brought them all
        return
    if mode == "parsed":
        yield Ended(_parsed(payloads, prefix)[0])  # the router's own answer: no error event
        return
    chunk_type = _chunk_type()
    for payload in payloads:
        yield chunk_type(**_chunk(payload, prefix))


def _chunk(payload: bytes, prefix: str) -> dict[str, Any]:
    """A streamed event's JSON object; an error event raises the upstream's failure."""
    try:
        parsed = orjson.loads(payload)
    except orjson.JSONDecodeError:
        raise bad_response(prefix, "a streamed event is not JSON") from None
    if not isinstance(parsed, dict):
        raise bad_response(prefix, "a streamed event is not a JSON object")
    if "error" in parsed and "choices" not in parsed:
        raise failure_for_status(500, error_detail(payload, 500), prefix)
    return parsed


def _chunk_type() -> Any:
    from router._upstream.loader import litellm_module as _module

    return _module().types.utils.ModelResponseStream
