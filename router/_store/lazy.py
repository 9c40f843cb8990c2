"""A preference store opened on first use, so ``PolicyRouter.from_settings()`` stays synchronous."""

from __future__ import annotations

import asyncio

from router._core.preferences import Preferences
from router._store import PreferenceStore, open_store
from router._store.base import DEFAULT_TIMEOUT_SECONDS


class LazyStore:
    """Opens the store at ``url`` on the first call; a failed open is retried on the next call."""

    def __init__(self, url: str, *, lock_timeout: float = DEFAULT_TIMEOUT_SECONDS) -> None:
        self.url = url
        self.lock_timeout = lock_timeout
        self._store: PreferenceStore | None = None
        self._lock = asyncio.Lock()

    async def _opened(self) -> PreferenceStore:
        if self._store is None:
            async with self._lock:
                if self._store is None:
                    self._store = await open_store(self.url, lock_timeout=self.lock_timeout)
        return self._store

    async def get(self, user: str) -> Preferences | None:
        return await (await self._opened()).get(user)

    async def set(self, user: str, prefs: Preferences) -> Preferences | None:
        return await (await self._opened()).set(user, prefs)

    async def delete(self, user: str) -> Preferences | None:
        return await (await self._opened()).delete(user)

    async def list_users(self, *, limit: int = 100, after: str | None = None) -> list[str]:
        return await (await self._opened()).list_users(limit=limit, after=after)

    async def ping(self) -> None:
        await (await self._opened()).ping()

    async def aclose(self) -> None:
        if self._store is not None:
            await self._store.aclose()
            self._store = None
