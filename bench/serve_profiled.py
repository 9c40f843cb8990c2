"""``policy-router serve`` with cProfile switched on by SIGUSR1 and dumped by SIGUSR2.

Start-up (imports, the catalog) stays out of the profile: bench/lean.py sends SIGUSR1 after
the warm-up and SIGUSR2 after the load.

    python -m bench.serve_profiled OUT.prof   # then kill -USR1 / -USR2 <pid>
"""

from __future__ import annotations

import cProfile
import signal
import sys
from types import FrameType

PROFILE = cProfile.Profile()
OUT: list[str] = []


def _enable(_signum: int, _frame: FrameType | None) -> None:
    PROFILE.enable()


def _dump(_signum: int, _frame: FrameType | None) -> None:
    PROFILE.disable()
    PROFILE.dump_stats(OUT[0])


def main() -> None:
    OUT.append(sys.argv[1])
    signal.signal(signal.SIGUSR1, _enable)
    signal.signal(signal.SIGUSR2, _dump)
    sys.argv = ["policy-router", "serve"]
    from router.cli import main as cli

    cli()


if __name__ == "__main__":
    main()
