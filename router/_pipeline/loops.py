"""The sync API: ``completion``, ``responses`` and ``messages`` on a private event loop.

Each router that is called synchronously gets one event-loop thread of its own, started on
its first sync call. A sync call runs the async form there and waits for it, so it behaves
the same from a plain thread, from a worker thread, and from code that already runs inside
an event loop (a notebook, a framework's async code calling a sync library): the caller's
loop is blocked for the call, as by any sync call, and never re-entered. A stream becomes a
sync iterator whose every step runs on that loop. The caller's context variables (tracing,
the router's own-work mark) go with the call.

``close()`` (``PolicyRouter.aclose`` calls it) runs the router's closing work on the loop,
stops it and joins its thread; a process that never closes its router stops the loop at exit,
quietly.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextvars
import threading
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from typing import Any, Final, TypeVar

from router._errors import RouterError

T = TypeVar("T")

_JOIN_SECONDS: Final = 5.0
# Loops still running at interpreter exit: each is stopped (its closing work run) by _at_exit.
_RUNNING: Final[weakref.WeakSet[LoopThread]] = weakref.WeakSet()


class LoopThread:
    """One private event loop in a daemon thread, started on first use."""

    def __init__(self, closing: Callable[[], Awaitable[None]], name: str) -> None:
        self._closing = closing  # the router's closing work for this loop's resources
        self._name = name
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the private loop and wait for its result (or its exception)."""
        loop = self._started()
        if threading.current_thread() is self._thread:
            coro.close()
            raise RouterError(
                "a sync router call was made from the router's own event loop (inside a "
                "routed call); use the async form (acompletion, aresponses, amessages) there"
            )
        done: concurrent.futures.Future[T] = concurrent.futures.Future()
        context = contextvars.copy_context()
        task: list[asyncio.Task[T]] = []

        def start() -> None:
            if not done.set_running_or_notify_cancel():
                coro.close()
                return
            task.append(loop.create_task(coro, context=context))
            task[0].add_done_callback(lambda t: _settle(done, t))

        loop.call_soon_threadsafe(start)
        try:
            return done.result()
        except BaseException:  # KeyboardInterrupt, SystemExit: the call is cancelled
            if not done.done():
                loop.call_soon_threadsafe(lambda: task and task[0].cancel())
            raise

    def _started(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._thread is None or not self._thread.is_alive():
                loop = asyncio.new_event_loop()
                ready = threading.Event()
                thread = threading.Thread(
                    target=_serve, args=(loop, ready), name=self._name, daemon=True
                )
                thread.start()
                ready.wait()
                self._loop, self._thread = loop, thread
                _RUNNING.add(self)
            return self._loop

    def close(self) -> None:
        """Run the closing work on the loop, stop it and join its thread (idempotent)."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
            _RUNNING.discard(self)
        if loop is None or thread is None:
            return
        if thread is threading.current_thread():
            raise RouterError("the router cannot be closed from inside one of its own calls")
        if thread.is_alive():
            closing = asyncio.run_coroutine_threadsafe(self._close_all(), loop)
            try:
                closing.result(_JOIN_SECONDS)
            except (TimeoutError, concurrent.futures.TimeoutError):
                closing.cancel()
            loop.call_soon_threadsafe(loop.stop)
            thread.join(_JOIN_SECONDS)
        if not loop.is_running():
            loop.close()

    async def _close_all(self) -> None:
        await self._closing()
        await asyncio.get_running_loop().shutdown_asyncgens()


def _serve(loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
    asyncio.set_event_loop(loop)
    loop.call_soon(ready.set)
    loop.run_forever()


def _settle(done: concurrent.futures.Future[T], task: asyncio.Task[T]) -> None:
    if task.cancelled():
        done.cancel()
    elif (error := task.exception()) is not None:
        done.set_exception(error)
    else:
        done.set_result(task.result())


class SyncStream:
    """A routed async stream as a sync iterator; each step runs on the router's loop.

    Attributes other than iteration (``_hidden_params``, ``answered``) are the async
    stream's own. ``close()`` (or leaving a ``with`` block) closes it early."""

    def __init__(self, stream: AsyncIterator[Any], loop: LoopThread) -> None:
        self._stream = stream
        self._loop = loop
        self._closed = False

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        if self._closed:
            raise StopIteration
        try:
            return self._loop.run(_step(self._stream))
        except StopAsyncIteration:
            self._closed = True
            raise StopIteration from None

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            aclose = getattr(self._stream, "aclose", None)
            if aclose is not None:
                self._loop.run(aclose())

    def __enter__(self) -> SyncStream:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


async def _step(stream: AsyncIterator[Any]) -> Any:
    return await anext(stream)


def sync_result(result: Any, loop: LoopThread) -> Any:
    """A sync call's answer: a stream (an async iterator) becomes a ``SyncStream``."""
    return SyncStream(result, loop) if hasattr(result, "__anext__") else result


class LoopEnd:
    """Runs a closing coroutine on each event loop the router was used on, when that loop
    shuts down its async generators (``asyncio.run`` does, before it closes the loop), so a
    program that never closes its router leaves no open session behind to warn at exit."""

    def __init__(self, closing: Callable[[], Awaitable[None]]) -> None:
        self._closing = closing
        self._by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = (
            weakref.WeakKeyDictionary()
        )

    def watch(self) -> None:
        """Register the running loop (once): its shutdown runs the closing work."""
        loop = asyncio.get_running_loop()
        if loop in self._by_loop:
            return
        sentinel = self._sentinel()
        step = sentinel.asend(None)  # started here, so the loop tracks it; it does not await
        try:
            step.send(None)
        except StopIteration:
            self._by_loop[loop] = sentinel  # held: the loop keeps only a weak reference

    async def _sentinel(self) -> AsyncGenerator[None, None]:
        try:
            yield
        finally:
            await self._closing()


@atexit.register
def _at_exit() -> None:
    """Stop the loops of routers never closed: their connections close, nothing warns."""
    for running in list(_RUNNING):
        running.close()
