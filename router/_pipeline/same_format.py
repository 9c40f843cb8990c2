"""Same-format requests: a Messages request goes to Claude on Anthropic as it came.

A request of another API than chat (today: Anthropic's Messages API) carries its own body
(``SameFormat``, router/_upstream/anthropic.py). Per attempt, failover asks here which form the
route gets: the body as it came, where the route speaks that API on the lean path
(``as_it_came``), else its translation to chat, made once per request on first need and checked
against chat's accepted surface like any chat request (``arguments``). The identifier
invariant reads each form in its own terms (``content``, ``find_outside_content``), and what a
route would drop is named only for the routes that translate (``dropped``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from router._core.catalog import Model, Route
from router._core.invariant import (
    Identity,
    content_strings,
    find_in_arguments,
    find_in_messages_request,
    messages_content,
)
from router._pipeline import admission
from router._upstream import anthropic, params, providers
from router._upstream.anthropic import SameFormat
from router._upstream.deployment import Deployment, Target


def as_it_came(
    request: SameFormat | None, target: Target, fixed: Mapping[str, Any], *, offline: bool
) -> bool:
    """Whether this attempt sends ``request`` as it came (never offline: litellm answers)."""
    return request is not None and not offline and providers.serves_messages(target, fixed)


def translates(
    request: SameFormat,
    routes: Iterable[Route],
    deployment: Deployment,
    model: Model,
    *,
    offline: bool,
) -> bool:
    """Whether an attempt to one of ``routes`` would translate ``request`` to chat (litellm's
    adapter, which then translates the answer back)."""
    for route in routes:
        target = deployment.target(route.key)
        fixed = model.params if target is None or target.params is None else target.params
        if target is not None and not as_it_came(request, target, fixed, offline=offline):
            return True
    return False


def arguments(
    chat: Mapping[str, Any],
    request: SameFormat | None,
    user: str | None,
    *,
    native: bool,
    proxy: bool,
) -> Mapping[str, Any]:
    """What an attempt scrubs and sends: the call's ``chat`` arguments, or its request as it
    came (``metadata`` naming the end user), or that request translated to chat and checked."""
    if request is None:
        return chat
    if native:
        return request.body | anthropic.metadata_for(user)
    translated = request.translated()
    out = {"messages": translated.messages, **translated.arguments}
    if user is not None:
        out["user"] = user
    return admission.checked(out, proxy=proxy)


def content(arguments: Mapping[str, Any], *, native: bool) -> frozenset[str]:
    """The strings of the request that are content: the invariant's exemption on the wire."""
    return messages_content(arguments) if native else content_strings(arguments.get("messages"))


def find_outside_content(
    arguments: Mapping[str, Any], identity: Identity, *, native: bool
) -> str | None:
    """Where the raw user id is outside content in the arguments, in the form's own terms."""
    find = find_in_messages_request if native else find_in_arguments
    return find(arguments, identity)


def dropped(
    routes: Iterable[Route],
    deployment: Deployment,
    model: Model,
    names: Iterable[str],
    *,
    offline: bool,
) -> dict[str, tuple[str, ...]]:
    """Per route of ``model``, what it would drop of a request translated to the chat
    arguments ``names``; a route the request goes to as it came drops nothing (and litellm's
    table is not consulted for it)."""
    asked = tuple(names)
    out = {}
    for route in routes:
        target = deployment.target(route.key)
        if target is None:
            continue
        fixed = model.params if target.params is None else target.params
        if not offline and providers.serves_messages(target, fixed):
            continue
        lost = params.unsupported(target, asked)
        if lost:
            out[route.key] = lost
    return out
