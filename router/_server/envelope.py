"""The envelope of every request: an ASGI middleware around the whole app (``Envelope``).

Before the app sees a request, and before its body is read, the envelope refuses what no
endpoint could take: a path whose percent-encoding is not UTF-8 (400), a missing or unknown
key on any endpoint but the public ones (401), then a body over the size limit (413) or one
that does not arrive within ``read_timeout`` seconds (408). So a client without a key costs
the proxy its headers, never a buffered body. These early answers close the connection.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, Final, cast
from urllib.parse import unquote_to_bytes

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from router._server.auth import Keys, key_credentials
from router._server.errors import ANTHROPIC_PATHS, ApiError, internal_error, respond
from router._server.logs import line_keeper

log = logging.getLogger("router.server")
ACCESS: Final = "router.access"
access_log = logging.getLogger(ACCESS)

_REQUEST_ID: Final = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
BODY: Final = "router.body"  # the scope's key of the body the envelope read
DIRECT: Final = (
    "router.direct"  # the scope's key of (the envelope's send, the server's): ``direct``
)
CALLER: Final = "caller"  # the scope's state: (the keys that checked it, the caller they named)
MAX_CLIENT_ID: Final = 128  # characters of a refused X-Request-Id echoed in X-Client-Request-Id
# Paths served without a key: health checks and the API's own description.
PUBLIC: Final = frozenset(
    {"/healthz", "/readyz", "/openapi.json", "/docs", "/docs/oauth2-redirect"}
)


@dataclass(frozen=True, slots=True)
class Limits:
    """What one request may cost before the app sees it."""

    max_body_bytes: int
    read_timeout: float  # seconds for the whole body to arrive


class Envelope:
    """Around every request: its id (``X-Request-Id``), the checks that need no body (path,
    key), the body's size and time limits, an access log line without user ids, and a
    last-resort 500 in the API's error shape (OpenAI's; Anthropic's on its paths), never a traceback."""

    def __init__(self, app: ASGIApp, keys: Keys, limits: Limits) -> None:
        self.app = app
        self.keys = keys
        self.limits = limits
        # An app that hands back its response (``answer``: router/_server/endpoint.py's
        # ``Handled``) has it sent from here, the same messages as its own call would send.
        self._answer: Callable[[Scope, Receive, Send], Awaitable[ASGIApp]] | None = getattr(
            app, "answer", None
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = _first_values(scope)
        exchange = _Exchange(scope, send, headers)
        loop = asyncio.get_running_loop()  # once a request: each asking costs a getpid on 3.11
        try:  # the app runs in this frame (a streamed answer's every event passes through it)
            try:
                self._check_headers(scope, headers)
                body = await _within(
                    self.limits.read_timeout,
                    _bounded_body(headers, receive, self.limits.max_body_bytes),
                    loop,
                )
            except ApiError as refused:
                await respond(_closing(refused), scope["path"])(scope, receive, exchange.send)
                return
            except TimeoutError:
                too_slow = _closing(_too_slow(self.limits.read_timeout))
                await respond(too_slow, scope["path"])(scope, receive, exchange.send)
                return
            scope[BODY] = body  # for the POST endpoints' request (router/_server/endpoint.py)
            scope[DIRECT] = (exchange.send, send)
            receive = _replay(body, receive)
            if self._answer is None:
                await self.app(scope, receive, exchange.send)
            else:  # the app's response, sent from this frame
                response = await self._answer(scope, receive, exchange.send)
                await response(scope, receive, exchange.send)
        except asyncio.CancelledError:
            # uvicorn cancels what is still running past graceful_timeout: the request ends
            # here, with an answer in OpenAI's shape rather than uvicorn's plain-text 500.
            log.warning("request %s cancelled (server shutting down)", exchange.request_id)
            if not exchange.status:
                await respond(_cancelled(), scope["path"])(scope, receive, exchange.send)
        except Exception:
            log.exception("request %s failed", exchange.request_id)
            if not exchange.status:  # else the answer is cut short; uvicorn closes the connection
                await respond(internal_error(), scope["path"])(scope, receive, exchange.send)
        finally:
            # The scope holds the exchange's send, and the exchange the scope: unlinked here,
            # the request's objects (uvicorn's cycle among them) go when it ends, by reference
            # counting, not at the collector's next pass (a pause of tens of ms under load).
            scope.pop(DIRECT, None)
            exchange.log(loop)

    def _check_headers(self, scope: Scope, headers: Mapping[bytes, bytes]) -> None:
        """The path decodes as UTF-8 and the key is known: both known before any body."""
        if not _is_utf8_path(scope):
            raise ApiError(
                400,
                "the path's percent-encoding is not UTF-8 text; encode the user id as UTF-8",
                code="invalid_path",
            )
        if scope["path"] not in PUBLIC:
            anthropic = scope["path"] in ANTHROPIC_PATHS  # Anthropic's SDK sends x-api-key
            x_api_key = _header(headers, b"x-api-key") if anthropic else None
            authorization = _header(headers, b"authorization")
            caller = self.keys.caller(key_credentials(authorization, x_api_key))
            scope["state"][CALLER] = (self.keys, caller)  # the endpoint's check: done


class _Exchange:
    """One request's id and status; adds ``X-Request-Id`` to the response it sends.

    A caller's ``X-Request-Id`` is kept if it is 1-128 characters of ``[A-Za-z0-9._:-]``;
    any other is replaced by a fresh id, and echoed (printable ASCII, 128 characters at most)
    in ``X-Client-Request-Id`` so the caller can still match the answer."""

    def __init__(
        self, scope: Scope, send: Send, headers: Mapping[bytes, bytes] | None = None
    ) -> None:
        given = _header(_first_values(scope) if headers is None else headers, b"x-request-id")
        self.client_id = None if not given or _REQUEST_ID.match(given) else _printable(given)
        self._state = scope.setdefault("state", {})
        fresh = not given or self.client_id is not None
        self._state["request_id"] = os.urandom(16).hex() if fresh else given  # 32 hex digits
        self.scope = scope
        self.status = 0
        self.started = time.perf_counter()
        self._send = send

    @property
    def request_id(self) -> str:
        """The request's id; a handler may replace it (one that held the user id)."""
        return str(self._state["request_id"])

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            headers = [*message.get("headers", []), (b"x-request-id", self.request_id.encode())]
            if self.client_id is not None:
                headers.append((b"x-client-request-id", self.client_id.encode()))
            message["headers"] = headers
        await self._send(message)

    def log(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """The access line; ``loop``: the running loop (the request's), if the caller has it."""
        route = getattr(self.scope.get("route"), "path", "<no route>").replace(":path", "")
        elapsed = (time.perf_counter() - self.started) * 1000
        keeper = line_keeper(access_log)
        if keeper is not None:  # the same line, without a record (router/_server/logs.py)
            keeper.keep(
                f"INFO:  {ACCESS}: {self.scope['method']} {route} {self.status} "
                f"{elapsed:.0f}ms request_id={self.request_id}",
                loop,
            )
            return
        access_log.info(
            "%s %s %s %.0fms request_id=%s",
            self.scope["method"],
            route,
            self.status,
            elapsed,
            self.request_id,
        )


def direct(scope: Scope, send: Send) -> Send:
    """The server's own send, for the body messages of a response whose head is out, if
    ``send`` is the envelope's (which has nothing to add to them); else ``send`` itself."""
    found = scope.get(DIRECT)
    return cast(Send, found[1]) if found is not None and found[0] == send else send


def _first_values(scope: Scope) -> dict[bytes, bytes]:
    """Each header's first value, by its name (lower case, as ASGI gives it): one pass, in C.
    ``dict`` keeps the last value given for a key, so the headers are read backwards."""
    headers = scope["headers"]
    return dict(reversed(headers if isinstance(headers, list) else list(headers)))


def _header(headers: Mapping[bytes, bytes], name: bytes) -> str | None:
    """The first value of header ``name`` (lower case), or None."""
    value = headers.get(name)
    return None if value is None else bytes(value).decode("latin-1")


def _printable(text: str) -> str:
    return "".join(c for c in text if " " <= c <= "~")[:MAX_CLIENT_ID]


def _is_utf8_path(scope: Scope) -> bool:
    raw = bytes(scope.get("raw_path") or scope["path"].encode())
    if raw.isascii() and raw.find(b"%") < 0:  # not ``in``: on 3.11 it raises a TypeError first
        return True  # nothing encoded: ASCII is UTF-8
    try:
        unquote_to_bytes(raw.split(b"?", 1)[0]).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _closing(error: ApiError) -> ApiError:
    """The error, sent with ``Connection: close``: its body, if any, is never read."""
    error.headers["Connection"] = "close"
    return error


def _cancelled() -> ApiError:
    return ApiError(
        503,
        "the server shut down before this request was answered; it was cancelled, and any "
        "backend attempt is in the audit as 'cancelled'; try again",
        kind="server_error",
        code="server_shutting_down",
        headers={"Connection": "close"},
    )


def _too_slow(seconds: float) -> ApiError:
    return ApiError(
        408,
        f"the request body did not arrive within {seconds:g} seconds "
        "(POLICY_ROUTER_SERVER__READ_TIMEOUT); send it at once",
        code="request_timeout",
    )


def _too_large(limit: int) -> ApiError:
    return ApiError(
        413,
        f"the request body is larger than the limit of {limit} bytes (POLICY_ROUTER_SERVER__MAX_BODY_BYTES)",
        code="request_too_large",
    )


async def _within(
    seconds: float,
    reading: Coroutine[Any, Any, bytes],
    loop: asyncio.AbstractEventLoop | None = None,
) -> bytes:
    """``reading``'s result, or TimeoutError once ``seconds`` have passed: ``asyncio.timeout``'s
    rule (the task cancelled at the deadline; that cancellation, and only it, becomes the
    TimeoutError; one from elsewhere is raised as it came), with one timer and no context
    manager: a fifth of its Python calls, per request. ``loop``: the running loop, if the
    caller has it (on 3.11 each ``get_running_loop``, ``current_task``'s too, is a getpid)."""
    if loop is None:
        loop = asyncio.get_running_loop()
    task = asyncio.current_task(loop)
    if task is None:  # pragma: no cover  (uvicorn runs each request in a task)
        return await reading
    expired = False

    def expire() -> None:
        nonlocal expired
        expired = True
        task.cancel()

    cancelling = task.cancelling()
    timer = loop.call_at(loop.time() + seconds, expire)
    try:
        return await reading
    except asyncio.CancelledError:
        if expired and task.uncancel() <= cancelling:
            raise TimeoutError from None
        raise
    finally:
        timer.cancel()


async def _bounded_body(headers: Mapping[bytes, bytes], receive: Receive, limit: int) -> bytes:
    """The whole body; 413 (ApiError) once it is known to exceed ``limit`` (declared or counted)."""
    declared = (_header(headers, b"content-length") or "").strip()
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(parts)
        parts.append(message.get("body", b""))
        size += len(parts[-1])
        if size > limit:
            raise _too_large(limit)
        if not message.get("more_body", False):
            return b"".join(parts)


def _replay(body: bytes, receive: Receive) -> Receive:
    """Hands the app the body already read, then the connection's own messages (disconnect)."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replayed() -> Message:
        return pending.pop() if pending else await receive()

    return replayed
