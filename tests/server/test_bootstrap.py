"""``serve``'s one bootstrap (router/_server/bootstrap.py): the address bound before anything
starts, one start-up summary without secrets, and the workers' header deadline."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path
from typing import Final

import pytest

from router._audit import AuditLog
from router._config.settings import Settings
from router._errors import ConfigError
from router._router import PolicyRouter
from router._server import bootstrap

API_KEY: Final = "test-api-key-0001-long"


def _settings(tmp_path: Path, **server: object) -> Settings:
    return Settings(
        server={"api_keys": [API_KEY], **server},
        data_dir=tmp_path,
        audit=str(tmp_path / "audit.jsonl"),
        pseudonym_key="test-pseudonym-key-0123456789abcdef",
        offline=True,
    )


def _busy_port() -> tuple[socket.socket, int]:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    return taken, taken.getsockname()[1]


def test_listen__a_port_in_use_is_a_one_line_config_error(tmp_path: Path) -> None:
    taken, port = _busy_port()
    with taken, pytest.raises(ConfigError) as refused:
        bootstrap.listen(_settings(tmp_path, port=port).server)
    assert str(refused.value) == (
        f"cannot listen on 127.0.0.1:{port}: Address already in use (another server is "
        "listening there; stop it or choose --port)"
    )


def test_serve__port_in_use_says_so_in_one_line_before_any_startup_claim(tmp_path: Path) -> None:
    """The real command: one line on stderr, exit 1, and nothing that claims a start."""
    taken, port = _busy_port()
    env = {
        "PATH": "/usr/bin:/bin",
        "POLICY_ROUTER_SERVER__API_KEYS": f'["{API_KEY}"]',
        "POLICY_ROUTER_DATA_DIR": str(tmp_path),
        "POLICY_ROUTER_PSEUDONYM_KEY": "test-pseudonym-key-0123456789abcdef",
    }
    with taken:
        done = subprocess.run(
            [sys.executable, "-m", "router.cli", "serve", "--port", str(port)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"error: cannot listen on 127.0.0.1:{port}: Address already in use (another server "
        "is listening there; stop it or choose --port)"
    ]
    assert "startup" not in (done.stdout + done.stderr).lower()


async def test_summary__says_where_it_listens_who_may_call_and_where_evidence_goes(
    tmp_path: Path,
) -> None:
    settings = _settings(tmp_path, port=8123).serving()  # as serve runs them
    async with PolicyRouter.from_settings(settings, audit_log=AuditLog(lambda _: None)) as router:
        text = bootstrap.summary(router, settings, processes=3)
    catalog = router.catalog
    needing = router.loaded.servable_litellm_routes  # Claude, Gemini, OpenAI's Responses models
    assert "o3-pro/openai" in needing
    assert text.splitlines() == [
        f"policy-router {bootstrap._version()} listening on http://127.0.0.1:8123 "
        "(3 worker processes)",
        "  auth: Bearer keys: 1 API key(s), 0 admin key(s)",
        f"  audit: {tmp_path / 'audit.jsonl'}; checkpoints: stderr, every 1000 records or 60 s",
        f"  store: SQLite {tmp_path / 'preferences.sqlite3'}",
        f"  catalog: {catalog.label}: {router.loaded.servable_routes} of "
        f"{len(catalog.routes)} routes servable (offline: no provider is contacted)",
        f"  litellm: loaded at start-up by each worker: {len(needing)} servable route(s) need "
        "it (claude-4-5-sonnet/anthropic, claude-4-5-sonnet/bedrock, "
        "claude-4-5-sonnet-reasoning/anthropic, claude-4-5-sonnet-reasoning/bedrock, "
        f"claude-4-1-opus/anthropic and {len(needing) - 5} more); /v1/responses to a route "
        "other than OpenAI's Responses-API models, and /v1/messages with more than text to a "
        "route other than Anthropic's, translate with it",
    ]
    assert API_KEY not in text


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        pytest.param(
            "postgresql://router:s3cret-pass@db.example:5432/prefs",
            "postgresql://db.example:5432/prefs",
            id="postgres: no user or password",
        ),
        pytest.param("sqlite:////var/lib/prefs.sqlite3", "SQLite /var/lib/prefs.sqlite3", id="sqlite"),
    ],
)  # fmt: skip
def test_store_address__never_shows_credentials(url: str, shown: str) -> None:
    assert bootstrap.store_address(url) == shown


def test_auth_mode__no_keys_on_loopback() -> None:
    server = Settings(server={"allow_no_auth": True}).server
    assert bootstrap.auth_mode(server) == (
        "none: any caller on this loopback address (--allow-no-auth)"
    )


def test_workers__each_imports_the_protocol_with_its_settings_header_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The workers lacked the deadline: uvicorn imports this protocol by name in each."""
    from uvicorn.importer import import_from_string

    from router._server.connection import _base

    monkeypatch.setenv("POLICY_ROUTER_SERVER__READ_TIMEOUT", "3.5")
    protocol = import_from_string("router._server.workers:HeaderDeadline")
    assert issubclass(protocol, _base())
    assert protocol.__name__ == "HeaderDeadline"
    closure = protocol._start_deadline.__closure__ or ()
    assert 3.5 in [cell.cell_contents for cell in closure if isinstance(cell.cell_contents, float)]
