"""Sample outputs in README.md and docs/*.md are generated, never pasted: each output block
(``<!-- output of: COMMAND -->`` or ``<!-- output of the block above -->`` on the line above
it) equals a fresh run, offline, with no keys, in a fresh working directory.

COMMAND is a shell command line. One that is ``policy-router serve …`` (after variables it
assigns) starts the server on a free port, takes its log up to the moment it answers, stops it,
and passes the log to the rest of the pipeline (``policy-router serve … | head -n 5``).

When an output changes on purpose, rewrite every output block with:

    .venv/bin/python -m tests.docs.test_outputs
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests._support.docs import (
    FENCE,
    Block,
    all_blocks,
    block_above,
    environment,
    fresh_workdir,
    matches_output,
    pages,
)
from tests._support.process import free_port, wait_until_healthy

pytestmark = pytest.mark.slow  # starts processes: left out by -m 'not slow'

OUTPUTS = [block for block in all_blocks() if block.output_of is not None]


def bash(script: str, workdir: Path, stdin: str | None = None) -> str:
    done = subprocess.run(
        ["bash", "-c", script], cwd=workdir, env=environment(workdir), input=stdin,
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    return done.stdout


SERVE = re.compile(r"(?:\w+=\S+ )*policy-router serve[^;&|]*")


def served_log(command: str, workdir: Path) -> str:
    """The log ``policy-router serve`` writes until it answers, its port shown as given (the
    variables assigned before the command are its environment)."""
    words = shlex.split(command)
    assigned = dict(w.split("=", 1) for w in words[: words.index("policy-router")])
    args = words[words.index("policy-router") :]
    port = free_port()
    shown_port = args[args.index("--port") + 1] if "--port" in args else "8080"
    if "--port" in args:
        args[args.index("--port") + 1] = str(port)
    else:
        args += ["--port", str(port)]
    log_path = workdir / "serve.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "router.cli", *args[1:]],
            cwd=workdir, env=environment(workdir) | assigned, stdout=log, stderr=log,
        )  # fmt: skip
        try:
            wait_until_healthy(f"http://127.0.0.1:{port}", process, log_path.read_text)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
    started = log_path.read_text().split("Shutting down")[0]
    return started.replace(f":{port}", f":{shown_port}")


def fresh_output(block: Block, workdir: Path) -> str:
    command = block.output_of
    if command == "":
        above = block_above(block)
        if above.language == "python":
            (workdir / "example.py").write_text(above.body)
            return bash(f"{shlex.quote(sys.executable)} example.py", workdir)
        return bash(above.body, workdir)
    assert command
    serve, _, rest = command.partition(" | ")
    if SERVE.fullmatch(serve):
        log = served_log(serve, workdir)
        return bash(rest, workdir, stdin=log) if rest else log
    return bash(command, workdir)


@pytest.mark.parametrize("block", OUTPUTS, ids=lambda b: b.where)
def test_docs__every_output_shown_is_a_fresh_run(block: Block, tmp_path: Path) -> None:
    fresh = fresh_output(block, fresh_workdir(tmp_path / "work"))

    assert matches_output(block.body, fresh), (
        f"{block.where} shows an output that a fresh run no longer prints; "
        f"rewrite it with: .venv/bin/python -m tests.docs.test_outputs\n--- fresh:\n{fresh}"
    )


def test_docs__show_generated_outputs_at_least_for_the_stale_ones() -> None:
    """The catalog's version hash changes with every catalog edit: shown only where generated."""
    notes = {block.output_of for block in OUTPUTS}

    assert "policy-router catalog validate" in notes
    assert any(note and note.startswith("policy-router serve") for note in notes)
    hashes = re.compile(r"\d{4}-\d{2}@[0-9a-f]{12}")
    for page in pages():
        prose = FENCE.sub("", page.read_text(encoding="utf-8"))
        assert not hashes.search(prose), f"{page}: a catalog hash outside a generated output"


def regenerate() -> None:
    """Rewrite every output block with a fresh run (elided blocks keep only their shown lines'
    form: regenerate those by hand)."""
    for name in [n for n in os.environ if n.startswith("POLICY_ROUTER_") or n.endswith("_API_KEY")]:
        del os.environ[name]
    for page in pages():
        text = page.read_text(encoding="utf-8")
        for block in reversed(
            [b for b in all_blocks() if b.page == page and b.output_of is not None]
        ):
            with tempfile.TemporaryDirectory() as tmp:
                fresh = fresh_output(block, fresh_workdir(Path(tmp) / "work"))
            start = sum(len(line) for line in text.splitlines(keepends=True)[: block.line])
            end = text.index("```", start)
            indent = " " * (len(text[:end]) - len(text[:end].rstrip(" ")))
            body = "".join(
                f"{indent}{line}\n" if line else "\n" for line in fresh.rstrip("\n").split("\n")
            )
            text = text[:start] + body + text[end - len(indent) :]
        page.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    regenerate()
