"""Strict mode: no HTTP request reaches a provider from this process except the router's own.

``router.install(strict=True)`` wraps the send of every httpx client (``httpx.Client.send``,
``httpx.AsyncClient.send``) and every aiohttp session (``aiohttp.ClientSession._request``),
whoever made it: the openai and anthropic SDKs, a framework's own client, litellm's. A request
whose host is a provider endpoint is refused before anything is sent, with a ``RouterError``
naming the host and saying how to route the call, unless it is one of the router's own
attempts (router/_upstream/own.py). Provider endpoints are the catalog providers' public API
hosts (the deployment file's ``hosts``) and every ``api_base`` the settings give a provider
(matched with its port).

What it cannot see: raw sockets, other HTTP libraries (``requests``, ``urllib``, ``urllib3``,
``pycurl``, gRPC), other processes, and hosts not declared (a provider reached through a proxy
or a private endpoint the settings do not name). ``restore()`` puts the sends back.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit

from router._errors import RouterError
from router._upstream.own import is_own

__all__ = ["Endpoints", "Strict", "install"]

_HINT: Final = (
    "call the model through the policy instead: litellm.completion / acompletion (with "
    "router.install()), or a PolicyRouter's acompletion, aresponses or amessages, or the "
    "proxy (policy-router serve) as the client's base URL"
)


@dataclass(frozen=True, slots=True)
class Endpoints:
    """Hosts (patterns) and exact ``host:port`` endpoints that are providers."""

    patterns: tuple[re.Pattern[str], ...]
    exact: frozenset[str]

    @classmethod
    def of(cls, hosts: Iterable[str], bases: Iterable[str]) -> Endpoints:
        compiled = tuple(
            re.compile("^" + re.escape(h).replace(r"\*", "[a-z0-9-]+") + "$") for h in hosts
        )
        exact = frozenset(e for e in (_endpoint(b) for b in bases) if e is not None)
        return cls(compiled, exact)

    def provider(self, url: str) -> str | None:
        """The host ``url`` goes to, if it is a provider endpoint; else None."""
        parts = urlsplit(url)
        host = (parts.hostname or "").lower().rstrip(".")
        if not host:
            return None
        if _endpoint(url) in self.exact or any(p.match(host) for p in self.patterns):
            return host
        return None


def _endpoint(url: str) -> str | None:
    parts = urlsplit(url)
    if not parts.hostname:
        return None
    port = parts.port or (443 if parts.scheme in ("https", "wss") else 80)
    return f"{parts.hostname.lower().rstrip('.')}:{port}"


@dataclass
class Strict:
    """The sends strict mode replaced, to put back."""

    saved: list[tuple[Any, str, Any]] = field(default_factory=list)

    def restore(self) -> None:
        for owner, name, before in reversed(self.saved):
            setattr(owner, name, before)
        self.saved.clear()


def refusal(host: str) -> RouterError:
    return RouterError(
        f"an HTTP request to {host} (a provider endpoint) was refused before it was sent: "
        f"router.install(strict=True) lets only the router's own attempts reach providers; "
        f"{_HINT}"
    )


def install(endpoints: Endpoints) -> Strict:
    """Wrap httpx's and aiohttp's sends (aiohttp where it is installed)."""
    import httpx

    strict = Strict()

    def check(url: object) -> None:
        if is_own():
            return
        host = endpoints.provider(str(url))
        if host is not None:
            raise refusal(host)

    _wrap(strict, httpx.Client, "send", check, _httpx_url, is_async=False)
    _wrap(strict, httpx.AsyncClient, "send", check, _httpx_url, is_async=True)
    try:
        import aiohttp
    except ImportError:  # pragma: no cover - aiohttp is a dependency; a slim install may lack it
        return strict
    _wrap(strict, aiohttp.ClientSession, "_request", check, _aiohttp_url, is_async=True)
    return strict


def _httpx_url(args: tuple[Any, ...], kwargs: dict[str, Any]) -> object:
    request = args[0] if args else kwargs.get("request")
    return getattr(request, "url", "")


def _aiohttp_url(args: tuple[Any, ...], kwargs: dict[str, Any]) -> object:
    return args[1] if len(args) > 1 else kwargs.get("str_or_url", "")


def _wrap(
    strict: Strict,
    owner: type,
    name: str,
    check: Callable[[object], None],
    url_of: Callable[[tuple[Any, ...], dict[str, Any]], object],
    *,
    is_async: bool,
) -> None:
    """Replace ``owner.name`` with a send that checks its URL first (arguments after self)."""
    original = owner.__dict__[name]
    strict.saved.append((owner, name, original))
    if is_async:

        @functools.wraps(original)
        async def send_async(self: Any, *args: Any, **kwargs: Any) -> Any:
            check(url_of(args, kwargs))
            return await original(self, *args, **kwargs)

        setattr(owner, name, send_async)
        return

    @functools.wraps(original)
    def send(self: Any, *args: Any, **kwargs: Any) -> Any:
        check(url_of(args, kwargs))
        return original(self, *args, **kwargs)

    setattr(owner, name, send)
