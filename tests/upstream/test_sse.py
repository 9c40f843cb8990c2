"""Server-sent events (router/_upstream/sse.py): the parser over the whole format, the
encoder, and the relay that closes its source whatever ends the stream."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from hypothesis import given
from hypothesis import strategies as st

from router._upstream import sse
from router._upstream.sse import Decoder, Event


def decoded(*pieces: bytes) -> list[Event]:
    decoder = Decoder()
    events = [e for piece in pieces for e in decoder.feed(piece)]
    decoder.end()
    return events


@pytest.mark.parametrize(
    ("stream", "expected"),
    [
        pytest.param(b"data: {}\n\n", [Event(b"{}")], id="one data line, LF"),
        pytest.param(b"data: a\r\n\r\n", [Event(b"a")], id="CRLF line endings"),
        pytest.param(b"data: a\r\rdata: b\r\r", [Event(b"a"), Event(b"b")], id="lone CR line endings"),
        pytest.param(b"data: a\ndata: b\n\n", [Event(b"a\nb")], id="multi-line data joined by LF"),
        pytest.param(b"data:a\n\n", [Event(b"a")], id="no space after the colon"),
        pytest.param(b"data:  a\n\n", [Event(b" a")], id="only one space is dropped"),
        pytest.param(b"data\n\n", [Event(b"")], id="a field without a colon: empty value"),
        pytest.param(b"event: delta\ndata: x\n\n", [Event(b"x", b"delta")], id="a named event"),
        pytest.param(
            b"event: a\ndata: 1\n\ndata: 2\n\n", [Event(b"1", b"a"), Event(b"2")], id="the name is per event"
        ),
        pytest.param(b": keep-alive\n\ndata: x\n\n", [Event(b"x")], id="comments are skipped"),
        pytest.param(
            b"id: 7\ndata: a\n\ndata: b\n\n", [Event(b"a", None, b"7"), Event(b"b", None, b"7")],
            id="the last id carries over",
        ),
        pytest.param(b"id: a\0b\ndata: x\n\n", [Event(b"x")], id="an id with NUL is ignored"),
        pytest.param(b"retry: 3000\ndata: x\n\n", [Event(b"x", None, None, 3000)], id="retry in ms"),
        pytest.param(b"retry: soon\ndata: x\n\n", [Event(b"x")], id="a retry that is no number is ignored"),
        pytest.param(b"event: ping\n\n", [], id="no data: nothing dispatched"),
        pytest.param(b"foo: bar\ndata: x\n\n", [Event(b"x")], id="unknown fields are ignored"),
        pytest.param(b"data: a\n\ndata: cut", [Event(b"a")], id="an unfinished event is dropped at the end"),
        pytest.param(b"data: [DONE]\n\n", [Event(b"[DONE]")], id="OpenAI's last event is data"),
    ],
)  # fmt: skip
def test_decoder__reads_the_whole_format(stream: bytes, expected: list[Event]) -> None:
    assert decoded(stream) == expected


@pytest.mark.parametrize(
    "stream",
    [
        b"data: a\r\n\r\nevent: e\r\ndata: b\r\ndata: c\r\n\r\n",
        b"data: a\r\rdata: b\r\r",
        b": c\ndata: a\nid: 1\nretry: 5\n\n",
    ],
)
def test_decoder__the_same_events_however_the_bytes_are_split(stream: bytes) -> None:
    whole = decoded(stream)
    assert whole
    assert decoded(*(stream[i : i + 1] for i in range(len(stream)))) == whole
    for cut in range(1, len(stream)):
        assert decoded(stream[:cut], stream[cut:]) == whole


def _standard(stream: bytes) -> list[Event]:
    """The HTML standard's reading of a whole stream, line by line, written out plainly: the
    decoder's two ways (whole common events, line by line) must both give these events."""
    events: list[Event] = []
    data: list[bytes] | None = None
    name: bytes | None = None
    last_id: bytes | None = None
    retry: int | None = None
    *lines, _unfinished = stream.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
    for line in lines:
        if not line:
            if data is not None:
                events.append(Event(b"\n".join(data), name, last_id, retry))
            data, name = None, None
            continue
        field, colon, value = line.partition(b":")
        value = value[1:] if colon and value.startswith(b" ") else value
        if not field:
            continue
        if field == b"data":
            data = [*(data or []), value]
        elif field == b"event":
            name = value
        elif field == b"id" and b"\0" not in value:
            last_id = value
        elif field == b"retry" and value.isdigit():
            retry = int(value)
    return events


_LINES = st.sampled_from(
    [b"data: {}", b"data: [DONE]", b"data:x", b"data:  y", b"data", b"event: e", b"event:",
     b"id: 1", b"id: a\0b", b"retry: 5", b": keep-alive", b"foo: bar", b""]
)  # fmt: skip


@given(
    lines=st.lists(_LINES, max_size=14),
    breaks=st.lists(
        st.sampled_from([b"\n", b"\n", b"\n", b"\r\n", b"\r"]), min_size=14, max_size=14
    ),
    cuts=st.lists(st.integers(min_value=0, max_value=200), max_size=4),
)
def test_decoder__the_standards_events_however_the_stream_is_cut(
    lines: list[bytes], breaks: list[bytes], cuts: list[int]
) -> None:
    stream = b"".join(line + brk for line, brk in zip(lines, breaks, strict=False))
    edges = [0, *sorted({c for c in cuts if c < len(stream)}), len(stream)]
    pieces = [stream[a:b] for a, b in itertools.pairwise(edges)]
    assert decoded(*pieces) == _standard(stream)


@given(
    lines=st.lists(_LINES, max_size=14),
    breaks=st.lists(
        st.sampled_from([b"\n", b"\n", b"\n", b"\r\n", b"\r"]), min_size=14, max_size=14
    ),
    cuts=st.lists(st.integers(min_value=0, max_value=200), max_size=4),
    whole=st.booleans(),
)
def test_decoder__data_is_the_data_of_the_standards_events(
    lines: list[bytes], breaks: list[bytes], cuts: list[int], whole: bool
) -> None:
    """``data`` (whole one-line events at once, others through ``feed``) gives the data of
    the same events, however the stream is cut; ``whole``: cut at every blank line too, so
    that pieces of one whole event each are common."""
    stream = b"".join(line + brk for line, brk in zip(lines, breaks, strict=False))
    blanks = [i + 2 for i in range(len(stream)) if stream[i : i + 2] == b"\n\n"] if whole else []
    edges = [0, *sorted({c for c in [*cuts, *blanks] if c < len(stream)}), len(stream)]
    decoder = Decoder()
    data = [d for a, b in itertools.pairwise(edges) for d in decoder.data(stream[a:b])]
    assert data == [e.data for e in _standard(stream)]


def test_decoder__data_of_whole_events_and_of_a_cut_one() -> None:
    decoder = Decoder()
    assert decoder.data(b"data: a\n\n") == [b"a"]
    assert decoder.data(b"data: b\n\ndata: c\n\n") == [b"b", b"c"]
    assert decoder.data(b"data: d") == []
    assert decoder.data(b"\n\n") == [b"d"]
    assert decoder.data(b"data: e\r") == []  # a CR, then its LF: one line break
    assert decoder.data(b"\n\r\n") == [b"e"]
    assert decoder.data(b"data: f\n\n") == [b"f"]


def test_decoder__common_events_then_others_in_one_piece() -> None:
    """Whole events of the common shapes, then one that is not (a comment, an id), then common
    ones again, one piece: the same events as the standard's reading, the last id carried."""
    stream = b"data: a\n\nevent: e\ndata: b\n\n: ping\n\nid: 7\ndata: c\n\ndata: d\n\ndata: e"
    assert (
        decoded(stream)
        == _standard(stream)
        == [Event(b"a"), Event(b"b", b"e"), Event(b"c", None, b"7"), Event(b"d", None, b"7")]
    )


def test_decoder__a_cr_and_its_lf_in_two_pieces_are_one_line_break() -> None:
    assert decoded(b"data: a\r", b"\ndata: b\r\n\r\n") == [Event(b"a\nb")]


@pytest.mark.parametrize(
    ("data", "event", "encoded"),
    [
        pytest.param(b"{}", None, b"data: {}\n\n", id="data"),
        pytest.param(b"{}", "ping", b"event: ping\ndata: {}\n\n", id="named"),
        pytest.param(b"a\nb", None, b"data: a\ndata: b\n\n", id="one data line per line"),
        pytest.param(b"a\r\nb\rc", None, b"data: a\ndata: b\ndata: c\n\n", id="any line break"),
    ],
)
def test_encode__one_event(data: bytes, event: str | None, encoded: bytes) -> None:
    assert sse.encode(data, event) == encoded
    assert decoded(encoded) == [Event(data.replace(b"\r\n", b"\n").replace(b"\r", b"\n"),
                                      event.encode() if event else None)]  # fmt: skip


def test_json_event__orjson_or_pythons_writer_for_a_lone_surrogate() -> None:
    assert sse.json_event({"a": "é"}, "x") == 'event: x\ndata: {"a":"é"}\n\n'.encode()
    assert sse.json_event({"a": "\ud800"}) == b'data: {"a":"\\ud800"}\n\n'


class _Source:
    """An async iterator that records its close, and may fail after some items."""

    def __init__(self, items: list[Any], fail: BaseException | None = None) -> None:
        self.items = list(items)
        self.fail = fail
        self.closed = False

    def __aiter__(self) -> _Source:
        return self

    async def __anext__(self) -> Any:
        if self.items:
            return self.items.pop(0)
        if self.fail is not None:
            raise self.fail
        raise StopAsyncIteration

    async def aclose(self) -> None:
        await anyio.lowlevel.checkpoint()  # a real close awaits (the attempt's audit record)
        self.closed = True


async def _all(stream: AsyncIterator[bytes]) -> list[bytes]:
    return [chunk async for chunk in stream]


async def test_relay__renders_then_the_last_event_then_closes() -> None:
    source = _Source([b"a", b"b"])
    out = await _all(sse.relay(source, sse.encode, lambda _: b"failed", last=sse.DONE))
    assert out == [b"data: a\n\n", b"data: b\n\n", sse.DONE]
    assert source.closed


async def test_relay__a_failure_mid_stream_ends_with_its_event() -> None:
    source = _Source([b"a"], fail=ValueError("broken"))
    out = await _all(
        sse.relay(source, sse.encode, lambda exc: sse.encode(type(exc).__name__.encode()),
                  catch=ValueError, last=sse.DONE)
    )  # fmt: skip
    assert out == [b"data: a\n\n", b"data: ValueError\n\n"]
    assert source.closed


async def test_relay__an_error_it_does_not_catch_propagates_and_still_closes() -> None:
    source = _Source([b"a"], fail=KeyError("x"))
    with pytest.raises(KeyError):
        await _all(sse.relay(source, sse.encode, lambda _: b"", catch=()))
    assert source.closed


async def test_relay__a_client_gone_mid_stream_still_closes_the_source() -> None:
    source = _Source([b"a", b"b", b"c"])
    stream = sse.relay(source, sse.encode, lambda _: b"")
    assert await anext(stream) == b"data: a\n\n"
    with anyio.CancelScope() as scope:
        scope.cancel()  # the response's task is cancelled: the close runs shielded
        await stream.aclose()  # type: ignore[attr-defined]
    assert source.closed
