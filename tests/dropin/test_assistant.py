"""The assistant in tests/dropin/assistant.py runs on policy-router with only its import changed.

Both runs talk to the same fake provider on 127.0.0.1, scripted to ask for a tool, answer,
stream, then refuse once with 429 before answering: the ``except litellm.RateLimitError``
retry path runs in both.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests._support.fake_upstream import fake_upstream

PROGRAM = Path(__file__).with_name("assistant.py")
LITELLM_IMPORT = "import litellm  # noqa: TID251\n\nacompletion = litellm.acompletion\n"
ROUTER_IMPORT = (
    "import litellm  # noqa: TID251\n\n"
    "from router import PolicyRouter\n\n"
    "acompletion = PolicyRouter.from_settings().acompletion\n"
)
SCRIPT = ("tool", "tool", "ok", "429", "tool", "tool")
EXPECTED = """\
tool get_weather -> sunny in Paris
tool loop: hello from the fake upstream
streamed: hello from the fake upstream
rate limited (HTTP 429), retry 1
tool get_weather -> sunny in Paris
after a rate limit: hello from the fake upstream
"""


def _run(source: str, env: dict[str, str], base: str) -> tuple[str, list[dict[str, object]]]:
    """Run ``source`` against a fresh fake provider whose address goes in the variable ``base``."""
    with fake_upstream(*SCRIPT) as upstream:
        done = subprocess.run(
            [sys.executable, "-c", source],
            env={**os.environ, **env, "OPENAI_API_KEY": "sk-fake", base: upstream.base},
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return _transcript(done.stdout), upstream.requests


def _transcript(stdout: str) -> str:
    """What the assistant printed, without the help banner litellm prints on each error."""
    banner = ("Give Feedback / Get Help", "LiteLLM.Info:")
    lines = [line for line in stdout.splitlines() if line and not any(b in line for b in banner)]
    return "".join(line + "\n" for line in lines)


def test_the_assistant_runs_on_litellm_and_on_the_router_with_only_its_import_changed(
    tmp_path: Path,
) -> None:
    source = PROGRAM.read_text()
    assert source.count(LITELLM_IMPORT) == 1
    on_router_source = source.replace(LITELLM_IMPORT, ROUTER_IMPORT)
    router_env = {
        "ASSISTANT_MODEL": "GPT 4.1",  # a model of the catalog
        "POLICY_ROUTER_PSEUDONYM_KEY": "test-pseudonym-key-0123456789abcdef",
        "POLICY_ROUTER_AUDIT": str(tmp_path / "audit.jsonl"),
    }

    on_litellm, sent_by_litellm = _run(
        source, {"ASSISTANT_MODEL": "openai/gpt-4.1"}, "OPENAI_API_BASE"
    )
    on_router, sent_by_router = _run(
        on_router_source, router_env, "POLICY_ROUTER_PROVIDERS__OPENAI__API_BASE"
    )

    assert on_litellm == EXPECTED
    assert on_router == EXPECTED
    assert len(sent_by_litellm) == len(sent_by_router) == len(SCRIPT)
    # the one difference on the wire: OpenAI's route omits the user identifier
    assert all(body.get("user") == "alice-4242" for body in sent_by_litellm)
    assert all("user" not in body for body in sent_by_router)
