"""The tree's shape, checked: no import cycle among the package's modules, few top-level
modules, a thin façade. The layers themselves are import-linter's contracts
(``[tool.importlinter]`` in pyproject.toml), which scripts/test runs.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Final

import grimp

import router
from tests._support.repo import REPO

PACKAGE: Final = Path(router.__file__).parent
MAX_TOP_LEVEL: Final = 6
MAX_FACADE_LINES: Final = 300


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in graph.find_modules_directly_imported_by(module):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while True:
                popped = stack.pop()
                on_stack.discard(popped)
                component.append(popped)
                if popped == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return found


def test_package__has_no_import_cycle_counting_imports_inside_functions() -> None:
    # grimp reads every import statement, those inside functions included; imports made for
    # annotations only (under TYPE_CHECKING) are left out, as they never run.
    graph = grimp.build_graph("router", exclude_type_checking_imports=True)

    assert _cycles(graph) == []


def test_cycle_finder__finds_a_cycle_through_a_local_import() -> None:
    graph = grimp.ImportGraph()
    for module in ("p", "p.a", "p.b", "p.c"):
        graph.add_module(module)
    graph.add_import(importer="p.a", imported="p.b")
    graph.add_import(importer="p.b", imported="p.c")
    graph.add_import(importer="p.c", imported="p.a")

    assert _cycles(graph) == [["p.a", "p.b", "p.c"]]


def test_package__keeps_at_most_six_modules_at_its_top_level() -> None:
    top_level = sorted(p.name for p in PACKAGE.glob("*.py"))

    assert len(top_level) <= MAX_TOP_LEVEL, top_level


def test_facade__policy_router_stays_thin() -> None:
    lines = (PACKAGE / "_router.py").read_text().count("\n")

    assert lines <= MAX_FACADE_LINES


def test_paths_named_in_docstrings_readme_and_docs__exist() -> None:
    # A docstring, README or docs/ line that points at a file the tree no longer has misleads
    # the next reader. (bench/README.md quotes profiles of past runs, file:line as they were.)
    named = re.compile(
        r"\b(?:router|tests|bench|scripts|policies|config|docs)/[\w/.-]+\.(?:py|yaml|md|png)\b"
    )
    texts = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    texts += sorted((REPO / "router").rglob("*.py"))
    texts += sorted((REPO / "tests").rglob("*.py"))
    missing = {
        f"{text.relative_to(REPO)}: {path}"
        for text in texts
        for path in named.findall(text.read_text())
        if not (REPO / path).exists()
    }

    assert sorted(missing) == []


def test_tests__mirror_the_package() -> None:
    # A test package per subpackage of router/; a test module (or package) per top-level module.
    tests = REPO / "tests"
    subpackages = {p.name.lstrip("_") for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    modules = {p.stem.lstrip("_") for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    missing = sorted(name for name in subpackages if not (tests / name / "__init__.py").exists())
    missing += sorted(
        f"test_{name}.py"
        for name in modules
        if not (tests / f"test_{name}.py").exists() and not (tests / name / "__init__.py").exists()
    )

    assert missing == []
