"""The two published pages the shipped catalogs were first imported from, in ``../shared/seeds``.

They are not part of this repository: the folder sits beside the checkout in the workspace the
project grew in. Where it is absent, the tests that read them are skipped with the reason (and
nothing else in the suite skips); ``POLICY_ROUTER_TEST_REQUIRE_SEEDS=1``, which ``.ci/run`` sets,
turns that skip into a failure. Page import is tested without them on the pages under
``tests/catalog_tools/pages``, rendered from the shipped catalogs.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

import pytest

from tests._support.repo import REPO

SEEDS: Final = REPO.parent / "shared" / "seeds"
REQUIRE_VARIABLE: Final = "POLICY_ROUTER_TEST_REQUIRE_SEEDS"
# Read once, at import: the autouse fixture in conftest.py clears POLICY_ROUTER_* for each test.
REQUIRED: Final = os.environ.get(REQUIRE_VARIABLE, "") not in ("", "0")


def published_page(prefix: str) -> Path:
    """The seed page whose name starts with ``prefix`` (``000`` older, ``001`` newer).

    Skip the calling test when the seeds are absent, or fail it when they are required.
    """
    if not SEEDS.is_dir():
        reason = f"the published seed pages are not beside this checkout ({SEEDS} is absent)"
        if REQUIRED:
            pytest.fail(f"{reason}; {REQUIRE_VARIABLE} is set, so they are required")
        pytest.skip(reason)
    (path,) = SEEDS.glob(f"{prefix}_*.txt")
    return path
