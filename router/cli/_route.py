"""``policy-router route``: one request through the full path, with the audit records it made."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING

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


@preference_flags
def route(
    model: str = typer.Argument(..., help="Model display name, alias or slug."),
    prompt: str = typer.Argument(..., help="The user message to send."),
    user: str | None = UserOption,
    stream: bool = typer.Option(False, "--stream", help="Stream the answer as it arrives."),
    offline: bool | None = typer.Option(
        None,
        "--offline/--online",
        help="Answer through litellm's mock (no network, no keys). Default: offline when no "
        "allowed route of the model has credentials.",
    ),
    privacy: Preferences | None = None,
) -> None:
    """Send one request through the full path; print the answer and its audit records."""
    records: list[str] = []
    with one_line_errors():
        config = _settings_for(model, offline)
        if config.offline:
            err.print("offline: no provider is contacted; answers come from litellm's mock.")
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
    response = await router.acompletion(model, messages, user, privacy=privacy, stream=stream)
    if not stream:
        return str(response.choices[0].message.content or "")
    parts = []
    async for chunk in response:
        delta = chunk.choices[0].delta.content if chunk.choices else None
        if delta:
            parts.append(delta)
            out.print(delta, end="", markup=False)
    out.print()
    return "".join(parts)


def _settings_for(model: str, offline: bool | None) -> Settings:
    """Settings, offline when asked, or when no route of the model could reach a provider."""
    base = settings(offline)
    if offline is not None or base.offline or _has_credentials(base, model):
        return base
    return base.model_copy(update={"offline": True})


def _has_credentials(config: Settings, model: str) -> bool:
    from router._core.catalog_load import load_catalog
    from router._upstream.deployment import load_deployment

    catalog = load_catalog(config.catalog)
    deployment = load_deployment(config.deployment).with_overrides(config.route_models)
    for candidate in catalog.routes_of(model):
        target = deployment.target(candidate.key)
        if target and deployment.missing_credentials(target, os.environ) is None:
            return True
    return False


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
