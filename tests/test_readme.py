"""Every command and program shown in README.md runs as written, so the README cannot rot.

Shell blocks are read line by line: each ``policy-router …`` line is run (a trailing
``# exit N`` comment states the expected exit status), ``export`` lines set the environment
for the proxy, and ``curl`` lines are sent to a real ``policy-router serve`` process. Python
blocks are run as programs (offline: no network, no keys).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests._support.repo import REPO

pytestmark = pytest.mark.slow  # starts processes: left out by -m 'not slow'

README = (REPO / "README.md").read_text(encoding="utf-8")
BLOCK = re.compile(r"```(\w+)\n(.*?)```", re.DOTALL)


def blocks(language: str) -> list[str]:
    return [body for lang, body in BLOCK.findall(README) if lang == language]


def shell_lines(block: str) -> list[str]:
    """Whole commands: continuations joined, quotes spanning lines kept, blank lines dropped."""
    commands: list[str] = []
    pending = ""
    for line in block.replace("\\\n", " ").splitlines():
        pending = f"{pending}\n{line}" if pending else line
        try:
            shlex.split(pending, comments=True)
        except ValueError:  # a quote is still open: the command goes on
            continue
        if pending.strip():
            commands.append(pending)
        pending = ""
    assert not pending, f"unbalanced quotes in README: {pending!r}"
    return commands


def expected_exit(line: str) -> int:
    found = re.search(r"#\s*exit (\d+)", line)
    return int(found.group(1)) if found else 0


def cli_lines() -> list[str]:
    """``policy-router`` lines outside the proxy section, with the ``export`` lines among them."""
    return [
        line
        for block in blocks("bash")
        if "policy-router serve" not in block
        for line in shell_lines(block)
        if line.startswith(("policy-router ", "export "))
    ]


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory where the README's relative paths resolve, as in a checkout."""
    (tmp_path / "policies").symlink_to(REPO / "policies")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("POLICY_ROUTER_AUDIT", "audit.jsonl")
    return tmp_path


def run_cli(line: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    args = shlex.split(line, comments=True)
    assert args[0] == "policy-router"
    return subprocess.run(
        [sys.executable, "-m", "router.cli", *args[1:]],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=os.environ,
        timeout=120,
        check=False,
    )


def test_readme__first_command_routes_a_request_offline_on_a_fresh_checkout(
    workdir: Path,
) -> None:
    first = shell_lines(blocks("bash")[0])[0]
    install, command = first.split(" && ")
    assert install == "./scripts/install"
    assert (REPO / "scripts" / "install").exists()
    done = run_cli(command.replace(".venv/bin/policy-router", "policy-router"), workdir)
    assert done.returncode == 0, done.stderr
    assert "offline: no provider is contacted" in done.stderr
    assert "[offline] policy-router chose Groq for Kimi K2" in done.stdout
    assert '"event": "route.decision"' in done.stdout
    assert '"event": "route.attempt"' in done.stdout


def test_readme__second_command_is_what_ci_runs() -> None:
    second = shell_lines(blocks("bash")[0])[1]
    assert second == "./scripts/install && ./scripts/test"
    ci = (REPO / ".ci" / "run").read_text()
    assert "./scripts/install" in ci
    assert "./scripts/test" in ci


def test_readme__every_cli_line_runs_with_the_exit_status_it_states(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = cli_lines()
    assert len(lines) >= 15
    for line in lines:
        if line.startswith("export "):  # applies to the lines after it, as in a shell
            for assignment in shlex.split(line, comments=True)[1:]:
                monkeypatch.setenv(*assignment.split("=", 1))
            continue
        done = run_cli(line, workdir)
        assert done.returncode == expected_exit(line), f"{line}\n{done.stdout}\n{done.stderr}"
        assert "Traceback" not in done.stderr, line
    assert (workdir / "page.md").exists()
    assert (workdir / "2026-01.yaml").exists()
    assert (workdir / "checkpoints.jsonl").exists()  # "Proving compliance" wrote and read them


def run_offline_program(workdir: Path, marker: str) -> subprocess.CompletedProcess[str]:
    """The first Python block holding ``marker``, run as a program with nothing configured (no
    keys, no POLICY_ROUTER_* settings but the test's data directory): offline by itself."""
    program = next(b for b in blocks("python") if marker in b)
    script = workdir / "example.py"
    script.write_text(program)
    env = {k: v for k, v in os.environ.items() if k != "POLICY_ROUTER_AUDIT"}
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=workdir,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done


def test_readme__python_program_runs_offline(workdir: Path) -> None:
    done = run_offline_program(workdir, "asyncio.run(main())")
    assert "[offline] policy-router chose Groq for Kimi K2" in done.stdout
    assert done.stderr.count("runs offline") == 1  # said once, on the router logger
    assert '"event"' not in done.stdout + done.stderr  # no audit record, no checkpoint line
    data = Path(os.environ["POLICY_ROUTER_DATA_DIR"])
    assert '"event":"route.attempt"' in (data / "audit.jsonl").read_text()
    assert (data / "audit-checkpoints.jsonl").exists()
    assert "it keeps API data for 30 days, but max_retention allows no storage" in done.stdout
    assert "but max_retention allows at most 24 hours" in done.stdout


def test_readme__install_the_gate_runs_offline(workdir: Path) -> None:
    done = run_offline_program(workdir, "router.install()")
    printed = done.stdout.splitlines()
    assert printed[0].startswith("[offline] policy-router chose Groq for Kimi K2")
    assert printed[1].startswith("litellm.embedding is refused: router.install() lets litellm")
    audit = Path(os.environ["POLICY_ROUTER_DATA_DIR"]) / "audit.jsonl"  # not stderr
    assert [json.loads(line)["event"] for line in audit.read_text().splitlines()] == [
        "route.decision",
        "route.attempt",
    ]


def test_readme__preferences_snippet_runs(workdir: Path) -> None:
    snippet = next(b for b in blocks("python") if b.startswith("await router.preferences.set"))
    body = "\n".join(f"    {line}" for line in snippet.splitlines())
    program = (
        "import asyncio\nfrom router import PolicyRouter\n\n"
        "async def main():\n    router = PolicyRouter.from_settings()\n"
        f"{body}\n    await router.aclose()\n\nasyncio.run(main())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], cwd=workdir, capture_output=True, text=True,
        env=os.environ, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


# -- the proxy section: exports, serve, curl, openai SDK ---------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def proxy_block() -> list[str]:
    return next(shell_lines(b) for b in blocks("bash") if "policy-router serve" in b)


@pytest.fixture
def served(workdir: Path) -> Iterator[int]:
    """``policy-router serve`` as the README starts it, on a free loopback port, offline."""
    env = dict(os.environ, POLICY_ROUTER_OFFLINE="true")
    serve = None
    for line in proxy_block():
        if line.startswith("export "):
            name, value = line.removeprefix("export ").split("=", 1)
            env[name] = shlex.split(value)[0]
        elif line.startswith("policy-router serve"):
            serve = shlex.split(line)
    assert serve is not None
    port = free_port()
    args = list(serve[2:])
    args[args.index("--host") + 1] = "127.0.0.1"  # tests only listen on loopback
    args[args.index("--port") + 1] = str(port)
    log = (workdir / "serve.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "router.cli", "serve", *args],
        cwd=workdir, env=env, stdout=log, stderr=log,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        else:
            pytest.fail("the proxy did not start")
        yield port
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=30)
        log.close()
        assert code == 0, (workdir / "serve.log").read_text()


def test_readme__curl_examples_work_against_the_proxy(served: int) -> None:
    curls = [
        line for block in blocks("bash") for line in shell_lines(block) if line.startswith("curl ")
    ]
    assert len(curls) >= 6
    for line in curls:
        command = line.replace("localhost:8080", f"127.0.0.1:{served}")
        done = subprocess.run(
            ["bash", "-c", command], capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 0, f"{line}\n{done.stderr}"
        assert not re.search(r'"error":\s*\{', done.stdout), f"{line}\n{done.stdout}"
    first = shell_lines(next(b for b in blocks("bash") if b.startswith("curl ")))[0]
    reply = subprocess.run(
        ["bash", "-c", first.replace("localhost:8080", f"127.0.0.1:{served}")],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert json.loads(reply.stdout)["choices"][0]["message"]["content"].startswith("[offline]")


def run_sdk_example(served: int, marker: str) -> str:
    """The first Python block holding ``marker``, run against the proxy; its output."""
    program = next(b for b in blocks("python") if marker in b)
    program = program.replace("localhost:8080", f"127.0.0.1:{served}")
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_readme__openai_sdk_example_works_against_the_proxy(served: int) -> None:
    assert run_sdk_example(served, "from openai import OpenAI").startswith(
        "[offline] policy-router chose"
    )


def test_readme__openai_sdk_responses_example_works_against_the_proxy(served: int) -> None:
    first, streamed = run_sdk_example(served, "client.responses.create").splitlines()
    assert first.startswith("[offline] policy-router chose Groq for Kimi K2")
    assert streamed.startswith("[offline] policy-router chose")


def test_readme__aresponses_program_runs_offline(workdir: Path) -> None:
    done = run_offline_program(workdir, "router.aresponses(")
    first, streamed = done.stdout.splitlines()
    assert first.startswith("[offline] policy-router chose Groq for Kimi K2")
    assert streamed.startswith("[offline] policy-router chose OpenAI for GPT 4.1")
    audit = Path(os.environ["POLICY_ROUTER_DATA_DIR"]) / "audit.jsonl"
    assert '"api":"responses"' in audit.read_text()  # the data directory's log, not stderr


def test_readme__anthropic_sdk_example_works_against_the_proxy(served: int) -> None:
    program = next(b for b in blocks("python") if "import anthropic" in b)
    program = program.replace("localhost:8080", f"127.0.0.1:{served}")
    env = {k: v for k, v in os.environ.items() if "PROXY" not in k.upper()}
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, env=env, timeout=120,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    claude, streamed = done.stdout.split("\n", 1)
    assert (
        claude
        == "[offline] policy-router chose Anthropic for Claude 4.5 Sonnet; no provider was contacted."
    )
    assert (
        streamed == "[offline] policy-router chose OpenAI for GPT 4.1; no provider was contacted."
    )


def test_readme__amessages_program_runs_offline(workdir: Path) -> None:
    program = next(b for b in blocks("python") if "router.amessages(" in b)
    env = os.environ | {"POLICY_ROUTER_OFFLINE": "true", "POLICY_ROUTER_AUDIT": "stderr"}
    done = subprocess.run(
        [sys.executable, "-c", program], cwd=workdir, capture_output=True, text=True, env=env,
        timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("[offline] policy-router chose Anthropic for Claude 4.5 Sonnet")
    assert '"api":"messages"' in done.stderr.replace(" ", "")


def test_readme__documents_the_messages_surface_as_declared() -> None:
    from router._core.messages import markdown_table

    assert markdown_table() in README


def test_readme__documents_the_accepted_surface_as_declared() -> None:
    """The README's table is the declaration's: a parameter added or changed shows in both."""
    from router._core.responses import RESPONSES
    from router._core.surface import markdown_table

    assert markdown_table() in (REPO / "README.md").read_text()
    assert markdown_table(RESPONSES) in (REPO / "README.md").read_text()
