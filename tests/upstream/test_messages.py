"""The Messages translation's own helpers (router/_upstream/messages.py); the translation
itself is tested on the wire, through the proxy (tests/server/test_messages.py)."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from router._upstream.messages import Translated, _json, count_tokens


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
