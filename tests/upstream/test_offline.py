"""The lean path's offline answer (router/_upstream/offline.py): the provider's format, made
locally after the identifier invariant on the body as it would be sent, with no send counted.

tests/upstream/test_wire.py checks, for every provider on both paths, that offline nothing
reaches the network and no credential is needed."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Final

import orjson
import pytest

from router._core.invariant import Identity, content_strings
from router._errors import IdentifierInRequest
from router._upstream import offline
from router._upstream.adapter import UpstreamCall, complete, open_stream
from router._upstream.deployment import Target
from router._upstream.guard import WireCheck
from router._upstream.lean import EventsEnded, Raw

TEXT: Final = "[offline] policy-router chose Groq for Kimi K2; no provider was contacted."
GROQ: Final = Target("groq/moonshotai/kimi-k2-instruct-0905")
SENTINEL: Final = "sentinel-user-7f3a"
MESSAGES: Final = [{"role": "user", "content": f"Hello, I am {SENTINEL}."}]


def watched() -> WireCheck:
    """The check of an attempt on an ``omit`` route for the sentinel user."""
    return WireCheck(Identity.of(SENTINEL), content_strings(MESSAGES))


def offline_call(check: WireCheck, **arguments: Any) -> UpstreamCall:
    return UpstreamCall(
        GROQ, {"messages": MESSAGES, **arguments}, timeout=5.0, offline_text=TEXT, check=check
    )


def raw(call: UpstreamCall) -> UpstreamCall:
    """``call`` asking for the lean path's bytes (the proxy's and ``route``'s way)."""
    return replace(call, raw=True)


# --- the answer's format --------------------------------------------------------------------


def test_completion__a_chat_completion_with_the_text_and_usage_in_words() -> None:
    request = {"model": "kimi-k2", "messages": [{"role": "user", "content": "Say hi to me"}]}
    body = orjson.loads(offline.completion(request, WireCheck(None, frozenset()), "ok then"))
    assert body["object"] == "chat.completion"
    assert body["id"].startswith("chatcmpl-offline-")
    assert body["model"] == "kimi-k2"
    assert body["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "ok then"},
            "finish_reason": "stop",
        }
    ]
    assert body["usage"] == {"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6}


@pytest.mark.parametrize("usage", [False, True], ids=["no usage asked", "usage asked"])
def test_chunks__stream_the_text_word_by_word_then_stop_then_usage_if_asked(usage: bool) -> None:
    request: dict[str, Any] = {"model": "kimi-k2", "messages": MESSAGES}
    if usage:
        request["stream_options"] = {"include_usage": True}
    events = [orjson.loads(e) for e in offline.chunks(request, WireCheck(None, frozenset()), TEXT)]
    deltas = [c["choices"][0]["delta"] for c in events if c["choices"]]
    assert deltas[0]["role"] == "assistant"
    assert "".join(d.get("content", "") for d in deltas) == TEXT
    assert {e["id"] for e in events} == {events[0]["id"]}
    finished = [c for c in events if c["choices"] and c["choices"][0]["finish_reason"]]
    assert [c["choices"][0]["finish_reason"] for c in finished] == ["stop"]
    assert (events[-1]["choices"] == [] and "usage" in events[-1]) is usage


# --- through the lean path -----------------------------------------------------------------


async def test_complete__raw_answer_is_the_json_bytes_and_no_send_is_counted() -> None:
    check = watched()
    answer = await complete(raw(offline_call(check)))
    assert isinstance(answer, Raw)
    assert orjson.loads(answer.body)["choices"][0]["message"]["content"] == TEXT
    assert orjson.loads(answer.body)["model"] == "moonshotai/kimi-k2-instruct-0905"
    assert (check.sends, check.found) == (0, None)


async def test_complete__library_answer_is_litellms_model_response() -> None:
    response = await complete(offline_call(watched()))
    assert type(response).__name__ == "ModelResponse"
    assert response.choices[0].message.content == TEXT


async def test_open_stream__raw_events_are_the_chunks_data() -> None:
    call = offline_call(watched(), stream_options={"include_usage": True})
    reads = [item async for item in await open_stream(raw(call))]
    assert [type(item) for item in reads] == [EventsEnded]  # one read, [DONE] with it
    events = [orjson.loads(e) for e in reads[0]]
    text = "".join(e["choices"][0]["delta"].get("content", "") for e in events if e["choices"])
    assert text == TEXT
    assert events[-1]["usage"]["completion_tokens"] == len(TEXT.split())


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
async def test_offline__the_raw_id_outside_content_is_refused_as_on_the_wire(stream: bool) -> None:
    """An id that got past scrubbing (here ``user``) is refused by the body check, offline as
    online: nothing is answered, and the attempt's check says where."""
    check = watched()
    call = raw(offline_call(check, user=SENTINEL))
    with pytest.raises(IdentifierInRequest):
        await (open_stream(call) if stream else complete(call))
    assert check.found == "$.user"  # the body's JSON path, as the wire check names it
    assert check.sends == 0
