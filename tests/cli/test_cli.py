"""The command line: models, explain, route, prefs and audit summary, as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from router.cli import app

runner = CliRunner()


def cli(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_models__offline_lists_every_model_with_allowed_providers() -> None:
    code, out, _ = cli("models", "--offline", "--json")
    assert code == 0
    models = {m["model"]["name"]: m for m in json.loads(out)}
    assert len(models) == 48
    assert models["o3"]["order"] == ["o3/openai"]


def test_models__max_retention_none_rejects_30_day_providers_with_reasons() -> None:
    code, out, _ = cli("models", "--offline", "--max-retention", "none", "--json")
    assert code == 0
    by_name = {m["model"]["name"]: m for m in json.loads(out)}
    claude = by_name["Claude 4.5 Sonnet"]
    assert claude["order"] == []
    assert {c["reasons"][0] for c in claude["candidates"]} == {
        "it keeps API data for 30 days, but max_retention allows no storage"
    }
    assert by_name["Kimi K2"]["order"][0] == "kimi-k2/groq"


def test_models__table_says_how_many_models_are_usable() -> None:
    code, out, _ = cli("models", "--offline", "--deny-provider", "xai")
    assert code == 0
    assert "43 of 48 models have at least one allowed route." in out


def test_models__without_credentials_says_why_and_what_to_do() -> None:
    code, out, _ = cli("models")
    assert code == 0
    assert "0 of 48 models have at least one allowed route." in out
    assert "add --offline to see the policy alone" in out


def test_explain__json_has_every_candidate_order_and_scrubbed_fields() -> None:
    code, out, _ = cli("explain", "ChatGPT", "--offline", "--deny-provider", "azure", "--json")
    assert code == 0
    decision = json.loads(out)
    assert decision["model"] == {"slug": "gpt-5-chat", "name": "GPT 5 chat"}
    assert decision["order"] == ["gpt-5-chat/openai"]
    openai, azure = decision["candidates"]
    assert openai["user_identifier"] == "omit"
    assert openai["identifier_fields"]["removed"] == ["user", "metadata.user_id"]
    assert azure["verdict"] == "rejected"
    assert azure["reasons"] == ["provider Microsoft Azure is listed in deny_providers"]
    assert decision["catalog_version"].startswith("2025-11@")


def test_explain__no_allowed_route_exits_2_and_says_so() -> None:
    code, out, _ = cli("explain", "Claude 4.1 Opus", "--offline", "--max-retention", "24h")
    assert code == 2
    assert "no route is allowed: the request would be refused" in out


def test_explain__unknown_model_is_one_line_and_exit_1() -> None:
    code, out, err = cli("explain", "GPT 9", "--offline")
    assert code == 1
    assert err.startswith("error: unknown model (a name of 5 characters): name a model")
    assert err.rstrip().endswith("closest catalog names: GPT 5, GPT 4.1")
    assert err.count("\n") == 1
    assert "Traceback" not in out + err


def test_explain__bad_preference_flag_is_one_line() -> None:
    code, _, err = cli("explain", "Kimi K2", "--max-retention", "3 fortnights")
    assert code == 1
    assert err == (
        "error: 'max_retention' must be 'none', a duration like '24h', '30d', '90d' or '2y', "
        "or 'unlimited' (got a string of 12 characters)\n"
    )


def test_prefs__set_get_delete_round_trip_and_explain_uses_them() -> None:
    code, out, _ = cli(
        "prefs", "set", "alice", "--max-retention", "none", "--deny-provider", "Groq", "--json"
    )
    assert code == 0
    assert json.loads(out)["stored"] == {"max_retention": "none", "deny_providers": ["groq"]}
    code, out, _ = cli("explain", "Kimi K2", "--user", "alice", "--offline", "--json")
    assert json.loads(out)["order"][0] == "kimi-k2/nebius"
    code, out, _ = cli("prefs", "get", "alice", "--json")
    assert json.loads(out)["effective"]["max_retention"] == "none"
    code, out, _ = cli("prefs", "delete", "alice")
    assert (code, out.strip()) == (0, "deleted preferences of alice")
    code, out, _ = cli("prefs", "get", "alice", "--json")
    assert json.loads(out)["stored"] is None


def test_prefs__list_pages_through_users() -> None:
    for user in ("carol", "alice", "bob"):
        assert cli("prefs", "set", user, "--max-retention", "30d")[0] == 0
    code, out, _ = cli("prefs", "list", "--limit", "2", "--json")
    assert (code, json.loads(out)) == (0, ["alice", "bob"])
    _, out, _ = cli("prefs", "list", "--after", "bob", "--json")
    assert json.loads(out) == ["carol"]
    code, _, err = cli("prefs", "list", "--limit", "0")
    assert code == 1
    assert "'limit' must be an integer from 1 to 1000 (got 0)" in err


def test_prefs__set_with_unknown_provider_writes_nothing() -> None:
    code, _, err = cli("prefs", "set", "bob", "--deny-provider", "acme")
    assert code == 1
    assert err.startswith("error: unknown provider in 'deny_providers' (a name of 4 characters)")
    _, out, _ = cli("prefs", "get", "bob", "--json")
    assert json.loads(out)["stored"] is None


def test_prefs__set_without_flags_says_what_to_give() -> None:
    code, _, err = cli("prefs", "set", "bob")
    assert code == 1
    assert "give at least one preference flag" in err


def test_route__offline_by_default_without_credentials_prints_answer_and_records() -> None:
    code, out, err = cli("route", "Kimi K2", "Hello", "--user", "alice", "--max-retention", "none")
    assert code == 0, err
    assert "offline: no provider is contacted" in err
    answer, records = out.split("audit records:\n")
    assert (
        answer.strip()
        == "[offline] policy-router chose Groq for Kimi K2; no provider was contacted."
    )
    events = [json.loads(line) for line in records.splitlines()]
    assert [e["event"] for e in events] == ["route.decision", "route.attempt"]
    assert events[1]["offline"] is True
    assert "alice" not in records


def test_route__stream_prints_chunks() -> None:
    code, out, _ = cli("route", "GLM-4.5", "Hello", "--stream")
    assert code == 0
    assert out.startswith("[offline] policy-router chose Fireworks.ai for GLM-4.5")


@pytest.mark.parametrize("stream", [[], ["--stream"]], ids=["json", "stream"])
def test_route__a_litellm_route_prints_litellms_answer_the_same_way(stream: list[str]) -> None:
    """Claude's routes are litellm's (its mock answers offline); the lean path's answers are
    bytes the command parses itself: both print the text alone."""
    code, out, err = cli("route", "Claude 4.5 Haiku", "Hello", "--offline", *stream)
    assert code == 0, err
    assert out.startswith(
        "[offline] policy-router chose Anthropic for Claude 4.5 Haiku; no provider was "
        "contacted.\naudit records:\n"
    )


def test_route__policy_violation_is_one_line_with_alternatives() -> None:
    code, out, err = cli("route", "Grok 4", "Hello", "--max-retention", "24h")
    assert code == 1
    assert err.splitlines()[-1].startswith("error: no route of 'Grok 4' is allowed")
    assert "Gemini 2.5 Flash" in err
    assert "route.refused" in out


def test_audit_summary__counts_and_failovers(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    records = [
        {"event": "route.decision", "model": "kimi-k2", "candidates": [
            {"route": "kimi-k2/groq", "verdict": "rejected", "reasons": ["denied"]}]},
        {"event": "route.attempt", "request_id": "r1", "provider": "nebius", "outcome": "server"},
        {"event": "route.attempt", "request_id": "r1", "provider": "together", "outcome": "ok"},
        {"event": "route.decision", "model": "grok-4", "candidates": []},
        {"event": "route.refused", "request_id": "r2", "reason": "PolicyViolation"},
    ]  # fmt: skip
    log.write_text("\n".join(json.dumps(r) for r in records) + "\nnot json\n")
    code, out, _ = cli("audit", "summary", str(log), "--json")
    assert code == 0
    summary = json.loads(out)
    assert summary["models"] == {"kimi-k2": 1, "grok-4": 1}
    assert summary["providers"] == {"nebius": 1, "together": 1}
    assert summary["outcomes"] == {"server": 1, "ok": 1}
    assert summary["refusals"] == {"PolicyViolation": 1}
    assert summary["rejection_reasons"] == {"denied": 1}
    assert summary["failed_over"] == {"r1": ["nebius:server", "together:ok"]}
    assert summary["unreadable_lines"] == [f"{log}:6"]


def test_audit_summary__missing_file_is_one_line(tmp_path: Path) -> None:
    code, _, err = cli("audit", "summary", str(tmp_path / "nope.jsonl"))
    assert code == 1
    assert err.startswith("error: [Errno 2] No such file or directory")


def test_debug__shows_the_traceback_instead_of_one_line() -> None:
    result = runner.invoke(app, ["--debug", "explain", "GPT 9", "--offline"])
    assert result.exit_code == 1
    assert type(result.exception).__name__ == "UnknownModel"
    code, _, err = cli("explain", "GPT 9", "--offline")  # and the next run is back to one line
    assert (code, err.count("\n")) == (1, 1)


async def test_serve__freezes_what_lives_as_long_as_the_process_before_serving(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import gc
    import logging

    import uvicorn

    from router._config.settings import Settings
    from router._observe import tracing as _tracing
    from router._server import bootstrap, startup

    frozen_when_serving: list[int] = []
    thresholds: list[tuple[int, int, int]] = []
    collecting: list[bool] = []

    async def serve(self: uvicorn.Server, sockets: object = None) -> None:
        frozen_when_serving.append(gc.get_freeze_count())
        thresholds.append(gc.get_threshold())
        collecting.append(gc.isenabled())

    monkeypatch.setattr(uvicorn.Server, "serve", serve)
    monkeypatch.setattr(bootstrap, "_exit_cleanly_on_signals", lambda server: None)
    settings = Settings(
        server={"api_keys": ["test-api-key-0001-long"], "port": 0},
        data_dir=tmp_path,
        audit=str(tmp_path / "audit.jsonl"),
        pseudonym_key="test-pseudonym-key-0123456789abcdef",
    )
    for flag in ("logThreads", "logProcesses", "logMultiprocessing"):
        monkeypatch.setattr(logging, flag, getattr(logging, flag))  # serve's: restored after
    monkeypatch.setattr(_tracing, "_tracer", _tracing._tracer)
    before = gc.get_threshold()
    gc.unfreeze()
    gc.disable()  # as the serve command starts it: the collector off until the freeze
    sock = bootstrap.listen(settings.server)
    try:
        await bootstrap._serve(settings, sock)
    finally:
        sock.close()
        gc.unfreeze()
        gc.set_threshold(*before)
        gc.enable()

    assert len(frozen_when_serving) == 1
    assert frozen_when_serving[0] > 100_000  # litellm alone is several hundred thousand
    assert thresholds == [startup.GC_THRESHOLD]
    assert collecting == [True]  # the freeze turns the collector back on before serving


@pytest.mark.parametrize(("workers", "off"), [(1, True), (2, False)])
def test_serve__starts_with_the_collector_off_in_one_process_and_leaves_it_on(
    monkeypatch: pytest.MonkeyPatch, workers: int, off: bool
) -> None:
    import gc

    from router._server import bootstrap

    collecting: list[bool] = []

    def serve(settings: object, *, workers: int, loop_factory: object) -> None:
        collecting.append(gc.isenabled())
        raise RuntimeError("start-up failed before the freeze")

    monkeypatch.setattr(bootstrap, "serve", serve)
    monkeypatch.setenv("POLICY_ROUTER_SERVER__API_KEYS", '["test-api-key-0001-long"]')
    assert gc.isenabled()
    result = runner.invoke(app, ["serve", "--workers", str(workers)])

    assert isinstance(result.exception, RuntimeError)
    # one process: off while it imports and builds; the supervisor of --workers keeps it on
    assert collecting == [not off]
    assert gc.isenabled()  # on again when start-up stops before the freeze


def test_explain__json_candidates_extend_the_audit_candidates_with_the_enforced_policy() -> None:
    code, out, _ = cli(
        "explain", "Mistral Small", "--offline", "--deny-provider", "nebius", "--json"
    )
    assert code == 0
    mistral, nebius = json.loads(out)["candidates"]
    assert mistral["route"] == "mistral-small/mistral"
    assert (mistral["provider"], mistral["provider_name"], mistral["verdict"]) == (
        "mistral", "Mistral AI", "allowed"
    )  # fmt: skip
    assert "reasons" not in mistral
    assert nebius["reasons"] == ["provider Nebius is listed in deny_providers"]
    assert set(nebius) >= {"trains_on_api_data", "retention", "flagged_retention",
                           "user_identifier", "notes", "identifier_fields"}  # fmt: skip


def test_serve__freezes_its_heap_without_traversing_it_first() -> None:
    import gc

    from router._server import startup

    collections: list[int] = []

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collections.append(info["generation"])

    before = gc.get_threshold()
    gc.disable()
    gc.callbacks.append(count)
    try:
        startup.freeze_long_lived_objects()
        assert gc.get_freeze_count() > 0
        assert gc.isenabled()
    finally:
        gc.callbacks.remove(count)
        gc.unfreeze()
        gc.set_threshold(*before)
        gc.enable()
    assert collections == []  # no full collection over the start-up heap (it frees next to nothing)
