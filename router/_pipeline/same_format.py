"""Same-format requests: a Messages request goes to Claude on Anthropic as it came, a Responses
request to OpenAI's Responses-API models.

A request of another API than chat carries its own body (``SameFormat``,
router/_upstream/anthropic.py; ``AsItCame``, router/_upstream/openai_responses.py). Per
attempt, failover asks here which form the
route gets: the body as it came, where the route speaks that API on the lean path
(``as_it_came``), else its translation to chat, made once per request on first need and checked
against chat's accepted surface like any chat request (``arguments``). The identifier
invariant reads each form in its own terms (``content``, ``find_outside_content``). The routes
that translate (``translating``, one look per model and API) say both whether litellm is needed
(with ``adapts``) and what each would drop (``dropped``).
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
# The routes a request is translated to chat for: each route's key and target.
Translating = tuple[tuple[str, Target], ...]


def as_it_came(
    request: Request | None, target: Target, fixed: Mapping[str, Any], *, offline: bool
) -> bool:
    """Whether this attempt sends ``request`` as it came (never offline: litellm answers)."""
    return request is not None and speaks(request.api, target, fixed, offline=offline)


def speaks(api: str, target: Target, fixed: Mapping[str, Any], *, offline: bool) -> bool:
    """Whether ``target`` (its route fixing ``fixed``) takes a request of ``api`` (messages,
    responses) as it came."""
    if offline:
        return False
    serves = providers.serves_responses if api == "responses" else providers.serves_messages
    return serves(target, fixed)


def resolved(request: Request, model: Model) -> None:
    """Tell a Messages ``request`` the catalog model it goes to: the hint of its translation's
    per-model choices (``SameFormat.hint``), known once the pipeline has resolved the name."""
    if isinstance(request, SameFormat):
        request.hint = model.slug


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


def streams_plain(request: Request | None, *, native: bool) -> bool:
    """Whether an attempt's stream comes back as the lean path's ``Chunks``, rendered by the
    router (a plain Messages request: router/_upstream/messages_stream.py)."""
    return isinstance(request, SameFormat) and not native and request.plain


def translating(
    api: str, routes: Iterable[Route], deployment: Deployment, model: Model, *, offline: bool
) -> Translating:
    """The routes of ``model`` (key and target) an attempt would translate a request of ``api``
    to chat for: every deployed route that does not speak ``api`` (``speaks``). Fixed per
    catalog and deployment: router/_pipeline/loaded.py keeps it per model and API."""
    out = []
    for route in routes:
        target = deployment.target(route.key)
        if target is None:
            continue
        fixed = model.params if target.params is None else target.params
        if not speaks(api, target, fixed, offline=offline):
            out.append((route.key, target))
    return tuple(out)


def adapts(request: Request) -> bool:
    """Whether translating ``request`` to chat and back takes litellm (its Messages adapter or
    its Responses bridge): always, but for a plain Messages request, which
    router/_upstream/messages_plain.py translates and renders (messages_stream.py its
    stream), and a plain Responses request from the proxy, which router/_upstream/
    responses_plain.py translates and renders, JSON or stream."""
    if isinstance(request, AsItCame):
        return not request.plain
    return not (isinstance(request, SameFormat) and request.plain)


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


def dropped(translating: Translating, request: Request) -> dict[str, tuple[str, ...]]:
    """Per route ``request`` is translated for (``translating``), what it would drop of the
    request translated to chat arguments (their names asked of the request on first need); a
    route the request goes to as it came drops nothing (and neither litellm's table nor a
    translation is consulted for it)."""
    asked: tuple[str, ...] | None = None
    out = {}
    for key, target in translating:
        if asked is None:
            asked = tuple(request.chat_names())
        lost = params.unsupported(target, asked)
        if lost:
            out[key] = lost
    return out
