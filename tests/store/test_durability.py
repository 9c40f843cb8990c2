"""kill -9 while preferences are written: no write the store acknowledged is lost.

A child process writes several users' preferences in turn (``max_retention`` 1h, 2h, …) and
prints each write once ``set`` has returned; the parent kills it with SIGKILL mid-stream,
three times over, then reads every user back. bench/adversarial.py runs the same loop
against ``policy-router serve`` over HTTP, for longer.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path
from typing import Final

from router._core.duration import Duration
from router._store import open_store

WRITER: Final = """
import asyncio, sys
from router import Preferences
from router._store import open_store

async def write(store, user):
    for hours in range(1, 1_000_000):
        await store.set(user, Preferences(max_retention=f"{hours}h"))
        print(user, hours, flush=True)

async def main():
    store = await open_store(sys.argv[1])
    await asyncio.gather(*(write(store, f"{sys.argv[2]}-{w}") for w in range(4)))

asyncio.run(main())
"""


async def _round(url: str, name: str, acked: dict[str, int]) -> None:
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", WRITER, url, name, stdout=asyncio.subprocess.PIPE
    )
    assert child.stdout is not None
    lines = 0
    try:
        async with asyncio.timeout(30):
            while lines < 60:  # kill it once it is well into writing
                user, hours = (await child.stdout.readline()).decode().split()
                acked[user] = int(hours)
                lines += 1
    finally:
        child.send_signal(signal.SIGKILL)
        rest = await child.stdout.read()
        await child.wait()
    for line in rest.decode().splitlines():  # acknowledged before the kill, read after it
        user, hours = line.split()
        acked[user] = int(hours)
    assert child.returncode == -signal.SIGKILL


async def test_durability__no_acknowledged_write_is_lost_to_kill_9(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'prefs.sqlite3'}"
    acked: dict[str, int] = {}
    for name in ("a", "b", "a"):  # the third round overwrites the first round's users
        await _round(url, name, acked)
    store = await open_store(url)
    try:
        for user, hours in acked.items():
            stored = await store.get(user)
            assert stored is not None, user
            assert stored.max_retention in {
                Duration(hours * 3600.0),
                Duration((hours + 1) * 3600.0),  # the write in flight at the kill
            }, user
    finally:
        await store.aclose()
