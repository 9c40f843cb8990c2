"""What each part of the package imports, seen from a fresh interpreter.

Two boundaries of the design are checked here, and only here:

- litellm is imported only by a request that needs its translation, never by importing the
  package, by any of its modules, by a command that forwards nothing (models, explain, prefs,
  catalog, audit), or by ``route`` on a model whose routes all take the lean path. Each
  command runs as a process, as a user runs it, and must succeed. (``serve``:
  tests/server/test_startup.py.)
- ``router._core`` is pure: each of its modules, imported alone (``router/__init__.py`` is not
  run), pulls in no HTTP client, database driver, web framework, structlog, litellm or event
  loop, and none of the package's I/O shell.
"""

from __future__ import annotations

import json
import os
import pkgutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import pytest

import router._core
from tests._support.repo import CURRENT_CATALOG, PAGES, PREVIOUS_CATALOG, REPO

pytestmark = pytest.mark.slow  # starts processes: left out by -m 'not slow'

# Runs a command as ``policy-router …`` would, then writes its exit status and every module
# it imported to the file named last.
_COMMAND_PROBE: Final = """
import json, runpy, sys
args, report = json.loads(sys.argv[1]), sys.argv[2]
sys.argv = ['policy-router', *args]
status = 0
try:
    runpy.run_module('router.cli', run_name='__main__')
except SystemExit as exc:
    status = exc.code if isinstance(exc.code, int) else 1
with open(report, 'w') as out:
    json.dump({'status': status, 'modules': sorted(sys.modules)}, out)
"""

# Imports every module of the package in turn; reports, per watched name, the first module
# after whose import it was loaded.
_EVERY_MODULE_PROBE: Final = """
import importlib, json, pkgutil, sys
import router
watched = json.loads(sys.argv[1])
first = {}
for info in pkgutil.walk_packages(router.__path__, 'router.'):
    if info.name.endswith('.__main__'):  # running it would run the command line
        continue
    importlib.import_module(info.name)
    for name in watched:
        if name in sys.modules:
            first.setdefault(name, info.name)
print(json.dumps(first))
"""

# Imports one module of ``router`` without running ``router/__init__.py`` (the public
# surface, which is the shell), and prints what that import added to sys.modules.
_ALONE_PROBE: Final = """
import importlib, json, sys, types
package = types.ModuleType(sys.argv[1])
package.__path__ = [sys.argv[2]]
sys.modules[sys.argv[1]] = package
before = set(sys.modules)
importlib.import_module(sys.argv[3])
print(json.dumps(sorted(set(sys.modules) - before)))
"""


def _run_command(
    args: Sequence[str], tmp_path: Path, env: dict[str, str] | None = None
) -> dict[str, Any]:
    report = tmp_path / "imported.json"
    command = [sys.executable, "-c", _COMMAND_PROBE, json.dumps(list(args)), str(report)]
    environ = None if env is None else os.environ | env
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=120, check=False, env=environ
    )
    assert report.exists(), done.stderr[-2000:]
    result: dict[str, Any] = json.loads(report.read_text())
    result["stderr"], result["stdout"] = done.stderr, done.stdout
    return result


def _top_level(modules: Sequence[str]) -> set[str]:
    return {name.split(".")[0] for name in modules}


def _audit_log(tmp_path: Path) -> Path:
    log = tmp_path / "audit.jsonl"
    record = {"event": "route.attempt", "request_id": "r1", "provider": "groq", "outcome": "ok"}
    log.write_text(json.dumps(record) + "\n", encoding="utf-8")
    return log


# --- litellm: only a forwarded request imports it --------------------------------------------

COMMAND_MODULES: Final = {
    "models": "router.cli._inspect",
    "explain": "router.cli._inspect",
    "prefs": "router.cli._prefs",
    "catalog": "router.cli._catalog",
    "audit": "router.cli._audit",
}
COMMANDS_THAT_DO_NOT_FORWARD = [
    pytest.param(["models", "--offline"], id="models"),
    pytest.param(["explain", "Kimi K2", "--offline"], id="explain"),
    pytest.param(["prefs", "set", "alice", "--max-retention", "24h"], id="prefs set"),
    pytest.param(["prefs", "get", "alice"], id="prefs get"),
    pytest.param(["prefs", "list"], id="prefs list"),
    pytest.param(["prefs", "delete", "alice"], id="prefs delete"),
    pytest.param(["catalog", "validate", str(CURRENT_CATALOG)], id="catalog validate"),
    pytest.param(
        ["catalog", "import", str(PAGES / "2025-11.bullets.md"), "--effective", "2025-11-20"],
        id="catalog import",
    ),
    pytest.param(["catalog", "render"], id="catalog render"),
    pytest.param(
        ["catalog", "diff", str(PREVIOUS_CATALOG), str(CURRENT_CATALOG)], id="catalog diff"
    ),
    pytest.param(["audit", "summary", "{audit_log}"], id="audit summary"),
]


@pytest.mark.parametrize("args", COMMANDS_THAT_DO_NOT_FORWARD)
def test_command_that_does_not_forward__succeeds_without_importing_litellm(
    args: list[str], tmp_path: Path
) -> None:
    args = [a.replace("{audit_log}", str(_audit_log(tmp_path))) for a in args]
    ran = _run_command(args, tmp_path)
    assert ran["status"] == 0, ran["stderr"][-2000:]
    assert COMMAND_MODULES[args[0]] in ran["modules"]
    assert "litellm" not in _top_level(ran["modules"])
    assert "opentelemetry" not in _top_level(ran["modules"])  # tracing: forwarded requests only


def test_route_on_a_lean_route__answers_offline_without_importing_litellm(
    tmp_path: Path,
) -> None:
    """The README's command: Kimi K2's routes all take the lean path, which answers offline
    itself after the whole policy (decision, scrubbing, invariant, audit); the audit log it
    wrote is then verified and queried, still without litellm."""
    log = tmp_path / "audit.jsonl"
    command = ["route", "Kimi K2", "Hello", "--user", "alice", "--max-retention", "none"]
    ran = _run_command(command, tmp_path, env={"POLICY_ROUTER_AUDIT": str(log)})
    assert ran["status"] == 0, ran["stderr"][-2000:]
    assert ran["stdout"].startswith("[offline] policy-router chose ")
    assert "litellm" not in _top_level(ran["modules"])
    events = [json.loads(line)["event"] for line in log.read_text().splitlines()]
    assert events == ["route.decision", "route.attempt"]
    for args in (["audit", "verify", str(log)], ["audit", "query", str(log), "--user", "alice"]):
        read = _run_command(args, tmp_path)
        assert read["status"] == 0, read["stderr"][-2000:]
        assert "litellm" not in _top_level(read["modules"]), args


def test_route_on_a_litellm_route__imports_litellm(tmp_path: Path) -> None:
    """The probe sees litellm when it is imported: Claude's routes need its translation."""
    ran = _run_command(["route", "Claude 4.5 Sonnet", "Hello", "--offline"], tmp_path)
    assert ran["status"] == 0, ran["stderr"][-2000:]
    assert "litellm" in _top_level(ran["modules"])


def test_import_router__does_not_import_litellm() -> None:
    code = "import json, sys, router; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert "litellm" not in _top_level(json.loads(done.stdout))
    assert "opentelemetry" not in _top_level(json.loads(done.stdout))


def test_every_module_of_the_package__imports_without_litellm() -> None:
    """Importing a module never imports litellm (router._upstream imports it on first use)."""
    done = subprocess.run(
        [sys.executable, "-c", _EVERY_MODULE_PROBE, json.dumps(["litellm"])],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert json.loads(done.stdout) == {}


@pytest.mark.parametrize("args", [["models"], ["explain", "Kimi K2"]], ids=["models", "explain"])
def test_read_only_commands__import_no_server_http_client_store_driver_or_audit_writer(
    args: list[str], tmp_path: Path
) -> None:
    """They decide and print: uvicorn, the HTTP clients, the store drivers (no --user) and
    structlog (no audit record) would only slow their start-up."""
    unneeded = {"uvicorn", "fastapi", "httpx", "aiohttp", "aiosqlite", "asyncpg", "structlog"}
    unneeded |= {"opentelemetry"}  # tracing: a forwarded request imports it, if installed
    ran = _run_command([*args, "--offline"], tmp_path)
    assert ran["status"] == 0, ran["stderr"][-2000:]
    assert _top_level(ran["modules"]) & unneeded == set()


# --- the pure core ----------------------------------------------------------------------------

# What the core must never pull in: HTTP clients, database drivers, web frameworks, structured
# logging, litellm, and event loops (asyncio-based I/O). pydantic, which catalog_load uses to
# validate, imports socket and selectors for its network types; they are not listed.
NOT_IN_THE_CORE: Final = frozenset(
    {
        "litellm", "openai", "httpx", "httpcore", "h11", "aiohttp", "requests", "urllib3",
        "structlog", "asyncpg", "aiosqlite", "sqlite3", "redis",
        "fastapi", "starlette", "uvicorn", "asyncio", "anyio", "uvloop",
    }
)  # fmt: skip
# The only modules of the package the core may import: itself and the error tree.
CORE_MAY_IMPORT: Final = ("router._core", "router._errors")

CORE_MODULES = sorted(
    info.name for info in pkgutil.iter_modules(router._core.__path__, "router._core.")
)


def _imported_alone(package: str, path: Path, module: str) -> list[str]:
    """What importing ``module`` alone adds to a fresh interpreter's modules.

    Without coverage in that interpreter: started there by scripts/test, it would import
    sqlite3 (its data file) before the probe looks, and hide a core module importing it.
    """
    environ = {k: v for k, v in os.environ.items() if not k.startswith("COVERAGE_PROCESS_")}
    done = subprocess.run(
        [sys.executable, "-c", _ALONE_PROBE, package, str(path), module],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=environ,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    added: list[str] = json.loads(done.stdout)
    return added


def _impurities(package: str, added: Sequence[str]) -> list[str]:
    """The imports among ``added`` that the core may not have, sorted."""
    foreign = _top_level(added) & NOT_IN_THE_CORE
    shell = {
        name
        for name in added
        if name.split(".")[0] == package
        and name != package
        and not name.replace(package, "router", 1).startswith(CORE_MAY_IMPORT)
    }
    return sorted(foreign | shell)


def test_core_modules__are_all_checked() -> None:
    names = {name.rsplit(".", 1)[1] for name in CORE_MODULES}
    expected = {"catalog", "catalog_load", "decision", "duration", "preferences", "pseudonym", "scrub"}  # fmt: skip
    assert names >= expected


@pytest.mark.parametrize("module", CORE_MODULES)
def test_core_module__imported_alone_pulls_in_no_io(module: str) -> None:
    added = _imported_alone("router", REPO / "router", module)
    assert module in added
    assert _impurities("router", added) == [], f"{module} is no longer pure"


def test_core_check__catches_an_http_client_and_the_shell(tmp_path: Path) -> None:
    """The check fails a core module that imports httpx, or a module of the I/O shell."""
    package = tmp_path / "impure"
    (package / "_core").mkdir(parents=True)
    (package / "_core" / "__init__.py").write_text("")
    (package / "_core" / "fetch.py").write_text("import httpx\nimport impure._store\n")
    (package / "_store.py").write_text("import sqlite3\n")
    added = _imported_alone("impure", package, "impure._core.fetch")
    assert _impurities("impure", added) == ["httpx", "impure._store", "sqlite3"]
