"""Who may call the proxy: ``Authorization: Bearer <key>`` checked against configured keys.

An API key reaches chat and models, an admin key reaches everything. Keys are kept as SHA-256
digests and compared in constant time. Without keys the proxy serves only when allowed
(``--allow-no-auth``) and only on a loopback host (``check_auth_settings``).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from dataclasses import dataclass
from typing import Final

from fastapi.security import HTTPAuthorizationCredentials

from router._config.settings import ServerSettings
from router._errors import ConfigError
from router._server.errors import ApiError

NO_AUTH: Final = "no-auth"


def check_auth_settings(server: ServerSettings) -> None:
    """Refuse to serve without keys, unless allowed and on a loopback host (ConfigError)."""
    keys = [k.get_secret_value() for k in (*server.api_keys, *server.admin_keys)]
    if any(not k.strip() for k in keys):
        raise ConfigError(
            "refusing to start: an API or admin key is empty; remove it or set a real key"
        )
    if keys:
        return
    if not server.allow_no_auth:
        raise ConfigError(
            "refusing to start: no API key is configured; set POLICY_ROUTER_SERVER__API_KEYS='[\"<key>\"]' "
            "(and POLICY_ROUTER_SERVER__ADMIN_KEYS for the preference endpoints), "
            "or for local development on a loopback host pass --allow-no-auth"
        )
    if not is_loopback(server.host):
        raise ConfigError(
            f"refusing to start: --allow-no-auth is allowed on a loopback host only (127.0.0.1, ::1, "
            f"localhost), not {server.host!r}; set POLICY_ROUTER_SERVER__API_KEYS to serve on it"
        )


def is_loopback(host: str) -> bool:
    if host.strip().casefold() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False


def key_credentials(
    authorization: str | None, x_api_key: str | None = None
) -> HTTPAuthorizationCredentials | None:
    """The key a request presents: ``Authorization: Bearer <key>`` (as FastAPI's HTTPBearer
    reads it), or ``x-api-key: <key>`` (Anthropic's SDK; read on the Anthropic paths only).
    Both given: they must be the same key (401), since which one counts would be a guess."""
    scheme, _, token = (authorization or "").partition(" ")
    bearer = token if scheme.lower() == "bearer" and token else None
    if bearer and x_api_key and bearer.strip() != x_api_key.strip():
        raise _unauthorized(
            "two different API keys (Authorization and x-api-key); send one",
            "conflicting_api_keys",
        )
    key = bearer or x_api_key
    if key:
        return HTTPAuthorizationCredentials(scheme="Bearer", credentials=key)
    if authorization and authorization.strip() and scheme.lower() != "bearer":
        return _NOT_BEARER  # a header, but not 'Bearer <key>' (a bare key, Basic, ...)
    return None


# An Authorization header without the 'Bearer' scheme: named as such in the 401, never quoted.
_NOT_BEARER: Final = HTTPAuthorizationCredentials(scheme="", credentials="")


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


@dataclass(frozen=True, slots=True)
class Keys:
    """Digests of the configured keys; compared in constant time, each key every time."""

    api: tuple[bytes, ...]
    admin: tuple[bytes, ...]

    @classmethod
    def of(cls, server: ServerSettings) -> Keys:
        return cls(
            tuple(_digest(k.get_secret_value()) for k in server.api_keys),
            tuple(_digest(k.get_secret_value()) for k in server.admin_keys),
        )

    def caller(self, credentials: HTTPAuthorizationCredentials | None) -> str:
        """Who calls: ``admin-key-<i>`` or ``api-key-<i>`` (index in settings), or 401."""
        if not (self.api or self.admin):
            return NO_AUTH
        token = _token(credentials)
        found = _find("admin-key", token, self.admin) or _find("api-key", token, self.api)
        if found is None:
            raise _unauthorized("invalid API key", "invalid_api_key")
        return found

    def admin_caller(self, credentials: HTTPAuthorizationCredentials | None) -> str:
        """``admin-key-<i>``; an API key gets 403, a wrong or missing key 401."""
        caller = self.caller(credentials)
        if caller != NO_AUTH and not caller.startswith("admin-key-"):
            raise ApiError(
                403,
                "this endpoint needs an admin key (POLICY_ROUTER_SERVER__ADMIN_KEYS)",
                kind="permission_error",
                code="admin_key_required",
            )
        return caller


def _token(credentials: HTTPAuthorizationCredentials | None) -> bytes:
    if credentials is _NOT_BEARER:
        raise _unauthorized(
            "the Authorization header lacks the 'Bearer' scheme: send "
            "'Authorization: Bearer <key>' (the word Bearer, a space, then the key)",
            "missing_bearer",
        )
    if credentials is None or not credentials.credentials:
        raise _unauthorized(
            "missing API key: send 'Authorization: Bearer <key>'", "missing_api_key"
        )
    return _digest(credentials.credentials)


def _find(label: str, token: bytes, keys: tuple[bytes, ...]) -> str | None:
    found = None
    for index, key in enumerate(keys):
        if hmac.compare_digest(token, key) and found is None:
            found = f"{label}-{index}"
    return found


def _unauthorized(message: str, code: str) -> ApiError:
    return ApiError(
        401, message, kind="authentication_error", code=code, headers={"WWW-Authenticate": "Bearer"}
    )
