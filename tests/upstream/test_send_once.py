"""One send per audited attempt: litellm never re-sends a request behind the router's back.

litellm's own HTTP handler (``AsyncHTTPHandler``: Groq, Together and others) sends a POST a
second time after a ``RemoteProtocolError`` or ``ConnectError``; router/_upstream/setup.py
stops that. A fake provider on loopback counts what it receives and drops the connection.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, Final

import pytest

from router._audit import AuditLog
from router._config.settings import Settings
from router._errors import BackendUnavailable
from router._router import PolicyRouter
from router._upstream.setup import _module, configure, retry_method
from tests._support.faults import Faults, FaultUpstream
from tests._support.wire import FAKE_CREDENTIALS

PROVIDERS: Final = (
    "groq",
    "together",
    "deepinfra",
)  # kimi-k2's routes; the first two on litellm's handler
CREDENTIALS: Final = ("GROQ_API_KEY", "TOGETHERAI_API_KEY", "DEEPINFRA_API_KEY")


@pytest.fixture
def upstream() -> Iterator[FaultUpstream]:
    fake = FaultUpstream(Faults({"close": 1.0})).start()
    yield fake
    fake.stop()


@pytest.fixture(params=["httpx", "aiohttp", "httptools"])
async def transport(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """The transport under test; afterwards litellm's cached clients are closed and dropped,
    and the httpx transport the rest of the suite relies on is back."""
    yield request.param
    from litellm.llms.custom_httpx.async_client_cleanup import (  # noqa: TID251
        close_litellm_async_clients,
    )

    await close_litellm_async_clients()
    _module().in_memory_llm_clients_cache.flush_cache()
    configure("httpx")


def fault_settings(tmp_path: Path, upstream: FaultUpstream, **overrides: Any) -> Settings:
    fields: dict[str, Any] = {
        "store_url": f"sqlite:///{tmp_path / 'prefs.sqlite3'}",
        "pseudonym_key": "test-pseudonym-key-0123456789abcdef",
        "providers": {p: {"api_base": upstream.base_url} for p in PROVIDERS},
        "org": {"allow_providers": list(PROVIDERS)},
        "timeout": 5.0,
    }
    return Settings(**(fields | overrides))


def test_litellm__still_resends_through_the_method_we_replace() -> None:
    """If litellm moves its retry, this fails: re-check router/_upstream/setup.py's _send_once."""
    from litellm.llms.custom_httpx.http_handler import AsyncHTTPHandler  # noqa: TID251

    _module()
    name = retry_method(AsyncHTTPHandler)
    source = inspect.getsource(inspect.unwrap(AsyncHTTPHandler.post))
    # litellm < 1.110 catches both errors; 1.110 and later ConnectError only
    retry = re.split(
        r"except (?:\(httpx\.RemoteProtocolError, httpx\.ConnectError\)|httpx\.ConnectError):",
        source,
        maxsplit=1,
    )
    assert len(retry) == 2, "litellm's post() no longer catches connection errors this way"
    assert f"self.{name}(" in retry[1].split("except", 1)[0]
    assert getattr(getattr(AsyncHTTPHandler, name), "_sends_once", False)


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("fault", ["close", "reset"])
async def test_send_once__every_request_the_provider_received_is_one_audited_attempt(
    tmp_path: Path,
    upstream: FaultUpstream,
    monkeypatch: pytest.MonkeyPatch,
    transport: str,
    stream: bool,
    fault: str,
) -> None:
    for name in CREDENTIALS:
        monkeypatch.setenv(name, FAKE_CREDENTIALS[name])
    lines: list[str] = []
    settings = fault_settings(tmp_path, upstream, transport=transport)
    messages = [{"role": "user", "content": f"[req-1] [fault:{fault}] hello"}]
    async with PolicyRouter.from_settings(settings, audit_log=AuditLog(lines.append)) as router:
        with pytest.raises(BackendUnavailable):
            await router.acompletion("kimi-k2", messages, stream=stream)
    attempts = [r for r in map(json.loads, lines) if r["event"] == "route.attempt"]
    assert sorted(a["provider"] for a in attempts) == sorted(PROVIDERS)
    assert {a["outcome"] for a in attempts} == {"connection"}
    assert upstream.received["1"] == len(attempts)
