"""Paths into this checkout that tests read."""

from __future__ import annotations

from pathlib import Path
from typing import Final

REPO: Final = Path(__file__).resolve().parents[2]
CURRENT_CATALOG: Final = REPO / "policies" / "2025-11.yaml"
PREVIOUS_CATALOG: Final = REPO / "policies" / "2025-06.yaml"
# The shipped catalogs rendered as the published page, in both styles (``<catalog>.<style>.md``),
# by ``policy-router catalog render``; tests/catalog_tools/test_page.py keeps them current.
PAGES: Final = REPO / "tests" / "catalog_tools" / "pages"
