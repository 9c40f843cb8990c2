"""litellm, configured once: the HTTP transport the router's calls use.

The import itself, with the environment and process-wide settings it needs, is
router/_upstream/loader.py's (``_module`` here is the same function).
"""

from __future__ import annotations

import os
import sys
from typing import Any, Literal

from router._upstream.loader import ENVIRONMENT, imported, importing, loaded, retry_method
from router._upstream.loader import litellm_module as _module

__all__ = [
    "ENVIRONMENT",
    "Transport",
    "_module",
    "close_loop_clients",
    "configure",
    "configured",
    "imported",
    "importing",
    "loaded",
    "retry_method",
]

Transport = Literal["httpx", "aiohttp", "httptools"]


def configure(transport: Transport = "httpx") -> None:
    """Import and configure litellm now (idempotent), with the HTTP transport it uses: at
    ``serve``'s start-up when a route of the deployment needs it (router/_server/bootstrap.py),
    else through ``configured`` on the first request that needs it (the lean path's clients
    take the transport from their router: ``lean.Clients``).

    ``aiohttp`` (the settings' default, ``POLICY_ROUTER_TRANSPORT``: production traffic) is
    litellm's own default: measured here it costs less CPU per call, keeps streamed
    connections alive and has a much lower p99 under concurrency (bench/README.md). ``httpx``
    (this function's default, and what the tests set) keeps every provider call on httpx,
    where respx and other httpx-level tools see it. litellm caches its clients per event loop, so choose the
    transport before the first request; a later change applies only to new event loops.
    """
    litellm: Any = _module()
    use_httpx = transport == "httpx"
    if litellm.disable_aiohttp_transport is not use_httpx:
        os.environ["DISABLE_AIOHTTP_TRANSPORT"] = str(use_httpx)
        litellm.disable_aiohttp_transport = use_httpx


async def configured(transport: Transport = "httpx") -> None:
    """``configure``, with litellm imported in a worker thread if it is not yet: the event
    loop keeps serving other requests during the import's seconds."""
    await imported()
    configure(transport)


async def close_loop_clients() -> None:
    """Close the HTTP clients litellm cached on the running event loop, which is ending.

    They are of no use after it (a client belongs to its loop), and left open they warn at
    exit ("Unclosed client session"). Clients of other loops, and a client the application
    handed litellm (``aclient_session``), are left alone. Nothing if litellm was never used,
    or while a worker thread is still importing it.
    """
    if "litellm" not in sys.modules or importing():
        return
    import asyncio

    litellm: Any = sys.modules["litellm"]
    loop = asyncio.get_running_loop()
    cache = getattr(litellm.in_memory_llm_clients_cache, "cache_dict", {})
    for key, cached in list(cache.items()):
        session = _aiohttp_session(cached)
        if (
            session is not None
            and getattr(session, "_loop", None) is loop
            and not session.closed
            and session is not getattr(litellm, "aclient_session", None)
        ):
            await session.close()
            cache.pop(key, None)


def _aiohttp_session(cached: Any) -> Any:
    """The aiohttp session under one of litellm's cached clients, if it has one."""
    client = getattr(cached, "client", None) or getattr(cached, "_client", None) or cached
    transport = getattr(client, "_transport", None)
    for owner in (transport, cached):
        session = getattr(owner, "client", None) or getattr(owner, "_client_session", None)
        if session is not None and hasattr(session, "closed") and hasattr(session, "_loop"):
            return session
    return None
