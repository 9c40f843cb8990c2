"""A program that uses the router and never calls ``aclose()`` exits, and loses nothing."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

from tests._support.fake_upstream import TEXT, fake_upstream

PROGRAM = textwrap.dedent(
    """
    import asyncio
    from router import PolicyRouter

    async def main() -> None:
        router = PolicyRouter.from_settings()
        await router.preferences.set("alice", {"max_retention": "30d"})
        response = await router.acompletion(
            "Kimi K2", [{"role": "user", "content": "hi"}], user="alice"
        )
        print(response.choices[0].message.content, flush=True)

    asyncio.run(main())
    """
)


def test_a_program_that_never_calls_aclose_exits_with_its_writes_durable(tmp_path: Path) -> None:
    store = tmp_path / "prefs.sqlite3"
    with fake_upstream("ok") as upstream:
        env = {
            **os.environ,
            "POLICY_ROUTER_PROVIDERS__GROQ__API_BASE": upstream.base,
            "GROQ_API_KEY": "sk-fake",
            "POLICY_ROUTER_STORE_URL": f"sqlite:///{store}",
            "POLICY_ROUTER_PSEUDONYM_KEY": "test-pseudonym-key-0123456789abcdef",
            "POLICY_ROUTER_AUDIT": str(tmp_path / "audit.jsonl"),
        }
        done = subprocess.run(
            [sys.executable, "-c", PROGRAM],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,  # a hang at interpreter exit fails here
            check=False,
        )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == TEXT
    rows = sqlite3.connect(store).execute("SELECT user_id, prefs FROM user_preferences").fetchall()
    assert [(user, json.loads(prefs)["max_retention"]) for user, prefs in rows] == [
        ("alice", "30d")
    ]
