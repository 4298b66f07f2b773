"""Limits on how many LLM requests are in flight at once."""

from __future__ import annotations

import asyncio
from collections import deque
from types import TracebackType
from typing import Protocol


class ConcurrencyLimit(Protocol):
    """An async context manager admitting a bounded number of requests at a time.

    `record()` is told how each request ended, so an adaptive limit can react to latency and
    overload; a fixed limit ignores it.
    """

    async def __aenter__(self) -> None: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def record(self, *, latency_s: float, tokens: int | None, overloaded: bool) -> None: ...

    @property
    def limit(self) -> int: ...


class FixedLimit:
    """At most `limit` requests in flight, set once."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"concurrency must be at least 1, got {limit}")
        self._limit = limit
        self._semaphore = asyncio.Semaphore(limit)

    @property
    def limit(self) -> int:
        return self._limit

    async def __aenter__(self) -> None:
        await self._semaphore.acquire()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._semaphore.release()

    def record(self, *, latency_s: float, tokens: int | None, overloaded: bool) -> None:
        return None


class ResizableSemaphore:
    """An asyncio semaphore whose number of permits can change while tasks hold them.

    Lowering `limit` never takes a permit back: holders keep theirs, and waiters are let in,
    oldest first, only once fewer than `limit` permits are held. Each permit is numbered in
    the order granted, so a caller can tell whether it was granted before some event even
    when its task resumes after it.
    """

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        self._limit = limit
        self._permits_held = 0
        self._granted = 0
        self._waiters: deque[asyncio.Future[int]] = deque()

    @property
    def limit(self) -> int:
        return self._limit

    @limit.setter
    def limit(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        self._limit = limit
        self._wake()

    @property
    def held(self) -> int:
        """Permits held now."""
        return self._permits_held

    @property
    def granted(self) -> int:
        """Permits granted since creation; the number of the latest one."""
        return self._granted

    async def acquire(self) -> int:
        """Wait for a permit and return its number."""
        if self._permits_held < self._limit and not self._waiters:
            return self._grant()
        waiter: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                # The permit was granted just before the cancellation arrived: pass it on.
                self.release()
            else:
                self._waiters.remove(waiter)
            raise

    def release(self) -> None:
        if self._permits_held <= 0:
            raise RuntimeError("ResizableSemaphore released more often than acquired")
        self._permits_held -= 1
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self._permits_held < self._limit:
            waiter = self._waiters.popleft()
            if waiter.done():
                continue
            waiter.set_result(self._grant())

    def _grant(self) -> int:
        self._permits_held += 1
        self._granted += 1
        return self._granted
