"""router/_upstream/own.py: ``own()`` marks the router's own work, nested or not, and the mark
ends with the block, however it ends."""

from __future__ import annotations

import pytest

from router._upstream.own import is_own, own


def test_own__marks_the_block_nested_and_ends_with_it() -> None:
    assert not is_own()
    with own():
        assert is_own()
        with own():
            assert is_own()
        assert is_own()  # the inner block's end leaves the outer one's mark
    assert not is_own()


def test_own__ends_with_a_block_that_raises() -> None:
    with pytest.raises(ValueError, match="x"), own():
        raise ValueError("x")
    assert not is_own()


async def test_own__is_this_tasks() -> None:
    import asyncio

    with own():
        inside = await asyncio.create_task(_is_own())  # a task started inside: its copy
    outside = await asyncio.create_task(_is_own())
    assert (inside, outside) == (True, False)


async def _is_own() -> bool:
    return is_own()
