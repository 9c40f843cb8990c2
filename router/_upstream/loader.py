"""litellm, imported once with the environment and process-wide settings the router needs.

litellm is imported on first use, not when this module is: the import takes seconds, and
commands that never forward a request must not pay for it, nor must a deployment whose routes
all take the lean path. A caller on an event loop awaits ``imported()``, which imports it in a
worker thread so that the loop keeps serving meanwhile; ``litellm_module()`` imports it in the
calling thread (serve's start-up, sync code). Its environment is set before the
import (no network fetches of price maps or header lists; httpx transport unless the settings
choose aiohttp), then its module settings (no message logging, no debug banner) and the
connection pool of the httpx clients it builds (router/_upstream/keepalive.py), and one send
per call (``_send_once``: litellm's handler would silently send a request a second time).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
import os
import sys
import threading
from types import MappingProxyType, ModuleType
from typing import Any, Final

from router._errors import ConfigError

# Read by litellm at import or on first use; set before the import, whatever was set before.
ENVIRONMENT: Final = MappingProxyType(
    {
        "LITELLM_OFFLINE_MODE": "true",  # no download of the model price map at import
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS": "true",  # no download on the first Anthropic call
        "DISABLE_AIOHTTP_TRANSPORT": "True",  # httpx for every provider (respx sees it)
    }
)


def _keep_connections_alive(litellm: Any) -> None:
    """Give every httpx client litellm builds from now on router._upstream.keepalive's pool and transport.

    litellm builds its clients in two places: the openai SDK's (OpenAI-compatible
    providers, Azure) and its own ``AsyncHTTPHandler`` (every other provider). Both are
    wrapped, once; a client the application handed litellm (``aclient_session``) keeps its
    own pool. Every one of them, and any client litellm cached before, gets the wire guard
    (router/_upstream/guard.py), which does nothing outside the router's own attempts.
    tests/upstream/test_adapter.py checks both places, so a litellm upgrade that moves them fails
    a test rather than silently losing the pool.
    """
    from litellm.llms.custom_httpx.http_handler import AsyncHTTPHandler  # noqa: TID251
    from litellm.llms.openai.common_utils import BaseOpenAILLM  # noqa: TID251

    from router._upstream.guard import guard, guarded
    from router._upstream.keepalive import keep_alive

    if getattr(AsyncHTTPHandler.create_client, "_keeps_alive", False):
        return
    create_client = AsyncHTTPHandler.create_client
    sdk_client = BaseOpenAILLM._get_async_http_client

    @functools.wraps(create_client)
    def handler_client(self: Any, *args: Any, **kwargs: Any) -> Any:
        return guard(keep_alive(create_client(self, *args, **kwargs)))

    @functools.wraps(sdk_client)
    def openai_client(*args: Any, **kwargs: Any) -> Any:
        client = sdk_client(*args, **kwargs)
        if client is None or client is litellm.aclient_session:
            return guard(client)
        return guard(keep_alive(client))

    guarded(litellm.aclient_session)
    for cached in list(litellm.in_memory_llm_clients_cache.cache_dict.values()):
        guarded(cached)  # clients the application's own calls made before ours
    handler_client._keeps_alive = True  # type: ignore[attr-defined]
    setattr(AsyncHTTPHandler, "create_client", handler_client)  # noqa: B010
    setattr(BaseOpenAILLM, "_get_async_http_client", staticmethod(openai_client))  # noqa: B010


def _send_once(handler: Any) -> None:
    """Stop ``AsyncHTTPHandler`` from sending a request a second time behind our back.

    On ``httpx.RemoteProtocolError`` or ``httpx.ConnectError`` (from 1.110 on: ``ConnectError``
    only), litellm's ``post``, ``patch`` and ``delete`` send the same request again on a fresh
    client, through ``single_connection_post_request`` (from 1.110 on:
    ``single_connection_request``), which nothing else calls. The provider may well have
    received the first one (a connection reset after the request was written), and no
    attempt record would show the second: every send must be one audited attempt, and
    failover is ours. So that method now re-raises the error it was called to recover from,
    which litellm then reports as a connection failure of this one attempt. The test
    tests/upstream/test_send_once.py fails if a litellm upgrade moves the retry.
    """
    name = retry_method(handler)
    if getattr(getattr(handler, name), "_sends_once", False):
        return

    async def no_second_send(_self: Any, *_args: Any, **_kwargs: Any) -> Any:
        failure = sys.exc_info()[1]  # the connection error being handled in post()
        if failure is None:
            raise RuntimeError("litellm's connection retry ran outside its except clause")
        raise failure

    no_second_send._sends_once = True  # type: ignore[attr-defined]
    setattr(handler, name, no_second_send)


# The method litellm's AsyncHTTPHandler re-sends through: before 1.110, and from 1.110 on.
RETRY_METHODS: Final = ("single_connection_post_request", "single_connection_request")


def retry_method(handler: Any) -> str:
    """The name of ``handler``'s re-send method in this litellm version (ConfigError if none:
    a litellm outside the tested range that moved it)."""
    for name in RETRY_METHODS:
        if hasattr(handler, name):
            return name
    raise ConfigError(
        "this litellm version's HTTP handler has none of "
        f"{', '.join(RETRY_METHODS)}: install litellm within the range policy-router declares"
    )


def loaded() -> bool:
    """Whether litellm is imported and configured in this process already."""
    return _imported.cache_info().currsize > 0


def importing() -> bool:
    """Whether a worker thread is importing litellm right now (``imported()``): until it is
    done, ``sys.modules`` may hold a litellm that is only partly initialised."""
    return _background.cache_info().currsize > 0 and not _background().done()


# One import at a time: the worker thread's and a caller's own (serve's start-up, sync code).
_IMPORT_LOCK: Final = threading.RLock()


def litellm_module() -> ModuleType:
    """litellm, imported (once, in the calling thread) after its environment is set, and
    configured. Blocks while another thread imports it."""
    if loaded():
        return _imported()
    with _IMPORT_LOCK:
        return _imported()


async def imported() -> ModuleType:
    """litellm, imported in a worker thread if it is not yet: the event loop this is awaited
    on keeps running (and serving other requests) while the import takes its seconds. Every
    caller waits for the same import."""
    if loaded():
        return _imported()
    return await asyncio.wrap_future(_background())


@functools.cache
def _background() -> concurrent.futures.Future[ModuleType]:
    """The one worker thread's import of litellm, started on the first call."""
    done: concurrent.futures.Future[ModuleType] = concurrent.futures.Future()

    def run() -> None:
        try:
            done.set_result(litellm_module())
        except BaseException as exc:  # noqa: BLE001  handed to every waiter, raised there
            done.set_exception(exc)

    threading.Thread(target=run, name="policy-router-litellm-import", daemon=True).start()
    return done


@functools.cache
def _imported() -> ModuleType:
    """The import itself; callers hold ``_IMPORT_LOCK`` (``litellm_module``)."""
    for name, value in ENVIRONMENT.items():  # the host's own value, if it set one, wins
        os.environ.setdefault(name, value)
    import litellm  # noqa: TID251
    import litellm._internal_context  # noqa: TID251
    import litellm.exceptions  # noqa: TID251
    import litellm.types.router  # noqa: TID251

    litellm.suppress_debug_info = True  # its "Give Feedback / Get Help" banner goes to stdout
    litellm.disable_aiohttp_transport = True  # configure() then applies the settings' transport
    _keep_connections_alive(litellm)
    _quiet_own_handler(litellm)
    from litellm.llms.custom_httpx.http_handler import AsyncHTTPHandler  # noqa: TID251

    _send_once(AsyncHTTPHandler)
    return litellm


def _quiet_own_handler(litellm: Any) -> None:
    """litellm's own console handler shows errors only, unless the host set ``LITELLM_LOG``.

    It writes records below WARNING to stdout, where the audit log goes by default, and its
    warnings are about pricing the router does not use. Only litellm's handler is touched:
    the levels of litellm's loggers and any handler the host added stay as the host set them.
    """
    if "LITELLM_LOG" not in os.environ:
        litellm._logging.handler.setLevel(logging.ERROR)
