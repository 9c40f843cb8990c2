"""The extras: a part used without its extra installed says, in one line, which extra to
install (``pip install 'policy-router[proxy]'``); the library itself needs none of them."""

from __future__ import annotations

import subprocess
import sys
from types import MappingProxyType

import pytest

from router import _errors
from router._errors import ConfigError, MissingExtra
from router._store import open_store
from router._upstream import deployment
from router._upstream.deployment import Deployment, Target

# Runs the command line with some top-level packages hidden, as in an installation without
# the extra that brings them.
HIDDEN = """
import importlib.abc, sys
hidden = set(sys.argv[1].split(","))

class Hide(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in hidden:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, Hide())
sys.argv = ["policy-router", *sys.argv[2:]]
from router.cli import main
main()
"""


def run_without(packages: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", HIDDEN, packages, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_missing_extra__is_a_config_error_and_a_module_not_found_error() -> None:
    error = MissingExtra("proxy", "the HTTP proxy")
    assert isinstance(error, ConfigError)
    assert isinstance(error, ModuleNotFoundError)  # `except ImportError` in an app still works
    assert (
        str(error) == "the HTTP proxy needs the 'proxy' extra: pip install 'policy-router[proxy]'"
    )


def test_serve__without_the_proxy_extra__one_line_naming_it() -> None:
    done = run_without("fastapi,uvicorn", "serve", "--allow-no-auth")
    assert done.returncode == 1
    assert done.stderr == (
        "error: the HTTP proxy needs the 'proxy' extra: pip install 'policy-router[proxy]'\n"
    )


def test_route__without_any_extra__still_works_offline() -> None:
    hidden = "fastapi,uvicorn,uvloop,httptools,prometheus_client,asyncpg,boto3,opentelemetry"
    done = run_without(hidden, "route", "GPT 4.1", "Hello", "--user", "alice", "--offline")
    assert done.returncode == 0, done.stderr
    assert '"event": "route.attempt"' in done.stdout
    assert '"outcome": "ok"' in done.stdout


async def test_postgres_store__without_the_postgres_extra__names_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_errors, "installed", lambda module: module != "asyncpg")
    with pytest.raises(MissingExtra, match=r"pip install 'policy-router\[postgres\]'"):
        await open_store("postgresql://127.0.0.1:1/none")


@pytest.mark.parametrize(
    ("model", "module", "extra"),
    [
        pytest.param("bedrock/anthropic.claude", "boto3", "bedrock", id="bedrock"),
        pytest.param("vertex_ai/gemini-2.5-pro", "google.auth", "vertex", id="vertex"),
    ],
)
def test_signed_route__without_its_extra__is_rejected_naming_it(
    monkeypatch: pytest.MonkeyPatch, model: str, module: str, extra: str
) -> None:
    monkeypatch.setattr(deployment, "installed", lambda name: name != module)
    ready = Deployment(MappingProxyType({}), MappingProxyType({}), MappingProxyType({}))
    reason = ready.missing_credentials(Target(model), {})
    assert reason == f"not installed here: pip install 'policy-router[{extra}]'"
