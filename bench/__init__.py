"""Benchmarks of policy-router: see bench/README.md. Run everything with ``bench/run``."""
