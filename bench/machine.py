"""Print the machine the figures come from, as bench/README.md records it."""

from __future__ import annotations

from bench import _common


def main() -> None:
    info = _common.machine()
    rows = [
        ["CPUs (nproc)", info["nproc"]],
        ["CPU model", info["cpu_model"]],
        ["memory GiB", info["memory_gib"]],
        ["Python", info["python"]],
        ["platform", info["platform"]],
        ["git commit", info["git_commit"]],
        *[[name, version] for name, version in info["versions"].items()],
    ]
    print(_common.table(["what", "value"], rows))


if __name__ == "__main__":
    main()
