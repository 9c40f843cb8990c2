"""Benchmarks only: ``serve``'s app as a factory for granian (bench/lean.py's ``serve-granian``).

Issue 25 tried granian, a Rust HTTP server, in place of uvicorn (bench/README.md, "Tried:
granian"); it was not adopted. granian is not a dependency: install it by hand to re-run
(``uv pip install granian==2.8.9 rloop``; a later ``uv sync --frozen`` removes it again).

The app is router/_server/workers.py's, as each worker of ``serve --workers`` builds it, with
two differences: granian calls the factory before its event loop runs, where the SIGHUP reload
(which needs the running loop) cannot be set up, so it is left out here; and serve's logging
configuration (router/_server/logs.py, which uvicorn applies) is applied here, so that the
access log lines are written as under uvicorn.
"""

from __future__ import annotations

from typing import Any


def app() -> Any:
    import logging.config

    from router._server import logs, workers

    logging.config.dictConfig(logs.config())
    workers.reload_on_sighup = lambda _router: None  # type: ignore[assignment,return-value]
    return workers.app()
