"""The pseudonym key file: created once and atomically, private, and refused when weak."""

from __future__ import annotations

import multiprocessing
import stat
from multiprocessing.synchronize import Barrier
from pathlib import Path

import pytest

from router import ConfigError
from router._config.keyfile import load_or_create_key

PROCESSES = 6
TRIALS = 15


def _start_together(barrier: Barrier, path: str, results: multiprocessing.Queue[str]) -> None:
    barrier.wait(timeout=30)
    results.put(load_or_create_key(Path(path)).hex())


def test_load_or_create_key__processes_starting_together_share_one_key(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    for trial in range(TRIALS):
        path = tmp_path / f"trial-{trial}" / "data" / "pseudonym.key"
        barrier = context.Barrier(PROCESSES)
        results: multiprocessing.Queue[str] = context.Queue()
        workers = [
            context.Process(target=_start_together, args=(barrier, str(path), results))
            for _ in range(PROCESSES)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=60)
        assert [w.exitcode for w in workers] == [0] * PROCESSES, f"trial {trial}: a process failed"
        keys = {results.get(timeout=5) for _ in range(PROCESSES)}
        assert keys == {path.read_text()}, (
            f"trial {trial}: the processes ended with {len(keys)} keys"
        )
        assert sorted(p.name for p in path.parent.iterdir()) == ["pseudonym.key"]


def test_load_or_create_key__file_0600_in_a_0700_directory(tmp_path: Path) -> None:
    path = tmp_path / "data" / "pseudonym.key"
    key = load_or_create_key(path)
    assert len(key) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert load_or_create_key(path) == key


@pytest.mark.parametrize(
    ("content", "found"),
    [
        pytest.param("", 0, id="an empty file"),
        pytest.param("\n", 0, id="a blank line"),
        pytest.param("ab" * 15, 30, id="15 bytes"),
        pytest.param("zz" * 32, 64, id="not hex"),
    ],
)
def test_load_or_create_key__refuses_a_weak_key_file(
    tmp_path: Path, content: str, found: int
) -> None:
    path = tmp_path / "pseudonym.key"
    path.write_text(content)
    with pytest.raises(ConfigError) as caught:
        load_or_create_key(path)
    assert str(caught.value) == (
        f"the pseudonym key file {path} holds no key of at least 16 bytes (expected at least "
        f"32 hex characters, found {found} characters): restore the file from a backup, or "
        "delete it to have a new key created (every pseudonym then changes), or set "
        "POLICY_ROUTER_PSEUDONYM_KEY"
    )
    assert path.read_text() == content
