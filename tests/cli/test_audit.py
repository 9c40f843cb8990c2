"""``policy-router audit verify | query`` on a log the router itself wrote (offline)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from router import PolicyRouter
from router._config.keyfile import pseudonym_key
from router._config.settings import Settings
from router._core.pseudonym import Pseudonymizer
from router.cli import app

runner = CliRunner()


def cli(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), input=stdin)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
async def log(tmp_path: Path) -> dict[str, Any]:
    """alice twice (once refused), bob once, carol changes her preferences; offline."""
    path = tmp_path / "audit.jsonl"
    settings = Settings(offline=True, audit=str(path), audit_checkpoint="off")
    ids: dict[str, list[str]] = {"alice": [], "bob": []}
    async with PolicyRouter.from_settings(settings) as router:
        for user, model in (("alice", "Kimi K2"), ("bob", "GPT 4.1"), ("alice", "GPT 4.1")):
            request = f"{user[0]}-{len(ids[user])}"  # no raw id in any record, ids included
            ids[user].append(request)
            messages = [{"role": "user", "content": "secret content"}]
            await router.acompletion(model, messages, user, request_id=request)
        await router.preferences.set("carol", {"max_retention": "none"})
    return {"path": path, "ids": ids, "settings": settings}


def test_log__holds_no_content_raw_id_or_key(log: dict[str, Any]) -> None:
    text = log["path"].read_text()
    assert "secret content" not in text
    assert "alice" not in text
    assert "bob" not in text
    data = log["settings"].resolved_data_dir()
    for key in ("audit.key", "pseudonym.key"):
        assert (data / key).read_text() not in text


def test_verify__without_the_key_says_how_to_give_it(
    log: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POLICY_ROUTER_DATA_DIR", str(tmp_path / "elsewhere"))
    code, _, err = cli("audit", "verify", str(log["path"]))
    assert code == 1
    assert err.startswith(
        "error: no key to read the audit log with: POLICY_ROUTER_AUDIT_KEY is not set"
    )
    assert not (tmp_path / "elsewhere").exists()  # no new key made up
    code, _, err = cli("audit", "query", str(log["path"]), "--user", "alice")
    assert code == 1
    assert "POLICY_ROUTER_PSEUDONYM_KEY is not set" in err


def test_verify__a_real_log_holds(log: dict[str, Any]) -> None:
    code, out, _ = cli("audit", "verify", str(log["path"]), "--json")
    assert code == 0, out
    found = json.loads(out)
    assert found["ok"] is True
    assert (found["records"], found["decisions_checked"], found["attempts_checked"]) == (7, 3, 3)


def test_verify__an_edited_record_exits_2_and_names_its_line(log: dict[str, Any]) -> None:
    path: Path = log["path"]
    lines = path.read_text().splitlines()
    lines[1] = lines[1].replace('"outcome":"ok"', '"outcome":"timeout"')
    path.write_text("\n".join(lines) + "\n")
    code, out, _ = cli("audit", "verify", str(path))
    assert code == 2
    assert f"first break: {path}:2: chain value does not match" in out
    assert "NOT verified" in out


def test_query__user_finds_exactly_that_users_requests_from_the_raw_id(
    log: dict[str, Any],
) -> None:
    code, out, _ = cli("audit", "query", str(log["path"]), "--user", "alice", "--json")
    assert code == 0
    records = json.loads(out)
    assert {r["request_id"] for r in records} == set(log["ids"]["alice"])
    assert len(records) == 4  # two decisions, two attempts
    pseudonym = Pseudonymizer(pseudonym_key(log["settings"])).for_audit("alice")
    assert {r["user"] for r in records} == {pseudonym}
    code, out, _ = cli("audit", "query", str(log["path"]), "--user", "nobody", "--json")
    assert json.loads(out) == []


def test_query__filters_combine(log: dict[str, Any]) -> None:
    path = str(log["path"])
    code, out, _ = cli(
        "audit", "query", path, "--model", "GPT 4.1", "--event", "route.attempt", "--json"
    )
    assert code == 0
    assert [r["request_id"] for r in json.loads(out)] == ["b-0", "a-1"]
    code, out, _ = cli("audit", "query", path, "--provider", "Groq", "--outcome", "ok", "--json")
    assert [r["request_id"] for r in json.loads(out)] == ["a-0"]
    code, out, _ = cli("audit", "query", path, "--since", "2999-01-01", "--json")
    assert json.loads(out) == []
    code, out, _ = cli("audit", "query", path, "--until", "1h", "--json")
    assert json.loads(out) == []
    code, out, _ = cli("audit", "query", path, "--since", "1h", "--json")
    assert len(json.loads(out)) == 7


def test_query__table_has_time_model_provider_outcome_and_catalog_version(
    log: dict[str, Any],
) -> None:
    code, out, _ = cli("audit", "query", str(log["path"]), "--user", "bob")
    assert code == 0
    assert "gpt-4-1" in out
    assert "openai" in out
    assert "2025-11@" in out
    assert "2 records" in out


def test_query__summary_reads_standard_input(log: dict[str, Any]) -> None:
    text = log["path"].read_text()
    code, out, _ = cli("audit", "query", "-", "--summary", "--json", stdin=text)
    assert code == 0
    summary = json.loads(out)
    assert summary["models"] == {"kimi-k2": 1, "gpt-4-1": 2}
    assert sum(summary["catalog_versions"].values()) == 3
    assert cli("audit", "summary", "-", "--json", stdin=text)[1] == out


def test_query__report_lists_each_provider_with_its_data_policy_and_no_content(
    log: dict[str, Any],
) -> None:
    code, out, _ = cli("audit", "query", str(log["path"]), "--user", "alice", "--report", "--json")
    assert code == 0
    found = json.loads(out)
    assert found["user"] == "alice"
    assert found["requests_decided"] == 2
    assert found["providers"] == ["groq", "openai"]
    groq = next(r for r in found["routes"] if r["provider"] == "groq")
    assert groq["policy"] == {
        "retention": "not stored",
        "retention_stated": True,
        "flagged_retention": "not stored",
        "trains_on_api_data": False,
        "training_stated": True,
        "user_identifier": "omit",
    }
    assert all(v.startswith("2025-11@") for v in found["catalog_versions"])
    assert "secret content" not in out
    code, out, _ = cli("audit", "query", str(log["path"]), "--user", "alice", "--report")
    assert "Groq" in out
    assert "OpenAI" in out


def test_query__a_bad_time_is_one_line_saying_what_is_expected(log: dict[str, Any]) -> None:
    code, _, err = cli("audit", "query", str(log["path"]), "--since", "last tuesday")
    assert code == 1
    assert err.strip() == (
        "error: --since must be an ISO date or time (2025-11-01, 2025-11-01T12:00) or a "
        "duration back from now (24h, 7d) (got 'last tuesday')"
    )


def test_query__catalog_version_and_event_filters(log: dict[str, Any]) -> None:
    path = str(log["path"])
    _, out, _ = cli("audit", "query", path, "--event", "route.decision", "--json")
    decisions = json.loads(out)
    assert [r["request_id"] for r in decisions] == ["a-0", "b-0", "a-1"]
    version = decisions[0]["catalog_version"]
    _, out, _ = cli("audit", "query", path, "--catalog-version", version, "--json")
    assert len(json.loads(out)) == 7
    _, out, _ = cli("audit", "query", path, "--catalog-version", "2025-06@000000000000", "--json")
    assert json.loads(out) == []


async def test_verify__reports_the_retention_in_force_and_the_writers_announced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POLICY_ROUTER_DATA_DIR", str(tmp_path / "data"))
    path, points = tmp_path / "audit.jsonl", tmp_path / "checkpoints.jsonl"
    settings = Settings(
        offline=True, audit=str(path), audit_checkpoint=str(points), audit_retention="30d"
    )
    async with PolicyRouter.from_settings(settings) as router:
        await router.acompletion("Kimi K2", [{"role": "user", "content": "hi"}], "dora")
    code, out, _ = cli("audit", "verify", str(path), "--checkpoint", str(points))
    assert code == 0, out
    rows = {cells[1].strip(): cells[2].strip() for cells in (line.split("│") for line in out.splitlines()) if len(cells) == 4}  # fmt: skip
    assert (rows["retention in force"], rows["writers announced"]) == ("30d", "checked")
    code, out, _ = cli("audit", "verify", str(path))
    assert "not checked (no --checkpoint)" in out
