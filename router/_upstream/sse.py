"""Server-sent events, both ways: the parser of an upstream's stream, the encoder of the
proxy's, and the relay that closes the source it streams from.

- ``Decoder`` reads the whole format as the HTML standard defines it: ``event:``, ``data:``
  over several lines (joined by ``\\n``), ``id:`` (one without NUL), ``retry:`` (digits only),
  comments (``:``), a field without a colon, one space after the colon dropped, and lines
  ending in LF, CRLF or a lone CR, also when a CR and its LF arrive in separate pieces. It
  takes bytes as they arrive, from either client library, and yields ``Event``s.
- ``encode`` writes one event (``event:`` if named, one ``data:`` line per line of data);
  ``json_event`` one whose data is a JSON value.
- ``relay`` yields a stream's items rendered as events, ends it with the API's error event
  if the stream fails after its head was sent, and closes the source however the response
  ends (a client gone mid-stream included), shielded from the cancellation that ends it, so
  the attempt's audit record is written. ``Relay`` is the same as a value, for a server that
  runs that loop itself.

The headers of every SSE response are ``HEADERS`` (no cache, no proxy buffering).

Substrings of bytes are looked for with ``find``, not ``in``: on Python 3.11, ``sub in data``
first reads ``sub`` as an integer (``5 in b"..."``), raising and clearing a formatted TypeError
every time, a few times the cost of the search; per event, that adds up.

Pure but for ``relay`` (anyio's shield): no client library is imported here. The upstream
side (router/_upstream/lean.py) and the proxy's endpoints (router/_server/) both use it, so it
sits below both.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any, Final, NamedTuple, cast

import anyio
import orjson

__all__ = [
    "DONE",
    "HEADERS",
    "MEDIA_TYPE",
    "Decoder",
    "Event",
    "Last",
    "Relay",
    "encode",
    "json_event",
    "naming",
    "relay",
]

MEDIA_TYPE: Final = "text/event-stream"
HEADERS: Final = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
DONE: Final = b"data: [DONE]\n\n"  # OpenAI's last event


class Last(bytes):
    """The last bytes of a stream (``relay``'s ``last``): a response may send them with its
    end, in one write; as bytes they are what they say."""

    __slots__ = ()


class Event(NamedTuple):
    """One dispatched event: its data (lines joined by ``\\n``), its name (``event:``; None:
    the default, ``message``), the last event id and ``retry`` (milliseconds) if given."""

    data: bytes
    event: bytes | None = None
    id: bytes | None = None
    retry: int | None = None


class Decoder:
    """An incremental SSE parser: ``feed`` it bytes as they arrive, get the events complete
    so far. An event is dispatched at a blank line; one with no ``data:`` line is not (the
    standard's rule). Bytes after the last line break wait for the next piece (or ``end``)."""

    __slots__ = ("_buffer", "_cr", "_data", "_event", "_id", "_retry")

    def __init__(self) -> None:
        self._buffer = b""
        self._cr = False  # the last piece ended with CR: an LF opening the next one is its pair
        self._data: list[bytes] = []
        self._event: bytes | None = None
        self._id: bytes | None = None  # kept across events, as the standard says
        self._retry: int | None = None

    def feed(self, piece: bytes) -> list[Event]:
        """The events that ``piece`` completes.

        Whole events of the common shapes (one ``data:`` line, or an ``event:`` line and one
        ``data:`` line, each with its space, LF line breaks) are cut at their blank lines in
        one pass (``_plain``); from the first event of any other shape on, the text goes line by
        line (``line``). Either way the events are the same: bytes after the last blank line
        wait in the buffer, read again with the next piece."""
        if self._cr and piece[:1] == b"\n":
            piece = piece[1:]
        self._cr = piece[-1:] == b"\r"
        text = self._buffer + piece
        if self._data or self._event is not None or text.find(b"\r") >= 0:
            return self._lines(text)  # an event begun line by line, or CRs: line by line
        *blocks, self._buffer = text.split(b"\n\n")
        events: list[Event] = []
        for index, block in enumerate(blocks):
            event = self._plain(block)
            if event is None:
                return events + self._lines(b"\n\n".join([*blocks[index:], self._buffer]))
            events.append(event)
        return events

    def data(self, piece: bytes) -> list[bytes]:
        """The data of the events that ``piece`` completes (``feed``'s events' ``data``).

        A piece that is one whole event of one ``data:`` line (a token's event, as providers
        write them: one per write), with nothing before it, is its data at once; any other
        goes through ``feed``."""
        if (
            piece[:6] == b"data: "
            and piece[-2:] == b"\n\n"
            and piece.find(b"\n") == len(piece) - 2
            and piece.find(b"\r") < 0
            and not self._buffer
            and not self._data
            and self._event is None
        ):
            self._cr = False
            return [piece[6:-2]]
        return [e.data for e in self.feed(piece)]

    def _plain(self, block: bytes) -> Event | None:
        """The event of ``block`` (an event's lines, without its blank line) if it has one of
        the common shapes; else None (it goes line by line)."""
        if block[:6] == b"data: ":
            if block.find(b"\n") < 0:
                return Event(block[6:], None, self._id, self._retry)
        elif block[:7] == b"event: ":
            end = block.find(b"\n")
            if end > 0 and block[end + 1 : end + 7] == b"data: " and block.find(b"\n", end + 1) < 0:
                return Event(block[end + 7 :], block[7:end], self._id, self._retry)
        return None

    def _lines(self, text: bytes) -> list[Event]:
        """The events that ``text`` (the buffer and a piece) completes, read line by line."""
        if text.find(b"\r") >= 0:
            text = text.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        *lines, self._buffer = text.split(b"\n")
        events = [self.line(line) for line in lines]
        return [e for e in events if e is not None]

    def end(self) -> None:
        """The stream ended: an event without its blank line is dropped, as the standard
        says, and so is a last line without its line break."""
        self._buffer, self._data, self._event = b"", [], None

    def line(self, line: bytes) -> Event | None:
        """One line, without its line break; the event it completes, if it is blank."""
        if not line:
            return self._dispatch()
        if line.startswith(b"data:"):  # the common case first
            value = line[5:]
            self._data.append(value[1:] if value.startswith(b" ") else value)
            return None
        name, colon, value = line.partition(b":")
        if not name:
            return None  # a comment (": keep-alive")
        if colon and value.startswith(b" "):
            value = value[1:]
        if name == b"data":
            self._data.append(value)
        elif name == b"event":
            self._event = value
        elif name == b"id" and value.find(b"\0") < 0:
            self._id = value
        elif name == b"retry" and value.isdigit():
            self._retry = int(value)
        return None  # any other field is ignored

    def _dispatch(self) -> Event | None:
        data, event = self._data, self._event
        self._data, self._event = [], None
        if not data:
            return None
        joined = data[0] if len(data) == 1 else b"\n".join(data)
        return Event(joined, event, self._id, self._retry)


def encode(data: bytes, event: str | bytes | None = None) -> bytes:
    """One event: ``event: <name>`` if named, then ``data:`` (one line per line of ``data``)."""
    head = b""
    if event is not None:
        head = b"event: " + (event.encode() if isinstance(event, str) else event) + b"\n"
    if data.find(b"\n") >= 0 or data.find(b"\r") >= 0:
        lines = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
        return head + b"".join(b"data: " + line + b"\n" for line in lines) + b"\n"
    return head + b"data: " + data + b"\n\n"


def json_event(value: Any, event: str | None = None) -> bytes:
    """``value`` as JSON in one event (orjson; Python's writer for what orjson refuses, a
    string with a lone surrogate, which it escapes)."""
    try:
        data = orjson.dumps(value)
    except orjson.JSONEncodeError:
        data = json.dumps(value, separators=(",", ":")).encode()
    return encode(data, event)


def naming(event: bytes, field: str, model: str) -> bytes:
    """One event as it came, but for its data's ``field`` object, which names ``model`` (the
    name a caller asked for); as it came if its data is no JSON object holding one."""
    (parsed,) = Decoder().feed(event)
    try:
        data = orjson.loads(parsed.data)
    except orjson.JSONDecodeError:
        return event
    inner = data.get(field) if isinstance(data, dict) else None
    if not isinstance(inner, dict):
        return event  # not the shape that names a model: as it came
    data[field] = inner | {"model": model}
    return json_event(data, None if parsed.event is None else parsed.event.decode())


class Relay:
    """What ``relay`` relays, as a value: iterated, it is ``relay``'s stream; a server that
    sends each rendered item itself runs the same loop in its own frame instead, one layer
    fewer per event (router/_server/endpoint.py's ``Streamed``)."""

    __slots__ = ("catch", "failed", "last", "render", "source")

    def __init__(
        self,
        source: AsyncIterator[Any],
        render: Callable[[Any], bytes],
        failed: Callable[[Any], bytes],
        *,
        catch: type[BaseException] | tuple[type[BaseException], ...] = Exception,
        last: bytes = b"",
    ) -> None:
        self.source = source
        self.render = render
        self.failed = failed
        self.catch = catch
        self.last = last

    def __aiter__(self) -> AsyncIterator[bytes]:
        return relay(self.source, self.render, self.failed, catch=self.catch, last=self.last)


async def relay(
    source: AsyncIterator[Any],
    render: Callable[[Any], bytes],
    failed: Callable[[Any], bytes],
    *,
    catch: type[BaseException] | tuple[type[BaseException], ...] = Exception,
    last: bytes = b"",
) -> AsyncIterator[bytes]:
    """``render(item)`` for each item of ``source``, then ``last`` (as ``Last``); a ``catch`` error
    mid-stream ends the stream with ``failed(error)`` instead. ``source`` is closed whatever
    happens, shielded from cancellation (a client gone mid-stream), so that its attempt is
    recorded before the task ends; a source read to its end has recorded it and closed what
    it held, and is closed (a formality) without the shield's cost."""
    ended = False
    try:
        async for item in source:
            yield render(item)
        ended = True
    except catch as exc:
        yield failed(exc)
        return
    finally:
        if ended:
            await cast(Any, source).aclose()
        else:
            with anyio.CancelScope(shield=True):
                await cast(Any, source).aclose()
    if last:
        yield Last(last)
