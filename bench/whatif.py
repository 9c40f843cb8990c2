"""What-if: the router with the transport the benchmarks recommend, without editing it.

Benchmarks only. ``tune()`` configures litellm through the adapter as usual, then turns
litellm's default aiohttp transport back on before the first request creates any HTTP client
(the adapter chooses httpx so that respx sees every request in tests; see bench/README.md for
what that costs).

``python -m bench.whatif serve …`` is ``policy-router serve`` so tuned; with
``BENCH_WHATIF_UVLOOP=1`` it also runs on uvloop's event loop, as LiteLLM's proxy does.
"""

from __future__ import annotations

import os
import sys


def tune() -> None:
    """Configure litellm through the adapter, then switch it to the aiohttp transport."""
    from router import _litellm

    litellm = _litellm._module()
    os.environ["DISABLE_AIOHTTP_TRANSPORT"] = "False"
    litellm.disable_aiohttp_transport = False


def main() -> None:
    tune()
    if os.environ.get("BENCH_WHATIF_UVLOOP") == "1":
        import asyncio

        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    from router.cli import app

    sys.argv[0] = "policy-router"
    app()


if __name__ == "__main__":
    main()
