"""Every example in README.md and docs/*.md runs as written, so the documentation cannot rot.

Code blocks (read by tests/_support/docs.py) run by their language:
- bash: line by line, each by its command. ``policy-router …`` runs in the page's working
  directory (a trailing ``# exit N`` comment states the expected exit status); ``export`` sets
  the environment for the lines after it; ``curl`` goes to a real ``policy-router serve``,
  started as the page's own ``serve`` block says, else as the README's proxy quick start does.
- python: a program. One that talks to ``localhost:8080`` runs against that proxy; the others
  run with no provider keys and no network.
- yaml: parsed; a deployment fragment (``routes:``) loads as the deployment file it belongs in.
- an output block: tests/docs/test_outputs.py compares it with a fresh run.
A block the suite cannot run says why (``<!-- not run: REASON -->``). Each page runs in a fresh
working directory, top to bottom, so no example leans on another page or on a later section.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from tests._support.docs import (
    README,
    Block,
    all_blocks,
    blocks,
    environment,
    fresh_workdir,
    name,
    pages,
)
from tests._support.process import free_port, wait_until_healthy
from tests._support.repo import REPO

pytestmark = pytest.mark.slow  # starts processes: left out by -m 'not slow'

PROXY = "localhost:8080"
SHELL = ("bash", "sh")


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
        if pending.strip() and not pending.lstrip().startswith("#"):
            commands.append(pending)
        pending = ""
    assert not pending, f"unbalanced quotes: {pending!r}"
    return commands


def command_kind(line: str) -> str | None:
    """What runs a shell line: ``serve``, ``cli``, ``export``, ``curl`` or ``install`` (the
    README's first block); None for a line no test knows how to run."""
    for prefix, kind in (
        ("policy-router serve", "serve"),
        ("policy-router ", "cli"),
        ("export ", "export"),
        ("curl ", "curl"),
        ("./scripts/install && ", "install"),
    ):
        if line.startswith(prefix):
            return kind
    return None


def runs(block: Block) -> bool:
    """The block is output (compared elsewhere) or run here: not marked ``not run``."""
    return block.not_run is None and block.output_of is None


def page_lines(page: Path, *kinds: str) -> list[str]:
    """The page's shell lines of the given kinds, in order (a serve block's own exports left
    out: they are the server's environment)."""
    return [
        line
        for block in blocks(page)
        if block.language in SHELL and runs(block)
        for line in shell_lines(block.body)
        if command_kind(line) in kinds
        and not (kind_of_block(block) == "serve" and command_kind(line) == "export")
    ]


def kind_of_block(block: Block) -> str:
    lines = shell_lines(block.body)
    return "serve" if any(command_kind(line) == "serve" for line in lines) else "commands"


def expected_exit(line: str) -> int:
    found = re.search(r"#\s*exit (\d+)", line)
    return int(found.group(1)) if found else 0


def program_blocks(page: Path, *, proxy: bool) -> list[Block]:
    return [
        block
        for block in blocks(page)
        if block.language == "python" and runs(block) and (PROXY in block.body) == proxy
    ]


def run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=cwd, capture_output=True, text=True, env=env, timeout=180, check=False
    )


def run_cli(line: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    args = shlex.split(line, comments=True)
    assert args[0] == "policy-router"
    return run([sys.executable, "-m", "router.cli", *args[1:]], cwd, env)


def apply_export(line: str, env: dict[str, str]) -> None:
    for assignment in shlex.split(line, comments=True)[1:]:
        key, value = assignment.split("=", 1)
        env[key] = value


# -- every block is run, or says why ------------------------------------------------------


def test_docs__every_code_block_is_run_or_says_why_not() -> None:
    unknown = []
    for block in all_blocks():
        if not runs(block):
            assert block.not_run != "", f"{block.where}: 'not run' needs a reason"
            continue
        if block.language in SHELL:
            unknown += [
                f"{block.where}: {line}"
                for line in shell_lines(block.body)
                if command_kind(line) is None
            ]
        elif block.language not in ("python", "yaml"):
            unknown.append(
                f"{block.where}: a {block.language} block that is neither run nor output"
            )

    assert unknown == []


def test_docs__pages_exist_and_the_readme_links_each() -> None:
    readme = README.read_text(encoding="utf-8")
    missing = [name(p) for p in pages()[1:] if f"]({name(p)}" not in readme]

    assert len(pages()) >= 10
    assert missing == []


# -- the README's two commands -------------------------------------------------------------


def first_lines() -> list[str]:
    return shell_lines(blocks(README)[0].body)


def test_readme__first_command_routes_a_request_offline_on_a_fresh_checkout(
    tmp_path: Path,
) -> None:
    workdir = fresh_workdir(tmp_path / "work")
    install, command = first_lines()[0].split(" && ")
    assert install == "./scripts/install"
    assert (REPO / "scripts" / "install").exists()
    done = run_cli(command.replace(".venv/bin/policy-router", "policy-router"), workdir,
                   environment(workdir))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "offline: no provider is contacted" in done.stderr
    assert "[offline] policy-router chose Groq for Kimi K2" in done.stdout
    assert '"event": "route.decision"' in done.stdout
    assert '"event": "route.attempt"' in done.stdout


def test_readme__second_command_is_what_ci_runs() -> None:
    assert first_lines()[1] == "./scripts/install && ./scripts/test"
    ci = (REPO / ".ci" / "run").read_text()
    assert "./scripts/install" in ci
    assert "./scripts/test" in ci


def test_readme__library_quick_start_runs_offline_and_keeps_the_audit_out_of_its_output(
    tmp_path: Path,
) -> None:
    """With nothing configured the library goes offline and says so once; its audit records go
    to the data directory, never to the program's stdout or stderr (package24's defaults)."""
    workdir = fresh_workdir(tmp_path / "work")
    program = next(b for b in blocks(README) if b.language == "python")
    (workdir / "example.py").write_text(program.body)

    done = run([sys.executable, "example.py"], workdir, environment(workdir))

    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("[offline] policy-router chose Groq for Kimi K2")
    assert done.stderr.count("runs offline") == 1
    assert '"event"' not in done.stdout + done.stderr
    assert '"event":"route.attempt"' in (workdir / "data" / "audit.jsonl").read_text()


# -- command lines -------------------------------------------------------------------------

CLI_PAGES = [p for p in pages() if page_lines(p, "cli")]


@pytest.mark.parametrize("page", CLI_PAGES, ids=name)
def test_docs__every_cli_line_runs_with_the_exit_status_it_states(
    page: Path, tmp_path: Path
) -> None:
    workdir = fresh_workdir(tmp_path / "work")
    env = environment(workdir)
    for line in page_lines(page, "cli", "export"):
        if command_kind(line) == "export":  # applies to the lines after it, as in a shell
            apply_export(line, env)
            continue
        done = run_cli(line, workdir, env)
        assert done.returncode == expected_exit(line), f"{line}\n{done.stdout}\n{done.stderr}"
        assert "Traceback" not in done.stderr, line


# -- Python programs, offline --------------------------------------------------------------

PROGRAMS = [b for p in pages() for b in program_blocks(p, proxy=False)]


@pytest.mark.parametrize("block", PROGRAMS, ids=lambda b: b.where)
def test_docs__every_python_program_runs_with_no_keys_and_no_network(
    block: Block, tmp_path: Path
) -> None:
    workdir = fresh_workdir(tmp_path / "work")
    script = workdir / "example.py"
    script.write_text(block.body)
    done = run([sys.executable, str(script)], workdir, environment(workdir))

    assert done.returncode == 0, f"{block.where}\n{done.stdout}\n{done.stderr}"
    assert "Traceback" not in done.stderr


# -- YAML ----------------------------------------------------------------------------------

YAMLS = [b for b in all_blocks() if b.language == "yaml" and runs(b)]


@pytest.mark.parametrize("block", YAMLS, ids=lambda b: b.where)
def test_docs__every_yaml_block_parses_and_a_deployment_fragment_loads(
    block: Block, tmp_path: Path
) -> None:
    data = yaml.safe_load(block.body)
    assert isinstance(data, dict), block.where
    if set(data) != {"routes"}:
        return
    from router._upstream.deployment import load_deployment

    shipped = yaml.safe_load((REPO / "config" / "routes.yaml").read_text())
    for route, backends in data["routes"].items():
        shipped["routes"].setdefault(route, {}).update(backends)
    path = tmp_path / "routes.yaml"
    path.write_text(yaml.safe_dump(shipped))
    load_deployment(path)


# -- the proxy: serve, curl, the SDKs ------------------------------------------------------


def serve_block(page: Path) -> list[str]:
    """The page's own ``serve`` block, else the README's."""
    for source in (page, README):
        for block in blocks(source):
            if block.language in SHELL and runs(block) and kind_of_block(block) == "serve":
                return shell_lines(block.body)
    raise AssertionError("no page starts the proxy")


@contextmanager
def serve(page: Path, workdir: Path) -> Iterator[int]:
    """``policy-router serve`` as the page says, on a free loopback port."""
    env = environment(workdir)
    command: list[str] = []
    for line in serve_block(page):
        if command_kind(line) == "export":
            apply_export(line, env)
        elif command_kind(line) == "serve":
            command = shlex.split(line, comments=True)
    port = free_port()
    args = command[2:]
    args[args.index("--host") + 1] = "127.0.0.1"  # tests only listen on loopback
    args[args.index("--port") + 1] = str(port)
    log_path = workdir / "serve.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "router.cli", "serve", *args],
            cwd=workdir, env=env, stdout=log, stderr=log,
        )  # fmt: skip
        try:
            wait_until_healthy(f"http://127.0.0.1:{port}", process, log_path.read_text)
            yield port
        finally:
            process.send_signal(signal.SIGTERM)
            code = process.wait(timeout=30)
    assert code == 0, log_path.read_text()


PROXY_PAGES = [p for p in pages() if page_lines(p, "curl") or program_blocks(p, proxy=True)]


@pytest.mark.parametrize("page", PROXY_PAGES, ids=name)
def test_docs__every_curl_line_and_sdk_program_works_against_the_proxy(
    page: Path, tmp_path: Path
) -> None:
    workdir = fresh_workdir(tmp_path / "work")
    with serve(page, workdir) as port:
        for line in page_lines(page, "curl"):
            command = line.replace(PROXY, f"127.0.0.1:{port}")
            done = run(["bash", "-c", command], workdir, environment(workdir))
            assert done.returncode == 0, f"{line}\n{done.stderr}"
            expected = re.search(r"#\s*error (\w+)", line)
            error = re.search(r'"(?:code|type)":\s*"(\w+)"', done.stdout)
            if expected:
                assert error is not None, f"{line}\n{done.stdout}"
                assert expected.group(1) in done.stdout, f"{line}\n{done.stdout}"
            else:
                assert not re.search(r'"error":\s*\{', done.stdout), f"{line}\n{done.stdout}"
        for block in program_blocks(page, proxy=True):
            program = block.body.replace(PROXY, f"127.0.0.1:{port}")
            env = {k: v for k, v in os.environ.items() if "PROXY" not in k.upper()}
            done = run([sys.executable, "-c", program], workdir, env)
            assert done.returncode == 0, f"{block.where}\n{done.stderr}"
            assert done.stdout.startswith("[offline] policy-router chose"), block.where


def test_readme__proxy_quick_start_answers_offline(tmp_path: Path) -> None:
    workdir = fresh_workdir(tmp_path / "work")
    first = page_lines(README, "curl")[0]
    with serve(README, workdir) as port:
        reply = run(["bash", "-c", first.replace(PROXY, f"127.0.0.1:{port}")], workdir,
                    environment(workdir))  # fmt: skip
        body = json.loads(reply.stdout)
        assert body["choices"][0]["message"]["content"].startswith("[offline]")


# -- tables generated from the declarations -----------------------------------------------


def all_text() -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in pages())


def test_docs__document_the_accepted_surfaces_as_declared() -> None:
    """The docs' tables are the declarations': a parameter added or changed shows in both."""
    from router._core.messages import markdown_table as messages_table
    from router._core.responses import RESPONSES
    from router._core.surface import markdown_table

    text = all_text()
    assert markdown_table() in text
    assert markdown_table(RESPONSES) in text
    assert messages_table() in text
