"""The Messages translation's own helpers (router/_upstream/messages.py); the translation
itself is tested on the wire, through the proxy (tests/server/test_messages.py)."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from router._upstream.messages import _json


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
