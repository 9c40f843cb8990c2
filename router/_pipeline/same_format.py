"""Same-format requests: a Messages request goes to Claude on Anthropic as it came, a Responses
request to OpenAI's Responses-API models.

A request of another API than chat carries its own body (``SameFormat``,
router/_upstream/anthropic.py; ``AsItCame``, router/_upstream/openai_responses.py). Per
attempt, failover asks here which form the
route gets: the body as it came, where the route speaks that API on the lean path
(``as_it_came``), else its translation to chat, made once per request on first need and checked
against chat's accepted surface like any chat request (``arguments``). The identifier
invariant reads each form in its own terms (``content``, ``find_outside_content``), and what a
route would drop is named only for the routes that translate (``dropped``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

from router._core.catalog import Model, Route
from router._core.invariant import (
    Identity,
    content_strings,
    find_in_arguments,
    find_in_messages_request,
    find_in_responses_request,
    messages_content,
    responses_content,
)
from router._pipeline import admission
from router._upstream import anthropic, params, providers
from router._upstream.anthropic import SameFormat
from router._upstream.deployment import Deployment, Target
from router._upstream.openai_responses import AsItCame

Request = SameFormat | AsItCame
Api = Literal["chat", "messages", "responses"]


def as_it_came(
    request: Request | None, target: Target, fixed: Mapping[str, Any], *, offline: bool
) -> bool:
    """Whether this attempt sends ``request`` as it came (never offline: litellm answers)."""
    if request is None or offline:
        return False
    serves = providers.serves_responses if request.api == "responses" else providers.serves_messages
    return serves(target, fixed)


def wire_api(request: Request | None, *, native: bool) -> Api:
    """The wire format an attempt sends: its request's own API as it came, else chat's."""
    return request.api if native and request is not None else "chat"


def renders_plain(request: Request | None, *, native: bool) -> bool:
    """Whether an attempt's JSON answer comes back as its checked dict, rendered by the router
    (a plain Messages or Responses request translated to chat: router/_upstream/
    messages_plain.py, responses_plain.py)."""
    return request is not None and not native and request.plain


def relays_plain(request: Request | None, *, native: bool) -> bool:
    """Whether an attempt's stream comes back as the lean path's ``Events``, rendered by the
    router (a plain Responses request from the proxy: router/_upstream/responses_plain.py)."""
    return isinstance(request, AsItCame) and not native and request.plain


def translates(
    request: Request,
    routes: Iterable[Route],
    deployment: Deployment,
    model: Model,
    *,
    offline: bool,
) -> bool:
    """Whether an attempt to one of ``routes`` would translate ``request`` to chat with
    litellm's adapter or bridge (which then translates the answer back); a plain Responses
    request the router renders itself is translated without them."""
    if isinstance(request, AsItCame) and request.plain:
        return False
    for route in routes:
        target = deployment.target(route.key)
        fixed = model.params if target is None or target.params is None else target.params
        if target is not None and not as_it_came(request, target, fixed, offline=offline):
            return True
    return False


def arguments(
    chat: Mapping[str, Any],
    request: Request | None,
    user: str | None,
    *,
    native: bool,
    proxy: bool,
) -> Mapping[str, Any]:
    """What an attempt scrubs and sends: the call's ``chat`` arguments, or its request as it
    came (``metadata`` or ``user`` naming the end user), or that request translated to chat and
    checked."""
    if request is None:
        return chat
    if isinstance(request, AsItCame):
        if native:
            return request.identified(user)
        out = dict(request.translated())
    elif native:
        return request.body | anthropic.metadata_for(user)
    else:
        translated = request.translated()
        out = {"messages": translated.messages, **translated.arguments}
    if user is not None:
        out["user"] = user
    return admission.checked(out, proxy=proxy)


def content(arguments: Mapping[str, Any], *, api: Api) -> frozenset[str]:
    """The strings of the request that are content: the invariant's exemption on the wire."""
    if api == "messages":
        return messages_content(arguments)
    if api == "responses":
        return responses_content(arguments)
    return content_strings(arguments.get("messages"))


def find_outside_content(
    arguments: Mapping[str, Any], identity: Identity, *, api: Api
) -> str | None:
    """Where the raw user id is outside content in the arguments, in the form's own terms."""
    if api == "messages":
        return find_in_messages_request(arguments, identity)
    if api == "responses":
        return find_in_responses_request(arguments, identity)
    return find_in_arguments(arguments, identity)


def dropped(
    routes: Iterable[Route],
    deployment: Deployment,
    model: Model,
    request: Request,
    *,
    offline: bool,
) -> dict[str, tuple[str, ...]]:
    """Per route of ``model``, what it would drop of ``request`` translated to chat arguments
    (their names asked of the request on first need); a route the request goes to as it came
    drops nothing (and neither litellm's table nor a translation is consulted for it)."""
    asked: tuple[str, ...] | None = None
    out = {}
    for route in routes:
        target = deployment.target(route.key)
        if target is None:
            continue
        fixed = model.params if target.params is None else target.params
        if as_it_came(request, target, fixed, offline=offline):
            continue
        if asked is None:
            asked = tuple(request.chat_names())
        lost = params.unsupported(target, asked)
        if lost:
            out[route.key] = lost
    return out
