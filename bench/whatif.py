"""What-if: ``policy-router serve`` on uvloop's event loop, without editing the router.

Benchmarks only. ``serve`` runs uvicorn under ``asyncio.run`` on the default event loop;
LiteLLM's proxy runs on uvloop. ``python -m bench.whatif serve …`` installs uvloop's event
loop policy first, then runs the ``policy-router`` command as usual.
"""

from __future__ import annotations

import asyncio
import sys


def main() -> None:
    import uvloop

    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    from router.cli import app

    sys.argv[0] = "policy-router"
    app()


if __name__ == "__main__":
    main()
