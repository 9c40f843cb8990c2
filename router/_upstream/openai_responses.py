"""OpenAI's Responses API sent as it came: the lean path of a Responses request to an OpenAI
model that speaks only that API (o3 pro, GPT 5 Codex), with no translation to chat and back.

A Responses request (``PolicyRouter.aresponses``, ``POST /v1/responses``) whose attempt goes to
an ``openai/`` Responses-API target on the lean path (router/_upstream/providers.py,
``serves_responses``) is sent here: the checked body, scrubbed for the route, to
``{api_base}/responses`` (``api_base``: the route's setting, else ``https://api.openai.com/v1``)
with ``Authorization: Bearer`` from ``OPENAI_API_KEY``. The body is the caller's fields as they
came less what the router owns (``stream``, ``privacy``, the limits, the consumed bookkeeping),
``model`` the route's id, ``user`` the one end user the router decided for, and
``store: false`` always: the Responses API keeps every response unless told not to, and the
catalog's retention promise for the route holds only when nothing is kept. The identifier
fields (``user``, ``safety_identifier``, ``prompt_cache_key``) are removed or pseudonymised
per the route's rule by the scrubbing every attempt gets. Nothing of the caller's headers is
sent.

Before it is sent, the request is counted and checked by the identifier invariant on its bytes
(router/_upstream/lean.py ``send``, through the attempt's WireCheck). Errors map as on the chat
lean path (router/_upstream/errors.py ``failure_for_status``); an ``error`` or
``response.failed`` event mid-stream is the stream's failure. Answers: the JSON body and each
SSE event as bytes for a caller that relays them (``raw``: the proxy), else a dict per answer
or event (the library).

Any other target of a Responses request (chat models, other providers, Azure) takes the chat
path, translated once, on first need (``AsItCame.translated``: litellm's bridge, or for a
plain request router/_upstream/responses_plain.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any, Final

import orjson

from router._core.responses import RESPONSES
from router._core.surface import CONSUMED
from router._errors import RouterError
from router._upstream import as_it_came, lean, responses_plain, sse
from router._upstream.errors import failure_for_status
from router._upstream.providers import PROVIDERS

if TYPE_CHECKING:
    from router._upstream.adapter import UpstreamCall

PATH: Final = "/responses"
# What the router reads itself and never forwards as it came; the end user goes as ``user``.
LIMITS: Final[tuple[str, ...]] = ("timeout", "num_retries", "max_retries")
_OWN: Final = frozenset({"model", "stream", "privacy", "user", "store", *LIMITS}) | CONSUMED
# What a body sent as it came may carry: the surface's fields less the router's own, and the
# end user (as ``user``, scrubbed per route).
FORWARDED: Final = (frozenset(RESPONSES) - _OWN) | {"user"}
# The status an ``error`` event's code stands for (OpenAI's error codes).
_EVENT_STATUS: Final = {
    "invalid_request_error": 400,
    "invalid_prompt": 400,
    "context_length_exceeded": 400,
    "rate_limit_exceeded": 429,
    "insufficient_quota": 429,
    "server_error": 500,
}
_FAILED: Final = (b"error", b"response.failed")


class AsItCame:
    """A checked Responses request on its way: ``body`` (the caller's fields less the
    router's own) goes as it came to a route that speaks the Responses API; for any other it
    is translated to chat arguments, once, when first needed (``translated``)."""

    api: Final = "responses"
    __slots__ = ("_translated", "body", "plain", "request", "stream")

    def __init__(self, request: Mapping[str, Any], *, renders: bool = False) -> None:
        self.request = request
        self.stream = bool(request.get("stream"))
        self.body = {k: v for k, v in request.items() if k not in _OWN}
        self._translated: dict[str, Any] | None = None
        # Where translated, the router renders the answer itself (router/_upstream/
        # responses_plain.py): a plain request whose caller relays bytes (``renders``: the proxy).
        self.plain = renders and responses_plain.plain(request)

    def translated(self) -> dict[str, Any]:
        """The request as chat arguments, ``messages`` included, made on first use: a plain
        request's here (router/_upstream/responses_plain.py), any other by litellm's bridge."""
        if self._translated is None:
            if self.plain or responses_plain.plain(self.request):  # judged once where it is
                self._translated = responses_plain.to_chat(self.request, stream=self.stream)
            else:
                from router._upstream import responses

                self._translated = responses.to_chat(self.request, stream=self.stream)
        return self._translated

    def identified(self, user: str | None) -> dict[str, Any]:
        """The body with the end user as ``user``, before the route's scrubbing."""
        return self.body if user is None else self.body | {"user": user}

    def chat_names(self) -> frozenset[str]:
        """The chat arguments this request becomes where it is translated (litellm's
        bridge decides; asked only where a route translates)."""
        return frozenset(self.translated()) - {"messages"}

    def as_chat_fixed(self) -> dict[str, Any]:
        """The body under the chat names a catalog's fixed params use (``reasoning_effort``)."""
        reasoning = self.body.get("reasoning")
        effort = reasoning.get("effort") if isinstance(reasoning, Mapping) else None
        return self.body if effort is None else self.body | {"reasoning_effort": effort}


def url(api_base: str | None) -> str:
    """Where the Responses call goes."""
    base = (api_base or PROVIDERS["openai"].base).rstrip("/")
    return base if base.endswith(PATH) else base + PATH


def build(call: UpstreamCall, *, stream: bool) -> tuple[str, dict[str, str], bytes]:
    """The URL, headers and body this call sends: ``store: false`` whatever came."""
    as_it_came.forwarded_only(call.arguments, FORWARDED, "Responses")
    target = call.target
    name, value = PROVIDERS[target.prefix].auth(target.prefix)
    body: dict[str, Any] = {"model": target.model.split("/", 1)[1]}
    body.update(call.arguments)
    body["store"] = False
    if stream:
        body["stream"] = True
    headers = {"Content-Type": "application/json", name: value}
    return url(call.api_base), headers, orjson.dumps(body)


async def complete(call: UpstreamCall, *, raw: bool = False) -> Any:
    """One non-streaming call: the Responses answer as a dict, or ``lean.Raw`` if ``raw``."""
    return await as_it_came.complete(call, build(call, stream=False), raw=raw, holds="output")


async def open_stream(call: UpstreamCall, *, raw: bool = False) -> AsyncIterator[Any]:
    """Start a streamed call; return its events once the first has arrived (SSE bytes with
    ``raw``, else dicts); an ``error`` or ``response.failed`` event is the stream's failure."""
    return await as_it_came.open_stream(call, build(call, stream=True), raw=raw, failed=_failed)


def _failed(event: sse.Event, prefix: str) -> RouterError | None:
    return _stream_error(event.data, prefix) if event.event in _FAILED else None


def _stream_error(data: bytes, prefix: str) -> RouterError:
    """The failure an ``error`` (or ``response.failed``) event reports, by its code (else a
    server error); the provider's message is the detail, as on the chat lean path."""
    parsed = as_it_came.parsed(data)
    error: Any = parsed
    if isinstance(parsed, dict) and isinstance(parsed.get("response"), dict):
        error = parsed["response"].get("error")
    code = error.get("code") if isinstance(error, dict) else None
    status = _EVENT_STATUS.get(code, 500) if isinstance(code, str) else 500
    message = error.get("message") if isinstance(error, dict) else None
    detail = orjson.dumps({"error": {"message": message}}) if isinstance(message, str) else b""
    return failure_for_status(status, lean.error_detail(detail, status), prefix)
