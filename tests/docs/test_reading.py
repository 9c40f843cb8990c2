"""How the docs tests read a page (tests/_support/docs.py): blocks, their notes, outputs."""

from __future__ import annotations

from pathlib import Path

from tests._support.docs import block_above, blocks, matches_output

PAGE = """# A page

```bash
policy-router models
```

<!-- output of the block above -->
```text
one
```

- an item:

  ```yaml
  routes: {}
  ```

<!-- not run: a diagram -->
```
a -> b
```
"""


def test_blocks__read_language_line_note_and_indented_fences(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(PAGE)

    found = blocks(page)

    assert [(b.language, b.line, b.body) for b in found] == [
        ("bash", 3, "policy-router models\n"),
        ("text", 8, "one\n"),
        ("yaml", 14, "routes: {}\n"),
        ("text", 19, "a -> b\n"),
    ]
    assert [(b.output_of, b.not_run) for b in found] == [
        (None, None),
        ("", None),
        (None, None),
        (None, "a diagram"),
    ]
    assert block_above(found[1]) == found[0]


def test_matches_output__exact_unless_lines_are_elided() -> None:
    fresh = "first\nsecond\nthird\n"

    assert matches_output("first\nsecond\nthird\n", fresh)
    assert not matches_output("first\nthird\n", fresh)
    assert matches_output("first\n…\nthird\n", fresh)
    assert not matches_output("third\n…\nfirst\n", fresh)  # out of order
    assert not matches_output("first\n…\nfourth\n", fresh)
