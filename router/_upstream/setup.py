"""litellm, configured once: the HTTP transport the router's calls use.

The import itself, with the environment and process-wide settings it needs, is
router/_upstream/loader.py's (``_module`` here is the same function).
"""

from __future__ import annotations

import os
from typing import Any, Literal

from router._upstream.loader import ENVIRONMENT
from router._upstream.loader import litellm_module as _module

__all__ = ["ENVIRONMENT", "Transport", "_module", "configure"]

Transport = Literal["httpx", "aiohttp"]


def configure(transport: Transport = "httpx") -> None:
    """Import and configure litellm now (idempotent), with the HTTP transport to use.

    ``aiohttp`` (the settings' default, ``POLICY_ROUTER_TRANSPORT``: production traffic) is
    litellm's own default: measured here it costs less CPU per call, keeps streamed
    connections alive and has a much lower p99 under concurrency (bench/README.md). ``httpx``
    (this function's default, and what the tests set) keeps every provider call on httpx,
    where respx and other httpx-level tools see it. litellm caches its clients per event loop, so choose the
    transport before the first request; a later change applies only to new event loops.
    """
    from router._upstream import lean

    lean.configure(transport)
    litellm: Any = _module()
    use_httpx = transport == "httpx"
    if litellm.disable_aiohttp_transport is not use_httpx:  # called per request: write on change
        os.environ["DISABLE_AIOHTTP_TRANSPORT"] = str(use_httpx)
        litellm.disable_aiohttp_transport = use_httpx
