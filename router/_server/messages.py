"""``POST /v1/messages``: Anthropic's Messages API, routed by the same policy as chat.

The body is checked against the Messages surface (router/_core/messages.py) and routed
(router/_apis/messages.py): to Claude on Anthropic as it came, Anthropic's answer relayed as
bytes (``model`` naming the model asked for, in the body or in ``message_start``); to any other
route translated to a chat completion and back. The answer is a Messages response, or with
``stream`` Anthropic's SSE events (``message_start``, ``ping``, ``content_block_start``,
``content_block_delta``, ``content_block_stop``, ``message_delta``, ``message_stop``); a
failure mid-stream ends the stream with an ``error`` event. Errors come in Anthropic's shape
(router/_server/errors.py, ``respond``).

The key is ``x-api-key: <key>`` (what Anthropic's SDK sends) or ``Authorization: Bearer
<key>``. ``anthropic-version`` and ``anthropic-beta`` are accepted and ignored: nothing of the
caller's headers is forwarded. The end user is the ``X-Router-User`` header, else
``metadata.user_id`` (see ``_end_user``).

``POST /v1/messages/count_tokens``: the same request (``max_tokens`` not needed), the same
decision; the tokens are counted locally with litellm's tokenizer for the first allowed route,
so no provider is contacted (router/_apis/messages.py, ``count_tokens``).
"""

from __future__ import annotations

import functools
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from router._apis.messages import API, batch_bytes, event_bytes, route_messages, user_of
from router._apis.messages import count_tokens as count
from router._core.redact import named
from router._errors import RouterError
from router._server.context import Context, end_user, router_user
from router._server.endpoint import (
    Answer,
    Endpoint,
    json_answer,
    relayed_answer,
    route_headers,
    streamed,
)
from router._server.errors import ApiError, api_error
from router._upstream import sse
from router._upstream.as_it_came import Relayed
from router._upstream.lean import Raw

PATH: Final = "/v1/messages"
COUNT_PATH: Final = "/v1/messages/count_tokens"
# Query parameters Anthropic's SDK may add (``beta=true`` on client.beta.messages): ignored.
_IGNORED_QUERY: Final = frozenset({"beta"})
_MESSAGE_START: Final = b"event: message_start\n"


class Messages(Endpoint):
    """A Messages request routed only to backends the policy allows (JSON, or SSE)."""

    path = PATH
    api = API
    what = "a Messages request"
    anthropic = True

    def authorise(self, request: Request, ctx: Context) -> None:
        """The key (x-api-key or Bearer) is known, and the query names nothing but ``beta``."""
        super().authorise(request, ctx)
        if not request.scope.get("query_string"):  # none: nothing to parse
            return
        unknown = sorted(set(request.query_params) - _IGNORED_QUERY)
        if unknown:
            raise ApiError(
                400,
                f"unknown query parameter {named(unknown[0])}; this endpoint takes none "
                "('beta' is accepted and ignored)",
                code="unsupported_parameter",
                param=unknown[0],
            )

    def user(self, request: Request, fields: dict[str, Any]) -> str | None:
        """The ``X-Router-User`` header if given, else ``metadata.user_id``.

        Unlike chat, where two different users are refused, the header wins: Anthropic
        clients fill ``metadata.user_id`` themselves (Claude Code: an account and session
        id), and the integration that sets the header names the user whose preferences apply.
        Either way ``metadata`` itself is never forwarded: the one user decided for is,
        scrubbed per route."""
        header = router_user(request, request.headers.get("x-router-user"))
        if header:
            return end_user(None, header, "X-Router-User", request)
        return end_user(user_of(fields), None, "metadata.user_id", request)

    def stated_user(self, fields: dict[str, Any]) -> object:
        return user_of(fields)

    async def forward(
        self, ctx: Context, fields: dict[str, Any], user: str | None, request_id: str
    ) -> Any:
        return await route_messages(
            ctx.router.pipeline, fields, user, request_id=request_id, proxy=True
        )

    def respond(self, result: Any, fields: dict[str, Any]) -> Response | Answer:
        routed, answered = result
        headers = route_headers(answered)
        model = fields["model"]
        if isinstance(routed, Raw):  # Anthropic's answer as it came, naming the asked model
            return relayed_answer(routed, model, headers)
        if isinstance(routed, dict):
            return json_answer(routed, headers)
        # the first chunk is in hand: failover has settled
        render = functools.partial(_relayed_read, model=model) if answered.native else batch_bytes
        return streamed(sse.Relay(routed, render, _error, catch=RouterError), headers)


class CountTokens(Messages):
    """The input tokens of a Messages request, counted locally for the route the policy
    would send it to (router/_apis/messages.py, ``count_tokens``): no provider is contacted."""

    path = COUNT_PATH

    async def forward(
        self, ctx: Context, fields: dict[str, Any], user: str | None, request_id: str
    ) -> Any:
        return await count(ctx.router.pipeline, fields, user, request_id=request_id)

    def respond(self, result: Any, fields: dict[str, Any]) -> Response | Answer:
        counted, route = result
        headers = {
            "X-Router-Route": route.key,
            "X-Router-Provider": route.provider.slug,
            "X-Router-Token-Count": "local",  # litellm's tokenizer here, not the provider's count
        }
        return JSONResponse({"input_tokens": counted}, headers=headers)


def _relayed_read(events: Relayed, model: str) -> bytes:
    """The events of one upstream read, relayed together (one write)."""
    return b"".join([_relayed(event, model) for event in events])


def _relayed(event: bytes, model: str) -> bytes:
    """An event of Anthropic's stream as it came; ``message_start`` names the asked model."""
    return sse.naming(event, "message", model) if event.startswith(_MESSAGE_START) else event


def _error(exc: RouterError) -> bytes:
    """The ``error`` event in Anthropic's shape (never the backend's own text)."""
    return event_bytes(api_error(exc).anthropic())
