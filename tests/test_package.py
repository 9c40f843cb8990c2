"""The built wheel in someone else's application: installed into a fresh virtual environment
beside an app that pins its own litellm within the range, it downgrades nothing, ``pip check``
is clean, and the library's quick start runs there with no keys and no extra installed.
Both ends of the tested litellm range (``[tool.policy-router] litellm-tested``)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests._support.repo import REPO

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
TESTED = PYPROJECT["tool"]["policy-router"]["litellm-tested"]

# The library's quick start, as an application would write it: nothing configured.
QUICK_START = """
import asyncio, json, router
from router import PolicyRouter

async def main():
    async with PolicyRouter.from_settings() as r:
        response = await r.acompletion("Kimi K2", [{"role": "user", "content": "Hi"}], user="alice")
        print(json.dumps({"text": response.choices[0].message.content,
                          "route": response._hidden_params["policy_router"]["route"]}))

asyncio.run(main())
"""


def uv() -> list[str]:
    found = shutil.which("uv")
    return [found] if found else [sys.executable, "-m", "uv"]


def run(*args: str | Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=600, env=env, check=False
    )
    assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def versions(python: Path) -> dict[str, str]:
    listed = run(python, "-m", "pip", "list", "--format=json", "--disable-pip-version-check")
    return {p["name"].lower(): p["version"] for p in json.loads(listed.splitlines()[0])}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    run(*uv(), "build", "--wheel", "--out-dir", out, REPO)
    (built,) = out.glob("policy_router-*.whl")
    return built


@pytest.mark.slow
@pytest.mark.parametrize("litellm", TESTED)
def test_wheel__beside_an_apps_own_litellm__downgrades_nothing_and_routes(
    wheel: Path, tmp_path: Path, litellm: str
) -> None:
    venv = tmp_path / "app"
    run(*uv(), "venv", "--seed", "--python", sys.executable, venv)
    python = venv / "bin" / "python"
    run(*uv(), "pip", "install", "--python", python, f"litellm=={litellm}")  # the app's pin
    before = versions(python)
    run(*uv(), "pip", "install", "--python", python, wheel)
    after = versions(python)

    assert after["litellm"] == litellm
    changed = {name: (v, after[name]) for name, v in before.items() if after.get(name) != v}
    assert changed == {}, f"installing the wheel changed the app's packages: {changed}"
    run(python, "-m", "pip", "check", "--disable-pip-version-check")
    added = set(after) - set(before)  # what the wheel brought (litellm may bring boto3 itself)
    extras_only = {"fastapi", "uvicorn", "uvloop", "httptools", "asyncpg", "prometheus-client"}
    assert not added & (extras_only | {"boto3", "google-auth"})  # only what the library needs

    env = {k: v for k, v in os.environ.items() if not k.startswith(("POLICY_ROUTER_", "LITELLM"))}
    env |= {"POLICY_ROUTER_DATA_DIR": str(tmp_path / "data"), "HOME": str(tmp_path)}
    env = {k: v for k, v in env.items() if not k.endswith(("_API_KEY", "_API_BASE"))}
    quick = subprocess.run(
        [python, "-c", QUICK_START], capture_output=True, text=True, timeout=300, env=env,
        check=False,
    )  # fmt: skip
    assert quick.returncode == 0, quick.stderr
    answer = json.loads(quick.stdout)  # the application's stdout holds its own output only
    assert answer["route"] == "kimi-k2/groq"
    assert answer["text"].startswith("[offline]")
    assert quick.stderr.count("runs offline") == 1  # said once, and no checkpoint line
    assert '"event"' not in quick.stderr
    assert (tmp_path / "data" / "audit.jsonl").exists()

    serve = subprocess.run(
        [venv / "bin" / "policy-router", "serve", "--allow-no-auth"],
        capture_output=True, text=True, timeout=120, env=env, check=False,
    )  # fmt: skip
    assert serve.returncode == 1
    assert serve.stderr == (
        "error: the HTTP proxy needs the 'proxy' extra: pip install 'policy-router[proxy]'\n"
    )


def test_tested_ends__the_lock_holds_the_lowest_and_both_are_in_the_range() -> None:
    from packaging.requirements import Requirement

    lock = tomllib.loads((REPO / "uv.lock").read_text())
    locked = next(p["version"] for p in lock["package"] if p["name"] == "litellm")
    (declared,) = [
        Requirement(r) for r in PYPROJECT["project"]["dependencies"] if r.startswith("litellm")
    ]
    assert TESTED[0] == locked
    assert all(declared.specifier.contains(end) for end in TESTED)
    assert not declared.specifier.contains("1.104.0a0")  # lower than the lowest tested
