"""The complete preferences API: PATCH merges where PUT replaces, GET reports what has no
effect under the operator's policy, GET /v1/users pages, the CLI's ``prefs set`` merges."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from router._config.settings import ServerSettings
from router._core.preferences import Preferences, merge, without_effect
from router._errors import InvalidPreferences
from router.cli import app as cli_app
from tests._support.proxy import (
    ADMIN_KEY,
    Proxy,
    auth,
    chat,
    make_settings,
    proxy,
    put_prefs,
    records,
    serve,
)


async def patch_prefs(http: httpx.AsyncClient, user: str, body: dict[str, Any]) -> httpx.Response:
    return await http.patch(f"/v1/users/{user}/preferences", json=body, headers=auth(ADMIN_KEY))


# --- merging, pure ------------------------------------------------------------------------


def test_merge__changes_named_fields_keeps_others_and_null_removes() -> None:
    stored = Preferences.from_dict({"max_retention": "none", "deny_providers": ["groq"]})
    merged = merge(stored, {"allow_training": False, "deny_providers": None})
    assert merged.to_dict() == {"max_retention": "none", "allow_training": False}


def test_merge__onto_nothing_and_unknown_field_refused() -> None:
    assert merge(None, {"max_retention": "24h"}).to_dict() == {"max_retention": "24h"}
    with pytest.raises(InvalidPreferences, match="unknown preference field 'retention'"):
        merge(None, {"retention": "none"})


def test_without_effect__names_fields_the_operator_already_makes_as_strict() -> None:
    operator = Preferences.from_dict(
        {"max_retention": "24h", "allow_training": False, "deny_providers": ["groq"]}
    )
    stored = Preferences.from_dict(
        {
            "max_retention": "30d",  # looser than 24h: no effect
            "allow_training": False,  # the same: no effect
            "deny_providers": ["groq", "xai"],  # xai is new: has an effect
            "allow_flagged_retention": False,  # the operator says nothing: has an effect
        }
    )
    found = {w.field: w.to_dict() for w in without_effect(operator, stored)}
    assert set(found) == {"max_retention", "allow_training"}
    assert found["max_retention"]["stored"] == "30d"
    assert found["max_retention"]["operator"] == "24h"
    assert "max_retention='24h'" in found["max_retention"]["reason"]
    assert without_effect(operator, None) == []
    assert without_effect(Preferences(), stored) == []


# --- the HTTP API -------------------------------------------------------------------------


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Proxy]:
    async with proxy(tmp_path, org={"max_retention": "30d", "allow_training": False}) as running:
        yield running


@pytest.fixture
def http(served: Proxy) -> httpx.AsyncClient:
    return served.http


@pytest.fixture
def audit_lines(served: Proxy) -> list[str]:
    return served.audit_lines


async def test_patch__merges_where_put_replaces(
    http: httpx.AsyncClient, audit_lines: list[str]
) -> None:
    await put_prefs(http, "alice", max_retention="none", deny_providers=["Groq"])
    patched = await patch_prefs(http, "alice", {"allow_flagged_retention": False})
    assert patched.status_code == 200
    assert patched.json()["preferences"] == {
        "max_retention": "none",
        "allow_flagged_retention": False,
        "deny_providers": ["groq"],
    }
    removed = await patch_prefs(http, "alice", {"deny_providers": None})
    assert removed.json()["preferences"] == {
        "max_retention": "none",
        "allow_flagged_retention": False,
    }
    replaced = await put_prefs(http, "alice", allow_flagged_retention=True)
    assert replaced.json()["preferences"] == {"allow_flagged_retention": True}
    changes = [e for e in records(audit_lines) if e["event"] == "preferences.changed"]
    assert [e["action"] for e in changes] == ["set", "update", "update", "set"]
    assert changes[1]["old"]["deny_providers"] == ["groq"]
    assert changes[1]["new"]["allow_flagged_retention"] is False


async def test_patch__bad_field_is_400_and_changes_nothing(http: httpx.AsyncClient) -> None:
    await put_prefs(http, "bob", max_retention="none")
    for body, param in (({"max_retention": "later"}, "max_retention"), ({"nope": 1}, "nope")):
        response = await patch_prefs(http, "bob", body)
        assert response.status_code == 400
        assert response.json()["error"]["param"] == param
    unknown = await patch_prefs(http, "bob", {"deny_providers": ["Nowhere"]})
    assert unknown.status_code == 400
    got = await http.get("/v1/users/bob/preferences", headers=auth(ADMIN_KEY))
    assert got.json()["preferences"] == {"max_retention": "none"}


async def test_patch__with_nothing_stored_creates(http: httpx.AsyncClient) -> None:
    response = await patch_prefs(http, "carol", {"max_retention": "24h"})
    assert response.json()["preferences"] == {"max_retention": "24h"}


async def test_get__reports_effective_and_fields_without_effect(http: httpx.AsyncClient) -> None:
    await put_prefs(http, "dan", max_retention="1y", allow_training=False, deny_providers=["xai"])
    body = (await http.get("/v1/users/dan/preferences", headers=auth(ADMIN_KEY))).json()
    assert body["preferences"] == {
        "max_retention": "1y",
        "allow_training": False,
        "deny_providers": ["xai"],
    }
    assert body["effective"] == {
        "max_retention": "30d",
        "allow_training": False,
        "deny_providers": ["xai"],
    }
    assert [(w["field"], w["operator"]) for w in body["without_effect"]] == [
        ("max_retention", "30d"),
        ("allow_training", False),
    ]


async def test_users__listed_in_pages_for_admins_only(http: httpx.AsyncClient) -> None:
    for user in ("erin", "bob", "dave"):
        await put_prefs(http, user, max_retention="none")
    first = await http.get("/v1/users", params={"limit": 2}, headers=auth(ADMIN_KEY))
    assert first.json() == {
        "object": "list",
        "data": ["bob", "dave"],
        "has_more": True,
        "last": "dave",
    }
    rest = await http.get(
        "/v1/users", params={"limit": 2, "after": "dave"}, headers=auth(ADMIN_KEY)
    )
    assert rest.json() == {"object": "list", "data": ["erin"], "has_more": False, "last": "erin"}
    assert (await http.get("/v1/users", headers=auth())).status_code == 403
    too_many = await http.get("/v1/users", params={"limit": 1001}, headers=auth(ADMIN_KEY))
    assert too_many.status_code == 400


def test_default_body_limit__admits_a_base64_photo_of_several_megabytes() -> None:
    photo = 5 * 1024 * 1024  # a phone photo; 6.7 MiB in base64
    assert ServerSettings().max_body_bytes >= photo * 4 // 3 + 64 * 1024


async def test_default_body_limit__a_chat_with_a_2_mb_image_is_answered(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    settings = settings.model_copy(
        update={
            "server": settings.server.model_copy(
                update={"max_body_bytes": ServerSettings().max_body_bytes}
            )
        }
    )
    image = base64.b64encode(b"\xff" * 2_000_000).decode()
    content = [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{image}"}},
    ]
    async with serve(settings) as running:
        response = await running.http.post(
            "/v1/chat/completions",
            json=chat(messages=[{"role": "user", "content": content}]),
            headers=auth(),
        )
        assert response.status_code == 200, response.text


# --- the CLI ------------------------------------------------------------------------------


def _cli(*args: str) -> dict[str, Any]:
    result = CliRunner().invoke(cli_app, ["prefs", *args, "--json"])
    assert result.exit_code == 0, result.stderr
    return dict(json.loads(result.stdout))


def test_cli_set__merges_by_default_and_replace_replaces() -> None:
    _cli("set", "alice", "--max-retention", "none")
    merged = _cli("set", "alice", "--allow-training")
    assert merged["stored"] == {"max_retention": "none", "allow_training": True}
    replaced = _cli("set", "alice", "--no-allow-training", "--replace")
    assert replaced["stored"] == {"allow_training": False}


def test_cli_get__names_fields_without_effect(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLICY_ROUTER_ORG__MAX_RETENTION", "none")
    report = _cli("set", "alice", "--max-retention", "30d")
    assert report["effective"] == {"max_retention": "none"}
    assert [w["field"] for w in report["without_effect"]] == ["max_retention"]
    text = CliRunner().invoke(cli_app, ["prefs", "get", "alice"]).stdout
    assert "no effect: max_retention" in text
