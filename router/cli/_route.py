"""``policy-router route``: one request through the full path, with the audit records it made.

The request takes the router's whole path (surface check, preferences, decision, scrubbing,
the identifier invariant, failover, audit) and asks, as the proxy does, for the lean path's
answer as bytes: a model whose routes all take the lean path is answered without importing
litellm (offline too: router/_upstream/offline.py). litellm is imported first (with a
spinner on a terminal) only when a route of the model needs it.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

import orjson
import typer

from router._audit import AuditLog
from router._core.preferences import Preferences
from router.cli._common import (
    UserOption,
    err,
    load_litellm,
    one_line_errors,
    out,
    preference_flags,
    run_with_router,
    settings,
)

if TYPE_CHECKING:
    from router._config.settings import Settings
    from router._router import PolicyRouter
    from router._upstream.deployment import Deployment, Target


@preference_flags
def route(
    model: str = typer.Argument(..., help="Model display name, alias or slug."),
    prompt: str = typer.Argument(..., help="The user message to send."),
    user: str | None = UserOption,
    stream: bool = typer.Option(False, "--stream", help="Stream the answer as it arrives."),
    offline: bool | None = typer.Option(
        None,
        "--offline/--online",
        help="Answer locally (no network, no keys). Default: offline when no allowed route "
        "of the model has credentials.",
    ),
    privacy: Preferences | None = None,
) -> None:
    """Send one request through the full path; print the answer and its audit records."""
    records: list[str] = []
    with one_line_errors():
        config = _settings_for(model, offline)
        if config.offline:
            err.print("offline: no provider is contacted; the answer is made locally.")
        if _needs_litellm(config, model):
            load_litellm(config.transport)
        try:
            answer = run_with_router(
                lambda r: _send(r, model, prompt, user, privacy, stream),
                settings_=config,
                audit_log=_tee(config, records),
            )
            if not stream:
                out.print(answer, markup=False)
        finally:
            _print_records(records)


async def _send(
    router: PolicyRouter,
    model: str,
    prompt: str,
    user: str | None,
    privacy: Preferences | None,
    stream: bool,
) -> str:
    messages = [{"role": "user", "content": prompt}]
    response, _ = await router.pipeline.route(
        model, messages, user, privacy, stream, None, {}, proxy=False, raw=True
    )  # the library's surface check; the lean path's answer as bytes (no litellm types)
    if not stream:
        return _content(response)
    from router._upstream.lean import Events

    parts = []
    async for item in response:
        for chunk in item if isinstance(item, Events) else (item,):
            delta = _delta(chunk)
            if delta:
                parts.append(delta)
                out.print(delta, end="", markup=False)
    out.print()
    return "".join(parts)


def _content(response: Any) -> str:
    """The answer's text: from the lean path's JSON bytes, or from litellm's response."""
    from router._upstream.lean import Raw

    if isinstance(response, Raw):
        choices = orjson.loads(response.body).get("choices") or [{}]
        return str((choices[0].get("message") or {}).get("content") or "")
    return str(response.choices[0].message.content or "")


def _delta(chunk: Any) -> str | None:
    """A streamed chunk's text: from an SSE event's data (bytes, one of the lean path's
    ``Events``), or litellm's chunk."""
    if isinstance(chunk, bytes):
        choices = orjson.loads(chunk).get("choices")
        content = (choices[0].get("delta") or {}).get("content") if choices else None
        return content if isinstance(content, str) else None
    return chunk.choices[0].delta.content if chunk.choices else None


def _settings_for(model: str, offline: bool | None) -> Settings:
    """Settings, offline when asked, or when no route of the model could reach a provider."""
    base = settings(offline)
    if offline is not None or base.offline or _has_credentials(base, model):
        return base
    return base.model_copy(update={"offline": True})


def _targets(config: Settings, model: str) -> tuple[Deployment, list[Target]]:
    """The deployment, and the targets of ``model``'s routes."""
    from router._core.catalog_load import load_catalog
    from router._upstream.deployment import load_deployment

    catalog = load_catalog(config.catalog)
    deployment = load_deployment(config.deployment).with_overrides(config.route_models)
    targets = [deployment.target(route.key) for route in catalog.routes_of(model)]
    return deployment, [t for t in targets if t is not None]


def _has_credentials(config: Settings, model: str) -> bool:
    deployment, targets = _targets(config, model)
    return any(deployment.missing_credentials(t, os.environ) is None for t in targets)


def _needs_litellm(config: Settings, model: str) -> bool:
    """Whether a route of ``model`` is served by litellm (not the lean path)."""
    from router._upstream.providers import serves

    return not all(serves(target) for target in _targets(config, model)[1])


def _tee(config: Settings, records: list[str]) -> AuditLog:
    """Audit records are kept to print after the answer, and written where the settings say
    unless that is the terminal (they are printed there anyway)."""
    if config.audit in ("stdout", "stderr"):
        return AuditLog.from_settings(config, records.append, checkpoint=False)
    return AuditLog.from_settings(config, copy_to=records.append)


def _print_records(records: list[str]) -> None:
    if not records:
        return
    out.print("audit records:")
    for line in records:
        out.print(json.dumps(json.loads(line), separators=(", ", ": ")), markup=False)
