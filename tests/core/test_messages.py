"""The accepted surface of an Anthropic Messages request (router/_core/messages.py)."""

from __future__ import annotations

from typing import Any, Final

import pytest

from router._core.messages import MESSAGES_PARAMETERS, check_messages, markdown_table
from router._core.surface import SurfaceError

DOC: Final = "(see docs/proxy.md, 'Anthropic Messages API')"
BASE: Final = {"model": "Claude 4.5 Sonnet", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}  # fmt: skip
TURNS: Final = [
    {"role": "user", "content": [
        {"type": "text", "text": "Look:", "cache_control": {"type": "ephemeral", "ttl": "1h"}},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}},
    ]},
    {"role": "assistant", "content": [
        {"type": "thinking", "thinking": "Let me call the tool.", "signature": "sig"},
        {"type": "redacted_thinking", "data": "opaque"},
        {"type": "tool_use", "id": "toolu_1", "name": "look", "input": {"at": "a.png"}},
    ]},
    {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "toolu_1", "is_error": False, "content": [
            {"type": "text", "text": "a cat"},
            {"type": "image", "source": {"type": "url", "url": "https://example.com/b.png"}},
        ]},
    ]},
]  # fmt: skip


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({"messages": TURNS}, id="every declared content block"),
        pytest.param({"system": "Be brief."}, id="system as a string"),
        pytest.param({"system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}]}, id="system as text blocks"),
        pytest.param({"tools": [{"name": "f", "input_schema": {"type": "object"}}, {"type": "custom", "name": "g", "description": "G", "input_schema": {}}]}, id="custom tools"),
        pytest.param({"tool_choice": {"type": "any", "disable_parallel_tool_use": True}}, id="tool_choice any"),
        pytest.param({"tool_choice": {"type": "tool", "name": "f"}}, id="tool_choice tool"),
        pytest.param({"thinking": {"type": "enabled", "budget_tokens": 1024}}, id="thinking enabled"),
        pytest.param({"thinking": {"type": "disabled"}}, id="thinking disabled"),
        pytest.param({"metadata": {"user_id": "alice"}, "temperature": 0.5, "top_p": 0.9, "top_k": 5, "stop_sequences": ["END"], "stream": True, "privacy": {"max_retention": "none"}}, id="the scalar fields"),
    ],
)  # fmt: skip
def test_check_messages__accepts_the_declared_surface(fields: dict[str, Any]) -> None:
    assert check_messages(BASE | fields) == BASE | fields


def test_check_messages__drops_none_values() -> None:
    assert check_messages(BASE | {"temperature": None, "system": None}) == BASE


@pytest.mark.parametrize(
    ("fields", "param", "message"),
    [
        pytest.param({"model": None}, "model", f"'model' is required {DOC}", id="no model"),
        pytest.param({"messages": []}, "messages", f"messages: expected a list of at least 1 item(s), got a list of 0 items {DOC}", id="no messages"),
        pytest.param({"messages": [{"role": "user", "content": [{"type": "text", "text": "x", "citations": []}]}]}, "messages", f"messages[0].content[0].citations: expected no such field (this object takes type, text, cache_control), got a list of 0 items {DOC}", id="a field of a block"),
        pytest.param({"messages": [{"role": "user", "content": ["plain string"]}]}, "messages", f"messages[0].content[0].type: expected one of 'text', 'image', 'tool_use', 'tool_result', 'thinking', 'redacted_thinking', got null {DOC}", id="a block that is not an object"),
        pytest.param({"messages": [{"role": "user", "content": [{"type": "image", "source": {"type": "file", "file_id": "f"}}]}]}, "messages", f"messages[0].content[0].source.type: expected one of 'base64', 'url', got a string of 4 characters {DOC}", id="a file image source"),
        pytest.param({"tools": [{"type": "web_fetch_20250910", "name": "web_fetch"}]}, "tools", f"tools[0].type: server tool 'web_fetch_20250910' is not accepted: it runs at the provider, outside the catalog's policy (what it fetches, executes or keeps is not declared); send custom tools only (name, description, input_schema) {DOC}", id="web fetch"),
        pytest.param({"tools": [{"name": "f"}]}, "tools", f"tools[0].input_schema: expected a value (required), got null {DOC}", id="a tool without input_schema"),
        pytest.param({"tools": ["f"]}, "tools", f"tools[0]: expected an object, got a string of 1 character {DOC}", id="a tool that is not an object"),
        pytest.param({"tool_choice": {"type": "sometimes"}}, "tool_choice", f"tool_choice.type: expected one of 'auto', 'any', 'none', 'tool', got a string of 9 characters {DOC}", id="an unknown tool_choice"),
        pytest.param({"top_k": 1.5}, "top_k", f"top_k: expected an integer, got a number {DOC}", id="top_k not an integer"),
        pytest.param({"context_management": {"edits": []}}, "context_management", f"'context_management' is not accepted: context editing runs at the provider on state the catalog does not declare; remove it {DOC}", id="context_management"),
        pytest.param({"output_format": {"type": "json_schema"}}, "output_format", f"unsupported field 'output_format': the router accepts the Messages fields {', '.join(MESSAGES_PARAMETERS)} only; remove it {DOC}", id="an undeclared field"),
    ],
)  # fmt: skip
def test_check_messages__refuses_by_name(fields: dict[str, Any], param: str, message: str) -> None:
    with pytest.raises(SurfaceError) as refused:
        check_messages(BASE | fields)
    assert refused.value.param == param
    assert str(refused.value) == message


def test_markdown_table__one_row_per_declared_field() -> None:
    rows = markdown_table().splitlines()
    assert rows[0] == "| field | shape | what the router does |"
    assert [r.split("`")[1] for r in rows[2:]] == list(MESSAGES_PARAMETERS)
