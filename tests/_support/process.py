"""Helpers for tests that start ``policy-router serve``: a free port, a clean environment, and
waiting for ``/healthz``."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Callable

import httpx
import pytest

from tests._support.wire import FAKE_CREDENTIALS

START_TIMEOUT = 120.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_environment(**extra: str) -> dict[str, str]:
    """This process's environment without developer settings, provider credentials or proxies
    (the server only reaches loopback), and ``extra``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in FAKE_CREDENTIALS
        and not k.startswith("POLICY_ROUTER_")
        and "PROXY" not in k.upper()
    }
    return env | {"NO_PROXY": "*"} | extra


def wait_until_healthy(
    base_url: str, process: subprocess.Popen[bytes], logs: Callable[[], str]
) -> None:
    """Until ``/healthz`` answers; fails the test if the server exits or takes too long."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server exited with {process.returncode}:\n{logs()}")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1, trust_env=False).is_success:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    pytest.fail(f"the server did not answer /healthz in {START_TIMEOUT}s:\n{logs()}")
