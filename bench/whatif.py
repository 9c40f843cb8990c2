"""What-if: the router with the adapter settings the benchmarks recommend, without editing it.

Benchmarks only. ``tune()`` configures litellm through the adapter as usual, then changes two
of its module settings before the first request creates any HTTP client:

- ``aiohttp``: litellm's default aiohttp transport instead of httpx (the adapter chooses
  httpx so that respx sees every request in tests);
- ``message_logging``: ``turn_off_message_logging`` back to False. With every callback list
  empty nothing consumes the logging payload, yet with it True litellm deep-copies that
  payload on every call to redact it.

``python -m bench.whatif serve …`` is ``policy-router serve`` so tuned, and with ``--uvloop``
(an environment flag, ``BENCH_WHATIF_UVLOOP=1``) on uvloop's event loop, as LiteLLM's proxy is.
"""

from __future__ import annotations

import os
import sys
from typing import Final

KNOBS: Final = ("aiohttp", "message_logging")


def tune(knobs: tuple[str, ...] = KNOBS) -> None:
    """Configure litellm through the adapter, then apply ``knobs``."""
    from router import _litellm

    litellm = _litellm._module()
    if "aiohttp" in knobs:
        os.environ["DISABLE_AIOHTTP_TRANSPORT"] = "False"
        litellm.disable_aiohttp_transport = False
    if "message_logging" in knobs:
        litellm.turn_off_message_logging = False


def main() -> None:
    knobs = tuple(k for k in os.environ.get("BENCH_WHATIF_KNOBS", ",".join(KNOBS)).split(",") if k)
    tune(knobs)
    if os.environ.get("BENCH_WHATIF_UVLOOP") == "1":
        import asyncio

        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    from router.cli import app

    sys.argv[0] = "policy-router"
    app()


if __name__ == "__main__":
    main()
