"""The envelope of every request: an ASGI middleware around the whole app (``Envelope``)."""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Final

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from router._server.errors import ApiError, internal_error

log = logging.getLogger("router.server")
access_log = logging.getLogger("router.access")

_REQUEST_ID: Final = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class Envelope:
    """Around every request: its id (``X-Request-Id``), the body-size limit (413), an access
    log line without user ids, and a last-resort 500 in OpenAI's shape, never a traceback."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.limit = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        exchange = _Exchange(scope, send)
        try:
            body = await _bounded_body(scope, receive, self.limit)
            if body is None:
                await _too_large(self.limit).response()(scope, receive, exchange.send)
            else:
                await self.app(scope, _replay(body, receive), exchange.send)
        except Exception:
            if exchange.status:
                raise
            log.exception("request %s failed", exchange.request_id)
            await internal_error().response()(scope, receive, exchange.send)
        finally:
            exchange.log()


class _Exchange:
    """One request's id and status; adds ``X-Request-Id`` to the response it sends."""

    def __init__(self, scope: Scope, send: Send) -> None:
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        self.request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = self.request_id
        self.scope = scope
        self.status = 0
        self.started = time.perf_counter()
        self._send = send

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            message["headers"] = [
                *message.get("headers", []),
                (b"x-request-id", self.request_id.encode()),
            ]
        await self._send(message)

    def log(self) -> None:
        route = getattr(self.scope.get("route"), "path", "<no route>").replace(":path", "")
        elapsed = (time.perf_counter() - self.started) * 1000
        access_log.info(
            "%s %s %s %.0fms request_id=%s",
            self.scope["method"],
            route,
            self.status,
            elapsed,
            self.request_id,
        )


def _too_large(limit: int) -> ApiError:
    return ApiError(
        413,
        f"the request body is larger than the limit of {limit} bytes (POLICY_ROUTER_SERVER__MAX_BODY_BYTES)",
        code="request_too_large",
    )


async def _bounded_body(scope: Scope, receive: Receive, limit: int) -> bytes | None:
    """The whole body, or None once it is known to exceed ``limit`` (declared or counted)."""
    declared = dict(scope["headers"]).get(b"content-length", b"")
    if declared.isdigit() and int(declared) > limit:
        return None
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(parts)
        parts.append(message.get("body", b""))
        size += len(parts[-1])
        if size > limit:
            return None
        if not message.get("more_body", False):
            return b"".join(parts)


def _replay(body: bytes, receive: Receive) -> Receive:
    """Hands the app the body already read, then the connection's own messages (disconnect)."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replayed() -> Message:
        return pending.pop() if pending else await receive()

    return replayed
