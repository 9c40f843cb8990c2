"""The Messages translation's own helpers (router/_upstream/messages.py); the translation
itself is tested on the wire, through the proxy (tests/server/test_messages.py)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from router._core.messages import chat_names
from router._upstream.messages import Translated, _json, count_tokens, to_chat


class _Block(BaseModel):
    type: str
    text: str | None = None


def test_json__pydantic_objects_become_plain_data() -> None:
    assert _json({"content": [_Block(type="text", text="hi"), _Block(type="x")]}) == {
        "content": [{"type": "text", "text": "hi"}, {"type": "x"}]
    }


def test_json__anything_else_that_is_not_json_is_an_error() -> None:
    with pytest.raises(TypeError, match="object is not JSON data"):
        _json({"when": object()})


@pytest.mark.parametrize(
    "model",
    [
        "together_ai/meta-llama/Llama-3.3-70B-Instruct-Turbo",
        "replicate/meta/llama-2-70b-chat",
        "openai/gpt-4.1",
        "anthropic/claude-sonnet-4-5-20250929",
    ],
)
def test_count_tokens__local_and_never_downloads_a_tokenizer(
    model: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def download(*_: object) -> None:
        raise AssertionError("a tokenizer was downloaded")

    monkeypatch.setattr("litellm.utils._load_huggingface_tokenizer", download)
    image = {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}
    hello = Translated(
        [{"role": "user", "content": [{"type": "text", "text": "Hello"}, image]}], {}
    )
    assert count_tokens(hello, model) > 0


@pytest.mark.parametrize(
    "request_",
    [
        pytest.param({}, id="the required fields only"),
        pytest.param({"system": "s", "temperature": 0.1, "top_p": 0.5, "top_k": 3,
                      "stop_sequences": ["a"], "thinking": {"type": "enabled", "budget_tokens": 1024},
                      "tools": [{"name": "f", "input_schema": {"type": "object"}}],
                      "tool_choice": {"type": "auto", "disable_parallel_tool_use": True},
                      "stream": True, "metadata": {"user_id": "u"}, "privacy": {}},
                     id="every field"),
        pytest.param({"tool_choice": {"type": "auto"}, "stream": False}, id="no parallel, no stream"),
    ],
)  # fmt: skip
def test_chat_names__are_the_names_the_translation_makes(request_: dict[str, Any]) -> None:
    """What a route drops of a Messages request is decided on these names before anything is
    translated (router/_core/messages.py, ``chat_names``): they must be the translation's."""
    checked = {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
    checked |= request_
    translated = to_chat(checked, "claude-4-5-sonnet")
    assert chat_names(checked) == set(translated.arguments)
