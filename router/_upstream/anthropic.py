"""Anthropic's Messages API sent as it came: the lean path of a Messages request to Claude on
Anthropic, with no translation to chat and back.

A Messages request (``PolicyRouter.amessages``, ``POST /v1/messages``) whose attempt goes to an
``anthropic/`` target on the lean path (router/_upstream/providers.py, ``serves_messages``) is
sent here: the checked body, scrubbed for the route, to ``{api_base}/v1/messages`` (``api_base``:
the route's setting, else ``ANTHROPIC_API_BASE`` / ``ANTHROPIC_BASE_URL``, else
``https://api.anthropic.com``, with ``/v1/messages`` appended unless it ends so, as litellm
does), with ``x-api-key`` from ``ANTHROPIC_API_KEY`` and ``anthropic-version: 2023-06-01``. The
body is the caller's fields as they came, ``model`` the route's id, and ``metadata`` the one end
user the router decided for, per the route's identifier rule (``metadata_for``, ``sendable``):
what litellm put on the wire for the same request. Nothing of the caller's headers is sent.

Before it is sent, the request is counted and checked by the identifier invariant on its bytes
(router/_upstream/lean.py ``send``, through the attempt's WireCheck). Errors map as on the chat
lean path (router/_upstream/errors.py ``failure_for_status``); an ``error`` event mid-stream is
the stream's failure. Answers: the JSON body and each SSE event as bytes for a caller that
relays them (``raw``: the proxy; a stream's events of one upstream read together, relayed in one
write), else a dict per answer or event (the library).

Any other target of a Messages request (Claude on Bedrock or Vertex AI, another provider's
model) takes the chat path, translated once, on first need (``SameFormat.translated``).
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any, Final

import orjson

from router._core.messages import MESSAGES_PARAMETERS, chat_names
from router._errors import FailureKind, RouterError, UpstreamFailure
from router._upstream import as_it_came, lean, messages_plain, sse
from router._upstream.errors import failure_for_status

if TYPE_CHECKING:
    from router._upstream.adapter import UpstreamCall
    from router._upstream.messages import Translated

BASE: Final = "https://api.anthropic.com"
PATH: Final = "/v1/messages"
VERSION: Final = "2023-06-01"
KEY: Final = "ANTHROPIC_API_KEY"
BASE_VARIABLES: Final = ("ANTHROPIC_API_BASE", "ANTHROPIC_BASE_URL")  # litellm reads them too
# What the router reads itself and never forwards as it came: the end user goes as metadata_for.
_OWN: Final = frozenset({"model", "stream", "privacy", "metadata"})
FORWARDED: Final = frozenset(MESSAGES_PARAMETERS) - (_OWN - {"metadata"})
# An id Anthropic refuses as metadata.user_id (an email or a phone number): litellm leaves it out.
_EMAIL: Final = re.compile(r"^[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\.[a-zA-Z]{2,}$")
_PHONE: Final = re.compile(r"^\+?[\d\s\(\)-]{7,}$")
# The status an ``error`` event's type stands for (Anthropic's error types).
_EVENT_STATUS: Final = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "overloaded_error": 529,
}


class SameFormat:
    """A checked Messages request on its way: ``body`` (the caller's fields less ``model``,
    ``stream``, ``privacy`` and ``metadata``) goes as it came to a route that speaks Messages;
    for any other it is translated to chat, once, when first needed (``translated``), with
    ``hint``, the catalog model's slug (set by the pipeline once it has resolved the model),
    for the translation's per-model choices."""

    api: Final = "messages"
    __slots__ = ("_plain", "_translated", "body", "hint", "request")

    def __init__(self, request: Mapping[str, Any]) -> None:
        self.request = request
        self.body = {k: v for k, v in request.items() if k not in _OWN}
        self.hint: str = request["model"]  # the name asked, until the pipeline resolves it
        self._plain: bool | None = None
        self._translated: Translated | None = None

    @property
    def plain(self) -> bool:
        """Text only: translated, and its answer rendered, without litellm's adapter
        (router/_upstream/messages_plain.py); looked at on first need (a request that goes
        as it came never asks)."""
        if self._plain is None:
            self._plain = messages_plain.plain(self.request)
        return self._plain

    def translated(self) -> Translated:
        """The request as chat arguments (litellm's adapter), made on first use."""
        if self._translated is None:
            from router._upstream import messages

            self._translated = messages.to_chat(self.request, self.hint)
        return self._translated

    def chat_names(self) -> frozenset[str]:
        """The chat arguments this request becomes where translated, by name only."""
        return chat_names(self.request)

    def as_chat_fixed(self) -> dict[str, Any]:
        """The body, checked against a catalog's fixed params by their names."""
        return self.body


def metadata_for(user: str | None) -> dict[str, Any]:
    """The ``metadata`` field that names the end user, before the route's scrubbing."""
    return {} if user is None else {"metadata": {"user_id": user}}


def sendable(arguments: dict[str, Any]) -> None:
    """Leave out, in place, a scrubbed ``metadata.user_id`` that litellm would not send to
    Anthropic (an email or a phone number, which Anthropic refuses), and a ``metadata`` left
    empty (its user_id removed)."""
    metadata = arguments.get("metadata")
    if not isinstance(metadata, dict):
        return
    user = metadata.get("user_id")
    if isinstance(user, str) and (_EMAIL.match(user) or _PHONE.match(user)):
        metadata = {k: v for k, v in metadata.items() if k != "user_id"}
    if metadata:
        arguments["metadata"] = metadata
    else:
        del arguments["metadata"]


def url(api_base: str | None) -> str:
    """Where the Messages call goes."""
    base = api_base or next((v for n in BASE_VARIABLES if (v := os.environ.get(n))), BASE)
    base = base.rstrip("/")
    return base if base.endswith(PATH) else base + PATH


def build(call: UpstreamCall, *, stream: bool) -> tuple[str, dict[str, str], bytes]:
    """The URL, headers and body this call sends."""
    as_it_came.forwarded_only(call.arguments, FORWARDED, "Messages")
    body: dict[str, Any] = {"model": call.target.model.split("/", 1)[1]}
    body.update(call.arguments)
    if stream:
        body["stream"] = True
    return url(call.api_base), headers(), orjson.dumps(body)


def headers() -> dict[str, str]:
    """The headers of a call to Anthropic: its key (``ANTHROPIC_API_KEY``) and API version."""
    key = os.environ.get(KEY)
    if not key:
        kind = FailureKind.AUTH
        raise UpstreamFailure(f"anthropic: {kind}: no credentials: set {KEY}", kind=kind,
                              status_code=None, provider="anthropic")  # fmt: skip
    return {"Content-Type": "application/json", "x-api-key": key, "anthropic-version": VERSION}


async def complete(call: UpstreamCall, *, raw: bool = False) -> Any:
    """One non-streaming call: the Messages response as a dict, or ``lean.Raw`` if ``raw``."""
    return await as_it_came.complete(call, build(call, stream=False), raw=raw, holds="content")


async def open_stream(call: UpstreamCall, *, raw: bool = False) -> AsyncIterator[Any]:
    """Start a streamed call; return its events once the first has arrived (with ``raw``, the
    SSE bytes of each upstream read's events together, ``as_it_came.Relayed``, else a dict per
    event); an ``error`` event is the stream's failure."""
    request = build(call, stream=True)
    return await as_it_came.open_stream(call, request, raw=raw, failed=_failed, batched=True)


def _failed(event: sse.Event, prefix: str) -> RouterError | None:
    return _stream_error(event.data, prefix) if event.event == b"error" else None


def _stream_error(data: bytes, prefix: str) -> RouterError:
    """The failure an ``error`` event reports, by its type (else a server error)."""
    parsed = as_it_came.parsed(data)
    error = parsed.get("error") if isinstance(parsed, dict) else None
    kind = error.get("type") if isinstance(error, dict) else None
    status = _EVENT_STATUS.get(kind, 500) if isinstance(kind, str) else 500
    return failure_for_status(status, lean.error_detail(data, status), prefix)
