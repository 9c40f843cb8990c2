"""A program that never closes its router exits quietly, and litellm is imported offline.

Each program runs in a fresh interpreter, on the production transport (aiohttp), against the
fake provider on loopback, with warnings made errors and every ResourceWarning shown: an
unclosed session, connector, socket or database connection would print to stderr.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests._support.fake_upstream import TEXT, FakeUpstream, fake_upstream

pytestmark = pytest.mark.slow  # starts interpreters: left out by -m 'not slow'

OFFLINE = ("LITELLM_OFFLINE_MODE", "LITELLM_LOCAL_MODEL_COST_MAP", "DISABLE_AIOHTTP_TRANSPORT")


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeUpstream]:
    with fake_upstream("ok") as fake:
        yield fake


def run(program: str, upstream: FakeUpstream, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in OFFLINE and k != "POLICY_ROUTER_TRANSPORT"  # production's defaults
    }
    env |= {
        "POLICY_ROUTER_PROVIDERS__GROQ__API_BASE": upstream.base,
        "POLICY_ROUTER_PROVIDERS__ANTHROPIC__API_BASE": upstream.base,
        "GROQ_API_KEY": "sk-fake",
        "ANTHROPIC_API_KEY": "sk-fake",
        "POLICY_ROUTER_STORE_URL": f"sqlite:///{tmp_path / 'prefs.sqlite3'}",
        "POLICY_ROUTER_PSEUDONYM_KEY": "test-pseudonym-key-0123456789abcdef",
        "POLICY_ROUTER_AUDIT": str(tmp_path / "audit.jsonl"),
    }
    return subprocess.run(
        [sys.executable, "-W", "error", "-W", "always::ResourceWarning", "-c", program],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
    )


NEVER_CLOSED_ASYNC = textwrap.dedent(
    """
    import asyncio
    from router import PolicyRouter

    acompletion = PolicyRouter.from_settings().acompletion  # the docs' one line

    async def main() -> None:
        for model in ("Kimi K2", "Claude 4.5 Haiku"):  # the lean path, then litellm's
            response = await acompletion(model, [{"role": "user", "content": "hi"}], user="al")
            print(response.choices[0].message.content)

    asyncio.run(main())
    """
)

NEVER_CLOSED_SYNC = textwrap.dedent(
    """
    import router

    router.install()  # imports litellm, offline, before the application does

    import litellm
    for model in ("Kimi K2", "Claude 4.5 Haiku"):
        response = litellm.completion(model=model, messages=[{"role": "user", "content": "hi"}])
        print(response.choices[0].message.content)
    """
)


@pytest.mark.parametrize(
    "program", [NEVER_CLOSED_ASYNC, NEVER_CLOSED_SYNC], ids=["asyncio.run", "sync, installed"]
)
def test_a_router_never_closed__exits_without_a_warning(
    program: str, upstream: FakeUpstream, tmp_path: Path
) -> None:
    done = run(program, upstream, tmp_path)
    assert (done.returncode, done.stderr) == (0, ""), done.stderr
    assert done.stdout.split("\n") == [TEXT, TEXT, ""]


# Records the environment litellm's import sees: its offline variables must be set by then.
WATCH_IMPORT = textwrap.dedent(
    """
    import os, sys
    seen = []

    class Watch:
        def find_spec(self, name, path=None, target=None):
            if name == "litellm" and not seen:
                seen.append(os.environ.get("LITELLM_LOCAL_MODEL_COST_MAP"))
            return None

    sys.meta_path.insert(0, Watch())
    import asyncio, router
    r = router.PolicyRouter.from_settings()
    hi = [{"role": "user", "content": "hi"}]
    """
)
ENTRY_POINTS = {
    "acompletion": "asyncio.run(r.acompletion('Kimi K2', hi))",
    "completion": "r.completion('Kimi K2', hi)",
    "aresponses": "asyncio.run(r.aresponses('Kimi K2', 'hi'))",
    "responses": "r.responses('Kimi K2', 'hi')",
    # a tool: not the plain text the router translates itself, so litellm's adapter is loaded
    "amessages": "asyncio.run(r.amessages(model='Kimi K2', max_tokens=5, messages=hi, "
    "tools=[{'name': 'f', 'input_schema': {'type': 'object'}}]))",
    "messages": "r.messages(model='Claude 4.5 Haiku', max_tokens=5, messages=hi)",
    "install": "router.install(r)",
}


@pytest.mark.parametrize("entry", sorted(ENTRY_POINTS))
def test_litellm_is_imported_only_after_its_offline_variables_are_set(
    entry: str, upstream: FakeUpstream, tmp_path: Path
) -> None:
    program = WATCH_IMPORT + ENTRY_POINTS[entry] + "\nprint(seen)\n"
    done = run(program, upstream, tmp_path)
    assert (done.returncode, done.stderr) == (0, ""), done.stderr
    assert done.stdout.strip() == "['True']"
