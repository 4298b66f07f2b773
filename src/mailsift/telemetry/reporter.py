"""Ship finished spans to Langfuse from a background thread, and account for every one.

The span processor's `on_end` only appends to a queue, so the pipeline never waits for the
network. The shipper thread exports in batches, reads every reply, and counts each span as
delivered, rejected (with the server's reason, logged) or failed. A legacy export refused
by a v4 events_only server switches the reporter to OTLP once, with one WARNING, and the
refused spans are sent again over OTLP.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from mailsift.telemetry.config import IngestionPath
from mailsift.telemetry.exporters.base import ExportResult, Rejection, SpanExporter

logger = logging.getLogger(__name__)

MAX_BATCH_SPANS = 256
SCHEDULE_DELAY_S = 1.0
RETRY_BASE_S = 0.5
RETRY_MAX_S = 30.0
MAX_LOGGED_REJECTIONS = 20
"""Per batch: a server rejecting everything must not flood the log."""


@dataclass(slots=True)
class ReporterStats:
    emitted: int = 0
    delivered: int = 0
    rejected: int = 0
    failed: int = 0
    retried: int = 0
    path: str = ""
    last_error: str | None = None
    rejections: list[Rejection] = field(default_factory=list)

    @property
    def pending(self) -> int:
        return self.emitted - self.delivered - self.rejected - self.failed


ExporterFactory = Callable[[IngestionPath], SpanExporter]


class Reporter(SpanProcessor):
    def __init__(
        self,
        make_exporter: ExporterFactory,
        path: IngestionPath,
        *,
        switch_on_refusal: bool = True,
        retry_deadline_s: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._make_exporter = make_exporter
        self._exporter = make_exporter(path)
        self.stats = ReporterStats(path=path.value)
        self._switch_on_refusal = switch_on_refusal
        self._retry_deadline_s = retry_deadline_s
        self._sleep = sleep
        self._queue: deque[ReadableSpan] = deque()
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._idle = threading.Condition(self._lock)
        self._in_flight = 0
        self._stopping = False
        self._last_cause: tuple[int | None, str] | None = None
        self._repeats = 0
        self._thread = threading.Thread(
            target=self._ship_forever, name="mailsift-telemetry", daemon=True
        )
        self._thread.start()

    # SpanProcessor interface

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        return None

    def on_end(self, span: ReadableSpan) -> None:
        with self._lock:
            self.stats.emitted += 1
            self._queue.append(span)
            if len(self._queue) >= MAX_BATCH_SPANS:
                self._wake.notify()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        deadline = time.monotonic() + timeout_millis / 1000
        with self._lock:
            self._wake.notify()
            while self._queue or self._in_flight:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(remaining)
        return True

    def shutdown(self, timeout_s: float = 30.0) -> None:
        flushed = self.force_flush(int(timeout_s * 1000))
        with self._lock:
            self._stopping = True
            self._wake.notify()
        self._thread.join(timeout=5)
        self._exporter.close()
        if not flushed:
            logger.error("telemetry: %d span(s) not delivered before shutdown", self.stats.pending)

    # Shipping

    def _ship_forever(self) -> None:
        while True:
            with self._lock:
                if not self._queue and not self._stopping:
                    self._wake.wait(SCHEDULE_DELAY_S)
                if self._stopping and not self._queue:
                    return
                batch = [
                    self._queue.popleft() for _ in range(min(MAX_BATCH_SPANS, len(self._queue)))
                ]
                self._in_flight = len(batch)
            try:
                if batch:
                    self._ship(batch)
            except Exception:  # the single outer catch: telemetry must never kill its thread
                logger.exception("telemetry: unexpected error exporting %d span(s)", len(batch))
                with self._lock:
                    self.stats.failed += len(batch)
            finally:
                with self._lock:
                    self._in_flight = 0
                    self._idle.notify_all()

    def _ship(self, batch: list[ReadableSpan]) -> None:
        deadline = time.monotonic() + self._retry_deadline_s
        attempt = 0
        while True:
            result = self._exporter.export(batch)
            if result.events_only_refusal and self._switch_on_refusal:
                result = self._switch_to_otlp(batch, result)
            if result.error is None or not result.retryable:
                break
            attempt += 1
            delay = result.retry_after_s or min(RETRY_MAX_S, RETRY_BASE_S * 2**attempt)
            delay *= random.uniform(0.8, 1.2)
            if time.monotonic() + delay > deadline or self._stopping:
                break
            logger.warning(
                "telemetry: export failed (%s); retry %d in %.1fs", result.error, attempt, delay
            )
            with self._lock:
                self.stats.retried += 1
            self._sleep(delay)
        self._account(batch, result)

    def _switch_to_otlp(self, batch: list[ReadableSpan], result: ExportResult) -> ExportResult:
        logger.warning(
            'telemetry: the Langfuse server refused legacy trace events ("Event type not '
            'accepted": it runs v4 in events_only mode); switching to OTLP ingestion and '
            "re-sending %d span(s)",
            len(batch),
        )
        self._exporter.close()
        self._exporter = self._make_exporter(IngestionPath.OTLP)
        with self._lock:
            self.stats.path = IngestionPath.OTLP.value
        return self._exporter.export(batch)

    def _log_failure(self, count: int, result: ExportResult) -> None:
        """Log a failure at ERROR once per distinct cause; repeats are only counted.

        Wrong keys or a wrong URL fail every batch the same way, and a log line per batch
        would bury the one line that says what to fix.
        """
        cause = (result.status, (result.error or "").split(": ", 1)[-1][:200])
        if cause != self._last_cause:
            if self._repeats:
                logger.error(
                    "telemetry: the previous failure repeated %d more time(s)", self._repeats
                )
            logger.error("telemetry: %d span(s) not delivered: %s", count, result.error)
            self._last_cause, self._repeats = cause, 0
        else:
            self._repeats += 1

    def _account(self, batch: list[ReadableSpan], result: ExportResult) -> None:
        rejected_spans = {r.span_id for r in result.rejected if r.span_id}
        batch_level = [r for r in result.rejected if r.span_id is None]
        with self._lock:
            if result.error is not None:
                failed = len(batch) - result.delivered
                self.stats.failed += failed
                self.stats.delivered += result.delivered
                self.stats.last_error = result.error
            else:
                if rejected_spans:
                    rejected = len(rejected_spans)
                elif batch_level:
                    # OTLP partial success counts spans without naming them.
                    rejected = len(batch) - result.delivered
                else:
                    rejected = 0
                self.stats.rejected += rejected
                self.stats.delivered += len(batch) - rejected
            self.stats.rejections.extend(result.rejected[:MAX_LOGGED_REJECTIONS])

        if result.error is not None:
            self._log_failure(len(batch) - result.delivered, result)
        for rejection in result.rejected[:MAX_LOGGED_REJECTIONS]:
            logger.error(
                "telemetry: Langfuse rejected event %s (span %s): %d %s",
                rejection.event_id,
                rejection.span_id or "-",
                rejection.status,
                rejection.message,
            )
        if len(result.rejected) > MAX_LOGGED_REJECTIONS:
            logger.error(
                "telemetry: %d more rejections in this batch not shown",
                len(result.rejected) - MAX_LOGGED_REJECTIONS,
            )
