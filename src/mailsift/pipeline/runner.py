"""Run the main job: read sources, prepare each message, extract, store.

Shape of a run (one event loop, three stages joined by bounded queues):

    reader thread ──> prepare (process pool, several at a time, deadline) ──> claim (db thread)
        ──> ready queue ──> N workers: extract (LLM client) ──> finished queue
        ──> storer: save, then build the trace (db thread)

Preparation runs ahead of the LLM calls, so a worker finds its next email decoded and
claimed. Workers hand each result to the storer and take the next email at once: storing and
telemetry hold them up only when the storer falls a whole queue behind. Every queue is
bounded, so when the LLM server is slower than parsing the reader stops reading, and the
number of emails held in memory does not depend on the size of the source.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

from mailsift.errors import MailsiftError
from mailsift.extraction.extractor import ExtractionResult, Extractor
from mailsift.parsing.limits import ParseLimits
from mailsift.pipeline import heap
from mailsift.pipeline.prepare import (
    PreparedEmail,
    PrepareFunction,
    PreparePool,
    StageTiming,
    prepare_message,
)
from mailsift.pipeline.summary import Failure, RunSummary
from mailsift.sources import RawMessage, SourceFormat, detect_format, open_source
from mailsift.store.repository import EmailContext, Store, SyncRef

logger = logging.getLogger(__name__)

T = TypeVar("T")

READ_BATCH_MESSAGES = 64
READ_BATCH_BYTES = 8 * 1024 * 1024
"""One hop to the reader thread returns at most this many messages or bytes (the message
that crosses the byte count is included)."""
STORE_BATCH = 32
"""Results stored in one hop to the database thread, each still in its own transaction."""


@dataclass(slots=True)
class RunOptions:
    sources: list[Path]
    source_format: SourceFormat | None = None
    reprocess: bool = False
    workers: int = 4
    """Emails being extracted at once. Set it to the LLM client's limit, or to the ceiling of
    an adaptive limit, because each worker has at most one LLM request in flight."""
    max_body_tokens: int = 1500
    limits: ParseLimits = field(default_factory=ParseLimits)
    prepare_processes: int = 2


@dataclass(slots=True)
class _Work:
    sync: SyncRef
    source_format: SourceFormat
    location: str
    identity: str
    email_id: int
    prepared: PreparedEmail


@dataclass(slots=True)
class _Finished:
    work: _Work
    result: ExtractionResult


@dataclass(slots=True)
class _Stored:
    finished: _Finished
    store: StageTiming | None
    error: str | None


class TraceRecorder(Protocol):
    """Receives each finished email; the Langfuse reporter implements it.

    Called on the database thread, right after the email's result is stored.
    """

    def record(
        self,
        context: EmailContext,
        prepared: PreparedEmail,
        result: ExtractionResult,
        store: StageTiming,
        source_format: str,
    ) -> str: ...


ProgressCallback = Callable[[int], None]
ResultCallback = Callable[[int, PreparedEmail, ExtractionResult], Any]


class Runner:
    """Process every message of `options.sources`; the module docstring shows the stages.

    `prepare` replaces `prepare_message` in the decoding processes, which import it by name,
    so it must be a module-level function. Tests use it to stand in for a parser that hangs
    or crashes.
    """

    def __init__(
        self,
        store: Store,
        extractor: Extractor,
        options: RunOptions,
        *,
        on_progress: ProgressCallback | None = None,
        on_result: ResultCallback | None = None,
        telemetry: TraceRecorder | None = None,
        prepare: PrepareFunction = prepare_message,
    ) -> None:
        if options.workers < 1:
            raise ValueError(f"workers must be at least 1, got {options.workers}")
        self.store = store
        self.extractor = extractor
        self.options = options
        self.on_progress = on_progress or (lambda _n: None)
        self.on_result = on_result
        self.telemetry = telemetry
        self.summary = RunSummary()
        self._db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mailsift-db")
        self._next_heap_trim = time.monotonic() + heap.TRIM_INTERVAL_S
        self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mailsift-reader")
        self._preparer = PreparePool(
            options.limits, options.max_body_tokens, options.prepare_processes, prepare
        )

    async def run(self) -> RunSummary:
        started = time.perf_counter()
        workers = self.options.workers
        ready: asyncio.Queue[_Work | None] = asyncio.Queue(maxsize=workers)
        finished: asyncio.Queue[_Finished | None] = asyncio.Queue(maxsize=workers)
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._read_all(ready), name="mailsift-read")
                extracting = [
                    group.create_task(self._worker(ready, finished), name=f"mailsift-worker-{i}")
                    for i in range(workers)
                ]
                group.create_task(self._store_all(finished), name="mailsift-store")
                await asyncio.gather(*extracting)
                await finished.put(None)
        except BaseExceptionGroup as failed:
            # The first stage to fail cancels the others; callers get its own exception (a
            # SourceError, say), as they would from a plain await.
            raise failed.exceptions[0] from None
        finally:
            self._preparer.shutdown()
            self._reader.shutdown(wait=False, cancel_futures=True)
            self._db.shutdown(wait=True)
        self.summary.wall_s = time.perf_counter() - started
        self.summary.model = self.extractor.client.model
        return self.summary

    # Reading and preparing

    async def _read_all(self, ready: asyncio.Queue[_Work | None]) -> None:
        for source in self.options.sources:
            await self._read_source(source, ready)
        for _ in range(self.options.workers):
            await ready.put(None)

    async def _read_source(self, source: Path, ready: asyncio.Queue[_Work | None]) -> None:
        source_format = self.options.source_format or detect_format(source)
        sync = await self._in_db(
            self.store.open_sync,
            kind=source_format.value,
            login=str(source.resolve()),
            source=str(source),
            source_format=source_format.value,
        )
        seen = 0
        error: str | None = None
        preparer = self._preparer
        try:
            async for batch in self._read_batches(source, source_format):
                for message in batch:
                    seen += 1
                    preparer.add(message)
                    if preparer.full:
                        await self._accept(sync, source_format, *await preparer.next(), ready)
        except MailsiftError as exc:
            error = str(exc)
            logger.error("source %s stopped: %s", source, exc)
            self.summary.failures.append(Failure(str(source), None, error))
        # Messages read before a source error are still processed.
        while preparer.pending:
            await self._accept(sync, source_format, *await preparer.next(), ready)
        await self._in_db(self.store.finish_sync, sync, messages_seen=seen, error=error)

    async def _read_batches(
        self, source: Path, source_format: SourceFormat
    ) -> AsyncIterator[list[RawMessage]]:
        """Yield the messages of `source` in batches read on the reader thread.

        Listing folders and scanning an mbox for its message offsets takes seconds on large
        sources, and must not hold up the event loop that sends the LLM requests.
        """
        loop = asyncio.get_running_loop()
        messages = await loop.run_in_executor(self._reader, open_source, source, source_format)
        while batch := await loop.run_in_executor(self._reader, _next_batch, messages):
            yield batch

    async def _accept(
        self,
        sync: SyncRef,
        source_format: SourceFormat,
        message: RawMessage,
        outcome: PreparedEmail | str,
        ready: asyncio.Queue[_Work | None],
    ) -> None:
        """Claim a prepared message and queue it for extraction, or store why it failed."""
        if isinstance(outcome, str):
            await self._reject(sync, message, outcome)
            return
        self.summary.prepare_ms.add(sum(stage.duration_ms for stage in outcome.stages))
        try:
            claim = await self._in_db(
                self.store.claim_email, sync, message, outcome, reprocess=self.options.reprocess
            )
        except Exception as exc:  # one broken message must never stop the run
            logger.exception("unexpected error claiming %s", message.location)
            reason = f"internal error while claiming: {exc!r}"
            self.summary.failures.append(Failure(message.location, outcome.identity, reason))
            self.on_progress(1)
            return
        if claim is None:
            self.summary.skipped += 1
            self.on_progress(1)
            return
        work = _Work(
            sync, source_format, message.location, claim.external_id, claim.email_id, outcome
        )
        await ready.put(work)

    async def _reject(self, sync: SyncRef, message: RawMessage, reason: str) -> None:
        digest = hashlib.sha256(message.raw).hexdigest()
        stored = await self._in_db(
            self.store.record_unparsed, sync, message, f"sha256:{digest}", digest, reason
        )
        if stored or self.options.reprocess:
            logger.warning("%s rejected: %s", message.location, reason)
            self.summary.failures.append(Failure(message.location, f"sha256:{digest}", reason))
        else:
            self.summary.skipped += 1
        self.on_progress(1)

    # Extracting

    async def _worker(
        self, ready: asyncio.Queue[_Work | None], finished: asyncio.Queue[_Finished | None]
    ) -> None:
        while (work := await ready.get()) is not None:
            try:
                result = await self.extractor.extract(work.prepared.for_extraction(work.identity))
            except Exception as exc:  # one broken message must never stop the run
                logger.exception("unexpected error processing %s", work.location)
                reason = f"internal error: {exc!r}"
                self.summary.failures.append(Failure(work.location, work.identity, reason))
                self.on_progress(1)
                continue
            await finished.put(_Finished(work, result))

    # Storing

    async def _store_all(self, finished: asyncio.Queue[_Finished | None]) -> None:
        done = False
        while not done:
            first = await finished.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < STORE_BATCH and not finished.empty():
                item = finished.get_nowait()
                if item is None:
                    done = True
                    break
                batch.append(item)
            for stored in await self._in_db(self._store_batch, batch):
                self._settle(stored)
            if time.monotonic() >= self._next_heap_trim:
                self._next_heap_trim = time.monotonic() + heap.TRIM_INTERVAL_S
                await self._in_db(heap.release_free_heap)

    def _store_batch(self, batch: list[_Finished]) -> list[_Stored]:
        """Save each result and build its trace; runs on the database thread."""
        outcomes: list[_Stored] = []
        for item in batch:
            work = item.work
            started_at = datetime.now(UTC)
            started = time.perf_counter()
            try:
                self.store.save_result(work.email_id, item.result)
            except Exception as exc:  # one broken message must never stop the run
                logger.exception("unexpected error storing %s", work.location)
                outcomes.append(_Stored(item, None, f"internal error while storing: {exc!r}"))
                continue
            store = StageTiming("store", started_at, (time.perf_counter() - started) * 1000)
            outcomes.append(_Stored(item, store, None))
            if self.telemetry is None:
                continue
            try:
                # The trace is built from the row as stored, with its sync and account, so
                # it carries every id the database has.
                context = self.store.load_context(work.email_id)
                self.telemetry.record(
                    context, work.prepared, item.result, store, work.source_format.value
                )
            except Exception:  # telemetry must never break the pipeline; it logs and counts
                logger.exception("telemetry: could not build the trace of %s", work.identity)
        return outcomes

    def _settle(self, stored: _Stored) -> None:
        work, result = stored.finished.work, stored.finished.result
        if stored.error is not None or stored.store is None:
            reason = stored.error or "internal error while storing"
            self.summary.failures.append(Failure(work.location, work.identity, reason))
        else:
            self.summary.store_ms.add(stored.store.duration_ms)
            self._count(work, result)
            if self.on_result is not None:
                self.on_result(work.email_id, work.prepared, result)
        self.on_progress(1)

    def _count(self, work: _Work, result: ExtractionResult) -> None:
        summary = self.summary
        for call in result.calls:
            summary.llm_calls += 1
            summary.llm_ms += call.record.latency_ms
            summary.prompt_tokens += call.record.usage.prompt_tokens or 0
            summary.completion_tokens += call.record.usage.completion_tokens or 0
        if result.valid:
            summary.processed += 1
            summary.by_type[result.email_type.value if result.email_type else "unknown"] += 1
            summary.by_provenance[result.provenance] += 1
        else:
            reason = result.error or "extraction failed"
            logger.warning("%s (%s) failed: %s", work.location, work.identity, reason)
            summary.failures.append(Failure(work.location, work.identity, reason))

    async def _in_db(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._db, lambda: function(*args, **kwargs))


def _next_batch(messages: Iterator[RawMessage]) -> list[RawMessage]:
    """Return the next messages, up to READ_BATCH_MESSAGES or READ_BATCH_BYTES; [] at the end."""
    batch: list[RawMessage] = []
    size = 0
    for message in messages:
        batch.append(message)
        size += len(message.raw)
        if len(batch) >= READ_BATCH_MESSAGES or size >= READ_BATCH_BYTES:
            break
    return batch
