"""litellm's import in a worker thread (router/_upstream/loader.py, ``imported``): the event loop
keeps running meanwhile, every caller waits for the one import, and nothing on the loop waits
for a litellm that is only partly imported.

The import is replaced by one that waits for the test's signal (``slow_import``), so what
happens while it runs is seen step by step, with no timing.
"""

from __future__ import annotations

import asyncio
import functools
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import ModuleType
from typing import Final

import openai  # noqa: F401  imported: dropin_error would give our errors openai's classes
import pytest

from router._errors import InvalidRequest
from router._pipeline.dropin import dropin_error
from router._upstream import loader, setup

FAKE_LITELLM: Final = ModuleType("litellm_as_imported")


@dataclass
class SlowImport:
    """An import that runs until ``finish`` is set; ``started`` counts its runs."""

    finish: threading.Event = field(default_factory=threading.Event)
    started: list[str] = field(default_factory=list)


@pytest.fixture
def slow_import(monkeypatch: pytest.MonkeyPatch) -> Iterator[SlowImport]:
    slow = SlowImport()

    @functools.cache
    def importer() -> ModuleType:
        slow.started.append(threading.current_thread().name)
        slow.finish.wait(60)
        return FAKE_LITELLM

    monkeypatch.setattr(loader, "_imported", importer)
    loader._background.cache_clear()
    try:
        yield slow
    finally:
        slow.finish.set()
        if loader._background.cache_info().currsize:
            loader._background().result(timeout=60)  # the worker thread is done
        loader._background.cache_clear()


async def _turns(count: int) -> int:
    """Let the event loop run ``count`` times; how many it ran."""
    ran = 0
    for _ in range(count):
        await asyncio.sleep(0)
        ran += 1
    return ran


async def test_imported__the_event_loop_runs_while_a_worker_thread_imports(
    slow_import: SlowImport,
) -> None:
    waiting = asyncio.create_task(loader.imported())
    assert await _turns(20) == 20  # the loop is free: the import runs elsewhere
    assert not waiting.done()
    assert loader.importing()
    assert not loader.loaded()
    slow_import.finish.set()
    assert await waiting is FAKE_LITELLM
    assert slow_import.started == ["policy-router-litellm-import"]
    assert loader.loaded()
    assert not loader.importing()


async def test_imported__every_caller_waits_for_the_one_import(slow_import: SlowImport) -> None:
    waiting = [asyncio.create_task(loader.imported()) for _ in range(5)]
    await _turns(5)
    slow_import.finish.set()
    assert await asyncio.gather(*waiting) == [FAKE_LITELLM] * 5
    assert len(slow_import.started) == 1
    assert await loader.imported() is FAKE_LITELLM  # once loaded: no thread, no wait


async def test_imported__a_failed_import_raises_in_every_caller(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    @functools.cache
    def broken() -> ModuleType:
        raise ImportError("litellm is not installed")

    monkeypatch.setattr(loader, "_imported", broken)
    loader._background.cache_clear()
    try:
        for _ in range(2):
            with pytest.raises(ImportError, match="litellm is not installed"):
                await loader.imported()
    finally:
        loader._background.cache_clear()


async def test_while_importing__close_loop_clients_and_dropin_errors_do_not_wait_for_it(
    slow_import: SlowImport, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both would touch litellm on the event loop; while the worker thread imports it, they
    leave it alone (the loop would otherwise wait for the whole import, or read a module
    that is only partly initialised: here, one with none of litellm's attributes)."""
    monkeypatch.setitem(sys.modules, "litellm", ModuleType("litellm"))
    waiting = asyncio.create_task(loader.imported())
    await _turns(2)
    assert setup.importing()
    await setup.close_loop_clients()
    refused = InvalidRequest("'n' must be a whole number")
    assert dropin_error(refused, "GPT 4.1") is refused
    assert not waiting.done()
    slow_import.finish.set()
    await waiting
