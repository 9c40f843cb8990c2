"""Schemathesis against ``/openapi.json``, at length: tests/server/test_openapi.py with many examples.

    uv run --frozen python -m bench.schemathesis [--examples 500]

Runs the suite's schemathesis test (every operation; no 500, schema-valid requests accepted,
schema-violating ones refused, answers as documented, ``Allow`` right on a 405) with
``--examples`` generated requests per operation instead of the suite's 15, and prints pytest's
summary. Exits with pytest's status.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

from bench._common import ROOT


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=500, help="per operation")
    args = parser.parse_args()
    env = os.environ | {"POLICY_ROUTER_TEST_SCHEMATHESIS_EXAMPLES": str(args.examples)}
    command = [
        sys.executable,
        "-m",
        "pytest",
        "tests/server/test_openapi.py",
        "-q",
        "-p",
        "no:cacheprovider",
    ]
    done = subprocess.run(command, cwd=ROOT, env=env, check=False)
    print(f"schemathesis: {args.examples} examples per operation; pytest exit {done.returncode}")
    sys.exit(done.returncode)


if __name__ == "__main__":
    main()
