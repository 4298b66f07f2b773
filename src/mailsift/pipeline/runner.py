"""Run the main job: read sources, prepare each message, extract, store.

Shape of a run (all in one event loop):

    reader ──> prepare (process pool, deadline) ──> bounded queue ──> N workers
                                                                       │  claim row (db thread)
                                                                       │  extract (LLM client)
                                                                       └─ store   (db thread)

Preparation runs ahead of the LLM calls, bounded by the queue, so the server is never left
waiting for parsing, and memory stays flat however large the source is.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import multiprocessing
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

from mailsift.errors import MailsiftError, MessageRejected
from mailsift.extraction.extractor import EmailForExtraction, ExtractionResult, Extractor
from mailsift.parsing.limits import ParseLimits
from mailsift.pipeline.prepare import PreparedEmail, StageTiming, prepare_message
from mailsift.pipeline.summary import Failure, RunSummary
from mailsift.sources import RawMessage, SourceFormat, detect_format, open_source
from mailsift.store.repository import EmailContext, Store, SyncRef

logger = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(slots=True)
class RunOptions:
    sources: list[Path]
    source_format: SourceFormat | None = None
    reprocess: bool = False
    workers: int = 4
    """Emails processed at once; the LLM client's limit bounds requests in flight."""
    max_body_tokens: int = 1500
    limits: ParseLimits = field(default_factory=ParseLimits)
    prepare_processes: int = 2


@dataclass(slots=True)
class _Work:
    sync: SyncRef
    source_format: SourceFormat
    message: RawMessage
    prepared: PreparedEmail


class TraceRecorder(Protocol):
    """Receives each finished email; the Langfuse reporter implements it."""

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
    def __init__(
        self,
        store: Store,
        extractor: Extractor,
        options: RunOptions,
        *,
        on_progress: ProgressCallback | None = None,
        on_result: ResultCallback | None = None,
        telemetry: TraceRecorder | None = None,
    ) -> None:
        self.store = store
        self.extractor = extractor
        self.options = options
        self.on_progress = on_progress or (lambda _n: None)
        self.on_result = on_result
        self.telemetry = telemetry
        self.summary = RunSummary()
        self._db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mailsift-db")
        self._pool: ProcessPoolExecutor | None = None

    async def run(self) -> RunSummary:
        started = time.perf_counter()
        queue: asyncio.Queue[_Work | None] = asyncio.Queue(maxsize=self.options.workers * 2)
        workers = [
            asyncio.create_task(self._worker(queue), name=f"mailsift-worker-{i}")
            for i in range(self.options.workers)
        ]
        try:
            await self._read_all(queue)
        finally:
            for _ in workers:
                await queue.put(None)
            await asyncio.gather(*workers)
            self._shutdown_pool()
            self._db.shutdown(wait=True)
        self.summary.wall_s = time.perf_counter() - started
        self.summary.model = self.extractor.client.model
        return self.summary

    async def _read_all(self, queue: asyncio.Queue[_Work | None]) -> None:
        for source in self.options.sources:
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
            try:
                for message in _iterate(open_source(source, source_format)):
                    seen += 1
                    work = await self._prepare(sync, source_format, message)
                    if work is not None:
                        await queue.put(work)
            except MailsiftError as exc:
                error = str(exc)
                logger.error("source %s stopped: %s", source, exc)
                self.summary.failures.append(Failure(str(source), None, error))
            await self._in_db(self.store.finish_sync, sync, messages_seen=seen, error=error)

    async def _prepare(
        self, sync: SyncRef, source_format: SourceFormat, message: RawMessage
    ) -> _Work | None:
        limits = self.options.limits
        started = time.perf_counter()
        try:
            prepared = await asyncio.wait_for(
                self._in_pool(prepare_message, message.raw, limits, self.options.max_body_tokens),
                timeout=limits.timeout_s,
            )
        except TimeoutError:
            self._shutdown_pool()
            reason = f"decoding took longer than {limits.timeout_s:g}s and was abandoned"
            await self._reject(sync, message, reason)
            return None
        except MessageRejected as exc:
            await self._reject(sync, message, str(exc))
            return None
        except Exception as exc:  # one broken message must never stop the run
            logger.exception("unexpected error decoding %s", message.location)
            await self._reject(sync, message, f"internal error while decoding: {exc!r}")
            return None
        self.summary.prepare_ms.append((time.perf_counter() - started) * 1000)
        return _Work(sync, source_format, message, prepared)

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

    async def _worker(self, queue: asyncio.Queue[_Work | None]) -> None:
        while (work := await queue.get()) is not None:
            try:
                await self._process(work)
            except Exception as exc:  # one broken message must never stop the run
                logger.exception("unexpected error processing %s", work.message.location)
                self.summary.failures.append(
                    Failure(
                        work.message.location, work.prepared.identity, f"internal error: {exc!r}"
                    )
                )
            finally:
                self.on_progress(1)

    async def _process(self, work: _Work) -> None:
        prepared = work.prepared
        claim = await self._in_db(
            self.store.claim_email,
            work.sync,
            work.message,
            prepared,
            reprocess=self.options.reprocess,
        )
        if claim is None:
            self.summary.skipped += 1
            return
        email_id = claim.email_id

        result = await self.extractor.extract(
            EmailForExtraction(
                identity=claim.external_id,
                subject=prepared.subject,
                sender=prepared.sender,
                date=prepared.sent_at.isoformat() if prepared.sent_at else None,
                preheader=prepared.preheader,
                body=prepared.body,
                markup_items=prepared.markup_items,
            )
        )

        store_started_at = datetime.now(UTC)
        started = time.perf_counter()
        await self._in_db(self.store.save_result, email_id, result)
        store = StageTiming("store", store_started_at, (time.perf_counter() - started) * 1000)
        self.summary.store_ms.append(store.duration_ms)
        self._count(work, claim.external_id, result)
        if self.on_result is not None:
            self.on_result(email_id, prepared, result)
        if self.telemetry is not None:
            # The trace is built from the row as stored, with its sync and account, so it
            # carries every id the database has.
            context = await self._in_db(self.store.load_context, email_id)
            try:
                self.telemetry.record(context, prepared, result, store, work.source_format.value)
            except Exception:  # telemetry must never break the pipeline; it logs and counts
                logger.exception("telemetry: could not build the trace of %s", prepared.identity)

    def _count(self, work: _Work, identity: str, result: ExtractionResult) -> None:
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
            logger.warning("%s (%s) failed: %s", work.message.location, identity, reason)
            summary.failures.append(Failure(work.message.location, identity, reason))

    async def _in_db(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._db, lambda: function(*args, **kwargs))

    async def _in_pool(self, function: Callable[..., T], *args: Any) -> T:
        if self._pool is None:
            # forkserver: forking a process that already runs threads (the db writer, httpx)
            # can deadlock the child.
            context = multiprocessing.get_context("forkserver")
            self._pool = ProcessPoolExecutor(self.options.prepare_processes, mp_context=context)
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, function, *args)
        except BrokenProcessPool:
            self._pool = None
            raise

    def _shutdown_pool(self) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        # Limit: Python 3.12 has no public way to stop a pool worker that is stuck in a
        # parser, so the workers are killed through the executor's process table.
        processes = dict(getattr(pool, "_processes", None) or {})
        pool.shutdown(wait=False, cancel_futures=True)
        for process in processes.values():
            if process.is_alive():
                process.kill()


def _iterate(messages: Iterator[RawMessage]) -> Iterator[RawMessage]:
    yield from messages
