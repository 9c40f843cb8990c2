"""The pure core per call: ``decide`` plus ``scrub`` for the first allowed route.

For every model of the shipped catalog, and for a generated catalog of 10,000 models (routes
over the 13 providers, mixed policies, overrides), each timed call is::

    decision = decide(model, catalog.routes_of(model), prefs, unavailable=…, priority=())
    scrub(kwargs, decision.allowed[0].policy.effective_user_identifier, user=…, pseudonym=…)

timed one by one with ``time.perf_counter_ns`` (the timer's own cost is reported beside).
Two preference sets: the operator default (everything allowed) and a strict user's. Also the
time to load the 10,000-model catalog (``build_catalog`` from plain data, and from YAML text).

    uv run --frozen python -m bench.decision [--iterations 300]
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import time
from collections.abc import Callable
from typing import Any, Final

import yaml

from bench import _common
from router._config.settings import current_catalog_path
from router._core.catalog import Catalog
from router._core.catalog_load import build_catalog, load_catalog, parse_catalog
from router._core.decision import decide
from router._core.preferences import Preferences
from router._core.pseudonym import Pseudonymizer
from router._core.scrub import scrub

USER: Final = "alice@example.com"
KWARGS: Final = {
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Say ok.", "name": USER},
    ],
    "user": USER,
    "temperature": 0.2,
    "max_tokens": 64,
    "metadata": {"session_id": "s-1", "trace": "t-1"},
}
PREFERENCES: Final = {
    "default": Preferences(),
    "strict": Preferences(
        max_retention="30d",
        allow_training=False,
        allow_flagged_retention=False,
        deny_providers=frozenset({"xai"}),
    ),
}
RETENTIONS: Final = ("none", "24h", "30d", "2y", None)
IDENTIFIERS: Final = ("omit", "pseudonymous", "allowed", None)


def generated_catalog(models: int, providers: dict[str, Any], seed: int = 7) -> dict[str, Any]:
    """A catalog as plain data: ``models`` models in entries of up to 10, mixed policies."""
    rng = random.Random(seed)
    slugs = list(providers)
    doc_models: dict[str, Any] = {}
    routes: list[dict[str, Any]] = []
    for start in range(0, models, 10):
        entry_models = []
        for i in range(start, min(start + 10, models)):
            slug = f"gen-model-{i:05d}"
            doc_models[slug] = {"name": f"Generated Model {i:05d}", "aliases": [f"gm{i}"]}
            if i % 7 == 1:  # a reasoning variant of the model before it
                doc_models[slug] |= {"variant_of": f"gen-model-{i - 1:05d}"}
                doc_models[slug] |= {"params": {"reasoning_effort": "medium"}}
            entry_models.append(slug)
        chosen = rng.sample(slugs, rng.randint(1, 5))
        entry: dict[str, Any] = {
            "models": entry_models,
            "providers": chosen,
            "policy": _policy(rng),
        }
        if len(chosen) > 1 and rng.random() < 0.3:
            entry["overrides"] = {chosen[0]: _policy(rng)}
        routes.append(entry)
    return {
        "version": "bench-10k",
        "effective": "2025-11-20",
        "providers": providers,
        "models": doc_models,
        "routes": routes,
    }


def _policy(rng: random.Random) -> dict[str, Any]:
    policy: dict[str, Any] = {}
    trains = rng.choice((False, False, False, True, None))
    if trains is not None:
        policy["trains_on_api_data"] = trains
    retention = rng.choice(RETENTIONS)
    if retention is not None:
        policy["retention"] = retention
    if rng.random() < 0.2:
        policy["flagged_retention"] = "2y"
    identifier = rng.choice(IDENTIFIERS)
    if identifier is not None:
        policy["user_identifier"] = identifier
    return policy


def _raw_providers(catalog: Catalog) -> dict[str, Any]:
    return {p.slug: {"name": p.name} for p in catalog.providers}


def measure(catalog: Catalog, prefs: Preferences, iterations: int) -> dict[str, Any]:
    """Time decide + scrub ``iterations`` times for every model; samples in µs."""
    pseudonymizer = Pseudonymizer(b"bench-pseudonym-key-0123456789abcdef")
    unavailable: dict[str, str] = {}
    samples: list[float] = []
    per_model: dict[str, float] = {}
    refused = 0
    clock = time.perf_counter_ns
    gc.collect()
    for model in catalog.models:
        times = []
        for _ in range(iterations):
            started = clock()
            decision = decide(
                model, catalog.routes_of(model), prefs, unavailable=unavailable, priority=()
            )
            if decision.allowed:
                route = decision.allowed[0]
                provider = route.provider.slug
                scrub(
                    KWARGS,
                    route.policy.effective_user_identifier,
                    user=USER,
                    pseudonym=lambda raw, p=provider: pseudonymizer.for_provider(raw, p),
                )
            times.append((clock() - started) / 1000)
        refused += not decision.allowed
        per_model[model.slug] = statistics.median(times)
        samples += times
    worst = max(per_model, key=per_model.__getitem__)
    return {
        "models": len(catalog.models),
        "routes": len(catalog.routes),
        "calls": len(samples),
        "models_refused": refused,
        "median_us": statistics.median(samples),
        "p99_us": _common.percentile(samples, 99),
        "mean_us": statistics.fmean(samples),
        "worst_model": worst,
        "worst_model_median_us": per_model[worst],
    }


def timer_cost(n: int = 200_000) -> float:
    clock = time.perf_counter_ns
    samples = []
    for _ in range(n):
        started = clock()
        samples.append(clock() - started)
    return statistics.median(samples) / 1000


def timed(fn: Callable[[], Any], runs: int) -> tuple[float, Any]:
    """Median seconds of ``runs`` calls of ``fn``, and its last result."""
    times, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def run(args: argparse.Namespace) -> dict[str, Any]:
    shipped = load_catalog(current_catalog_path())
    raw = generated_catalog(args.models, _raw_providers(shipped))
    build_s, big = timed(lambda: build_catalog(raw, source="generated"), args.load_runs)
    text = yaml.dump(raw, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper), sort_keys=False)
    parse_s, _ = timed(lambda: parse_catalog(text, source="generated.yaml"), args.load_runs)
    shipped_s, _ = timed(lambda: load_catalog(current_catalog_path()), args.load_runs * 3)
    results: dict[str, Any] = {"timer_cost_us": timer_cost()}
    for name, prefs in PREFERENCES.items():
        results[f"shipped/{name}"] = measure(shipped, prefs, args.iterations)
        results[f"generated/{name}"] = measure(big, prefs, max(args.iterations // 10, 10))
    return {
        "config": vars(args),
        "catalog": {
            "shipped": str(current_catalog_path().relative_to(_common.ROOT)),
            "shipped_load_ms": shipped_s * 1000,
            "generated_models": len(big.models),
            "generated_routes": len(big.routes),
            "generated_build_catalog_ms": build_s * 1000,
            "generated_parse_yaml_ms": parse_s * 1000,
            "generated_yaml_bytes": len(text.encode()),
        },
        "decide_scrub": results,
    }


def report(result: dict[str, Any]) -> str:
    rows = []
    for name, r in result["decide_scrub"].items():
        if isinstance(r, dict):
            rows.append(
                [
                    name, r["models"], r["routes"], r["calls"], r["models_refused"],
                    r["median_us"], r["p99_us"], f"{r['worst_model']} ({r['worst_model_median_us']:.2f})",
                ]
            )  # fmt: skip
    headers = [
        "catalog/preferences", "models", "routes", "calls", "models refused", "median µs",
        "p99 µs", "slowest model (its median µs)",
    ]  # fmt: skip
    c = result["catalog"]
    load = _common.table(
        ["what", "ms"],
        [
            ["load shipped catalog (YAML file)", c["shipped_load_ms"]],
            [f"build_catalog, {c['generated_models']:,} models (plain data)", c["generated_build_catalog_ms"]],
            [f"parse_catalog, {c['generated_models']:,} models (YAML text)", c["generated_parse_yaml_ms"]],
        ],
    )  # fmt: skip
    timer = (
        f"perf_counter_ns pair costs {result['decide_scrub']['timer_cost_us']:.3f} µs (included)"
    )
    return _common.table(headers, rows) + f"\n\n{timer}\n\n" + load


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="decide + scrub per call, and catalog load")
    parser.add_argument("--iterations", type=int, default=300, help="per model, shipped catalog")
    parser.add_argument(
        "--models", type=int, default=10_000, help="models in the generated catalog"
    )
    parser.add_argument("--load-runs", type=int, default=3)
    args = parser.parse_args(argv)
    _common.pin_self(0)
    result = run(args)
    path = _common.save("decision", result)
    print(report(result))
    print(f"\nraw results: {path.relative_to(_common.ROOT)}")


if __name__ == "__main__":
    main()
