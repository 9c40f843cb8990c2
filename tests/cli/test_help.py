"""The command line's own surface: --version, help that fits the terminal, and the spinner
while litellm loads (on a terminal only)."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from importlib.metadata import version

import pytest
from typer.testing import CliRunner

from router import load_catalog
from router.cli import app
from tests._support.repo import CURRENT_CATALOG


def test_version__names_the_package_the_catalog_and_litellm() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout == (
        f"policy-router {version('policy-router')}, catalog {load_catalog(CURRENT_CATALOG).label}, "
        f"litellm {version('litellm')}\n"
    )


def test_version__does_not_import_litellm() -> None:
    program = (
        "import sys\nfrom router.cli import main\nsys.argv = ['policy-router', '--version']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\nassert 'litellm' not in sys.modules\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("policy-router ")


@pytest.mark.parametrize("columns", [60, 100, 200])
@pytest.mark.parametrize("command", [[], ["prefs", "set"], ["explain"], ["audit", "query"]])
def test_help__fits_the_terminal_and_shows_flags_whole(columns: int, command: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "router.cli", *command, "--help"],
        env=os.environ | {"COLUMNS": str(columns)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert max(len(line) for line in done.stdout.splitlines()) <= columns
    assert "<bool>" not in done.stdout  # a flag takes no value
    if command == ["prefs", "set"]:  # the longest option names, whole on their line
        assert "  --allow-flagged-retention / --no-allow-flagged-retention\n" in done.stdout


def run_on_a_terminal(*args: str) -> tuple[int, str]:
    """``policy-router args`` with stdout and stderr on a pseudo-terminal; what it showed."""
    leader, follower = pty.openpty()
    env = os.environ | {"COLUMNS": "100", "TERM": "xterm"}
    process = subprocess.Popen(
        [sys.executable, "-m", "router.cli", *args],
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
        env=env,
    )
    os.close(follower)
    shown = bytearray()
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closed: the process is done
            break
        if not chunk:
            break
        shown += chunk
    os.close(leader)
    return process.wait(timeout=120), shown.decode(errors="replace")


@pytest.mark.slow
def test_route__on_a_terminal__says_litellm_is_loading() -> None:
    """Claude's routes need litellm (a lean route never loads it: tests/test_imports.py)."""
    code, shown = run_on_a_terminal(
        "route", "Claude 4.5 Sonnet", "Hello", "--user", "alice", "--offline"
    )
    assert code == 0, shown
    assert "loading litellm..." in shown
    assert "[offline] policy-router chose" in shown


@pytest.mark.slow
def test_route__piped__no_progress_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "router.cli", "route", "Claude 4.5 Sonnet", "Hello", "--offline"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "loading litellm" not in done.stderr + done.stdout
