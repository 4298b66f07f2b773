"""The CPU-bound half of processing one message: decode, harvest markup, HTML to text.

`prepare_message` runs in a worker process, so a message that makes a parser spin can be
abandoned at a deadline without stalling the run. Everything it returns is plain data that
pickles. `PreparePool` runs it for the pipeline, several messages at a time.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from mailsift.errors import MessageRejected
from mailsift.parsing import decode_message, message_identity
from mailsift.parsing.limits import ParseLimits
from mailsift.parsing.model import DecodedEmail
from mailsift.sources.model import RawMessage
from mailsift.text import fit_to_budget, harvest_schema_org, html_to_text

if TYPE_CHECKING:
    from mailsift.extraction.extractor import EmailForExtraction

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class StageTiming:
    name: str
    started_at: datetime
    duration_ms: float


@dataclass(slots=True)
class PreparedEmail:
    """A decoded message reduced to what extraction and storage need."""

    identity: str
    raw_sha256: str
    size_bytes: int
    message_id: str | None
    subject: str | None
    sender: str | None
    sender_domain: str | None
    sent_at: datetime | None
    container: str
    preheader: str | None
    body: str
    body_truncated: bool
    markup_items: list[dict[str, Any]]
    defects: list[dict[str, str | None]]
    stages: list[StageTiming] = field(default_factory=list)

    def for_extraction(self, identity: str | None = None) -> EmailForExtraction:
        """Return what the extractor reads, under `identity` (the stored one) if given."""
        # Imported here so that the decoding processes do not load the LLM client.
        from mailsift.extraction.extractor import EmailForExtraction

        return EmailForExtraction(
            identity=identity or self.identity,
            subject=self.subject,
            sender=self.sender,
            date=self.sent_at.isoformat() if self.sent_at else None,
            preheader=self.preheader,
            body=self.body,
            markup_items=self.markup_items,
        )


def prepare_message(raw: bytes, limits: ParseLimits, max_body_tokens: int) -> PreparedEmail:
    """Decode `raw` and build the LLM-ready text. Raises MessageRejected past a limit."""
    stages: list[StageTiming] = []

    with _stage("decode", stages):
        decoded = decode_message(raw, limits)
        identity = message_identity(decoded)

    markup_items: list[dict[str, Any]] = []
    defects = [{"code": d.code, "detail": d.detail, "part": d.part} for d in decoded.defects]
    if decoded.html:
        with _stage("markup", stages):
            harvest = harvest_schema_org(decoded.html)
            markup_items = harvest.items
            defects.extend(
                {"code": "schema_org_problem", "detail": problem, "part": None}
                for problem in harvest.problems
            )

    with _stage("html_to_text", stages):
        preheader, body = _body_text(decoded)
        body, truncated = fit_to_budget(body, max_body_tokens)

    return PreparedEmail(
        identity=identity,
        raw_sha256=decoded.raw_sha256,
        size_bytes=decoded.size_bytes,
        message_id=decoded.message_id,
        subject=decoded.subject,
        sender=decoded.sender,
        sender_domain=decoded.sender_domain,
        sent_at=decoded.date,
        container=decoded.container,
        preheader=preheader,
        body=body,
        body_truncated=truncated,
        markup_items=markup_items,
        defects=defects,
        stages=stages,
    )


def _body_text(decoded: DecodedEmail) -> tuple[str | None, str]:
    """Return (preheader, text): HTML converted when present, else the plain text."""
    if decoded.html and decoded.html.strip():
        converted = html_to_text(decoded.html)
        if converted.text.strip() or not decoded.text:
            return converted.preheader, converted.text
        return converted.preheader, decoded.text
    return None, (decoded.text or "").strip()


class _stage:
    """Time one step of preparation, in wall-clock UTC for traces and milliseconds."""

    def __init__(self, name: str, stages: list[StageTiming]) -> None:
        self.name = name
        self.stages = stages

    def __enter__(self) -> None:
        self.started_at = datetime.now(UTC)
        self.started = time.perf_counter()

    def __exit__(self, *exc_info: object) -> None:
        duration_ms = (time.perf_counter() - self.started) * 1000
        self.stages.append(StageTiming(self.name, self.started_at, duration_ms))


PrepareFunction = Callable[[bytes, ParseLimits, int], PreparedEmail]


@dataclass(slots=True)
class _Pending:
    message: RawMessage
    future: asyncio.Future[PreparedEmail] | None = None
    started_at: float = 0.0
    pool_generation: int = -1
    alone: bool = False
    """Set when the message is run again with nothing beside it, after its pool crashed."""


class PreparePool:
    """Prepare messages in a process pool, two per process at a time, in input order.

    Each message gets `limits.timeout_s` from the moment it is handed to the pool. A message
    past its deadline is rejected and the pool is killed, because a worker stuck in a parser
    cannot be stopped otherwise. The other messages in flight start again on a new pool. When
    a worker process dies, every message in flight fails with BrokenProcessPool, so each is
    run again alone before it is blamed.
    """

    def __init__(
        self,
        limits: ParseLimits,
        max_body_tokens: int,
        processes: int,
        prepare: PrepareFunction = prepare_message,
    ) -> None:
        if processes < 1:
            raise ValueError(f"processes must be at least 1, got {processes}")
        self._prepare = prepare
        self._limits = limits
        self._max_body_tokens = max_body_tokens
        self._processes = processes
        # Two per process keep every process busy while the event loop collects results.
        self._depth = 2 * processes
        self._pending: deque[_Pending] = deque()
        self._pool: ProcessPoolExecutor | None = None
        self._generation = 0

    @property
    def pending(self) -> int:
        return len(self._pending)

    @property
    def full(self) -> bool:
        return len(self._pending) >= self._depth

    def add(self, message: RawMessage) -> None:
        item = _Pending(message)
        self._start(item)
        self._pending.append(item)

    async def next(self) -> tuple[RawMessage, PreparedEmail | str]:
        """Return the oldest message with its preparation, or the reason it was rejected."""
        item = self._pending.popleft()
        while True:
            if item.future is None or item.pool_generation != self._generation:
                self._start(item)
            assert item.future is not None
            remaining = item.started_at + self._limits.timeout_s - time.monotonic()
            try:
                return item.message, await asyncio.wait_for(item.future, max(0.0, remaining))
            except TimeoutError:
                # Limit: the deadline counts from the hand-over to the pool, so a message
                # queued behind slow ones in every process loses some of its time waiting.
                self._kill_pool()
                for other in self._pending:
                    self._start(other)
                timeout = self._limits.timeout_s
                return item.message, f"decoding took longer than {timeout:g}s and was abandoned"
            except BrokenProcessPool:
                self._kill_pool()
                if item.alone:
                    return item.message, "the decoding process crashed on this message"
                logger.warning(
                    "a decoding process crashed; trying %s again on its own", item.message.location
                )
                item.alone = True
            except MessageRejected as exc:
                return item.message, str(exc)
            except Exception as exc:  # one broken message must never stop the run
                logger.exception("unexpected error decoding %s", item.message.location)
                return item.message, f"internal error while decoding: {exc!r}"

    def _start(self, item: _Pending) -> None:
        if item.future is not None:
            _discard(item.future)
        # A pool whose worker died since the last call refuses new work; one new pool must
        # accept it.
        for attempt in (1, 2):
            if self._pool is None:
                # forkserver: forking a process that already runs threads (the db writer,
                # httpx) can deadlock the child.
                context = multiprocessing.get_context("forkserver")
                self._pool = ProcessPoolExecutor(self._processes, mp_context=context)
            item.pool_generation = self._generation
            item.started_at = time.monotonic()
            try:
                item.future = asyncio.get_running_loop().run_in_executor(
                    self._pool,
                    self._prepare,
                    item.message.raw,
                    self._limits,
                    self._max_body_tokens,
                )
                return
            except BrokenProcessPool:
                self._kill_pool()
                if attempt == 2:
                    raise

    def _kill_pool(self) -> None:
        pool, self._pool = self._pool, None
        self._generation += 1
        if pool is None:
            return
        # Limit: Python 3.12 has no public way to stop a pool worker that is stuck in a
        # parser, so the workers are killed through the executor's process table.
        processes = dict(getattr(pool, "_processes", None) or {})
        pool.shutdown(wait=False, cancel_futures=True)
        for process in processes.values():
            if process.is_alive():
                process.kill()

    def shutdown(self) -> None:
        for item in self._pending:
            if item.future is not None:
                _discard(item.future)
        self._pending.clear()
        self._kill_pool()


def _discard(future: asyncio.Future[Any]) -> None:
    """Cancel a future whose result is no longer wanted, marking any exception as seen."""
    if not future.done():
        future.cancel()
    elif not future.cancelled():
        future.exception()


__all__ = [
    "MessageRejected",
    "PrepareFunction",
    "PreparePool",
    "PreparedEmail",
    "StageTiming",
    "prepare_message",
]
