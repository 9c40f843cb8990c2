"""What ``serve`` says at start-up: what needs litellm (a line of the summary), one line per
provider of the catalog, and a warning when no route can be served.

Each line names the provider, how many of its routes the deployment can serve, whether the
credentials litellm reads for it are set (the variables' names, never their values) and its
``api_base``. A server that cannot serve anything says so before its first request, instead
of answering every chat call with an error.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Mapping, Sequence
from typing import Final

from router._config.settings import Settings
from router._core.catalog import Provider, Route
from router._pipeline.loaded import Loaded

log = logging.getLogger("router.startup")


# The requests and answers litellm's adapters translate (router/_upstream/responses.py,
# router/_upstream/messages.py; a Messages request to Claude on Anthropic, a Responses request
# to o3 pro or GPT 5 Codex on OpenAI, go as they came; a text-only Messages request is
# translated both ways by router/_upstream/messages_plain.py and messages_stream.py): the first
# such request imports litellm if nothing did before.
TRANSLATED_BY_LITELLM: Final = (
    "/v1/responses to a route other than OpenAI's Responses-API models, "
    "and /v1/messages with more than text to a route other than Anthropic's,"
)
_LISTED: Final = 5  # routes named in the litellm line; the rest are counted


def litellm_use(in_force: Loaded, *, loaded: bool, processes: int = 1) -> str:
    """What needs litellm in this deployment, and whether it is ``loaded`` (imported at
    start-up, router/_server/bootstrap.py's ``load_litellm``)."""
    routes = in_force.servable_litellm_routes
    apis = TRANSLATED_BY_LITELLM
    if not routes:
        state = "loaded" if loaded else "not loaded"
        return (
            f"{state}: no servable route needs it (the lean path serves them); {apis} "
            "translate with it, so their first request loads it (in a worker thread)"
        )
    named = ", ".join(routes[:_LISTED])
    if len(routes) > _LISTED:
        named += f" and {len(routes) - _LISTED} more"
    if loaded:
        state = "loaded at start-up"
    elif processes > 1:
        state = "loaded at start-up by each worker"
    else:
        state = "not loaded"
    return f"{state}: {len(routes)} servable route(s) need it ({named}); {apis} translate with it"


def provider_lines(loaded: Loaded, settings: Settings, environ: Mapping[str, str]) -> list[str]:
    """One line per provider of the catalog, in the catalog's order."""
    return [_line(loaded, settings, environ, p) for p in loaded.catalog.providers]


def _line(
    loaded: Loaded, settings: Settings, environ: Mapping[str, str], provider: Provider
) -> str:
    routes = [r for r in loaded.catalog.routes if r.provider.slug == provider.slug]
    servable = sum(1 for r in routes if r.key not in loaded.unavailable)
    configured = settings.providers.get(provider.slug)
    api_base = configured.api_base if configured and configured.api_base else "litellm's default"
    return (
        f"provider {provider.slug} ({provider.name}): {servable} of {len(routes)} routes "
        f"servable; {_credentials(loaded, settings, environ, routes)}; api_base {api_base}"
    )


def _credentials(
    loaded: Loaded, settings: Settings, environ: Mapping[str, str], routes: Sequence[Route]
) -> str:
    if settings.offline:
        return "offline: credentials not needed, no provider is contacted"
    targets = [t for t in (loaded.deployment.target(r.key) for r in routes) if t is not None]
    if not targets:
        return "no route has a litellm model string in the deployment"
    states = []
    for prefix in sorted({t.prefix for t in targets}):
        options = loaded.deployment.credentials.get(prefix, ())
        found = next((o for o in options if all(environ.get(n) for n in o)), None)
        if not options:
            states.append(f"{prefix}: no credentials declared")
        elif found is not None:
            states.append(f"{prefix}: credentials found ({' and '.join(found)})")
        else:
            wanted = " or ".join(" and ".join(o) for o in options)
            states.append(f"{prefix}: credentials missing (set {wanted})")
    return ", ".join(states)


def log_startup(loaded: Loaded, settings: Settings, environ: Mapping[str, str]) -> None:
    """The provider lines, and a warning if no route of the catalog can be served."""
    log.info(
        "catalog %s: %d of %d routes servable",
        loaded.catalog.label,
        loaded.servable_routes,
        len(loaded.catalog.routes),
    )
    for line in provider_lines(loaded, settings, environ):
        log.info("%s", line)
    if not loaded.servable_routes:
        log.warning(
            "no route of the catalog can be served: every chat request will be answered 503 "
            "backends_unconfigured until the credentials above are set (or POLICY_ROUTER_OFFLINE=true)"
        )


# The collector's first generation: 50,000 allocations (Python's default 700). A request on the
# lean path leaves no reference cycle, so a collection finds nothing to free; it only scans the
# objects of the requests in flight. The count that starts one grows by those objects (each
# collection resets it, and their release afterwards does not count down), so the more requests
# in flight, the more often it ran: at 7,000, 0-1 collections in 4 s at concurrency 50 but
# 45-90 at 200 (2-4 ms each, ~20 us per request: why 200 cost more than 50); at 50,000, none
# in either. Cyclic garbage (an error's traceback) waits for at most 50,000 allocations.
GC_THRESHOLD: Final = (50_000, 10, 10)


def freeze_long_lived_objects() -> None:
    """Move every object to the collector's permanent generation, collect the young
    generation less often (``GC_THRESHOLD``) and turn the collector on (``serve`` turns it off
    while it starts: router/cli/_serve.py).

    No collection first: start-up leaves next to no garbage (a full collection there freed
    156 objects with a lean-only deployment, 1,817 with litellm loaded) and traversed the
    whole heap to find it, the longest pause of the start-up (bench/README.md)."""
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)
    gc.enable()
