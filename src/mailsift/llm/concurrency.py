"""Limits on how many LLM requests are in flight at once."""

from __future__ import annotations

import asyncio
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
