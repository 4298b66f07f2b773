"""Ship finished spans to Langfuse through the durable outbox, and account for every one.

Ending a span only writes it to the outbox (one small SQLite transaction), so the pipeline
never waits for the network. A shipper thread leases batches from the outbox, exports
them, and settles every row by what the server said:
- accepted: the row is deleted and counted as exported;
- rejected for good (a per-event 4xx in a 207, a span the server cannot take): the row
  moves to the quarantine table with the server's reason and is not retried blindly;
- failed for a reason that may pass (connection error, timeout, 429, 5xx, 401 while the
  keys are being fixed): the row stays pending and is retried with backoff, behind a
  circuit breaker.
A legacy export refused by a v4 events_only server switches the reporter to OTLP once,
with one WARNING, and the refused spans are sent again over OTLP.
"""

from __future__ import annotations

import atexit
import logging
import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from mailsift.telemetry.breaker import BreakerState, CircuitBreaker
from mailsift.telemetry.config import IngestionPath
from mailsift.telemetry.exporters.base import ExportResult, SpanExporter
from mailsift.telemetry.outbox import LeasedRow, Outbox, OutboxCounts, new_owner_id
from mailsift.telemetry.outbox.codec import decode_span, encode_span, priority_of

logger = logging.getLogger(__name__)

# Whole-request statuses caused by the setup, not by the spans: the keys, the URL or the
# account are wrong. The rows stay pending until the operator fixes the setting.
CONFIGURATION_STATUSES = frozenset({401, 403, 404, 405})
RETRY_BASE_S = 0.5
RETRY_MAX_S = 30.0
MAX_LOGGED_REJECTIONS = 20
"""Per batch: a server rejecting everything must not flood the log."""


@dataclass(slots=True)
class ReporterSettings:
    outbox_path: Path
    max_outbox_bytes: int = 256 * 1024 * 1024
    batch_spans: int = 256
    schedule_delay_s: float = 1.0
    export_deadline_s: float = 60.0
    """How long one batch is retried before it is left in the outbox for a later pass."""
    breaker_failures: int = 5
    breaker_cooldown_s: float = 30.0
    shutdown_timeout_s: float = 10.0
    health_check_interval_s: float = 10.0
    """How often the budget and the accounting are checked; each check scans the outbox."""

    @property
    def lease_s(self) -> float:
        # Longer than one export pass with its retries normally takes. If a pass outlives
        # it (a batch split many times), another shipper may send the rows again, and the
        # server deduplicates them by id.
        return self.export_deadline_s * 2 + 30


@dataclass(slots=True)
class LastError:
    at: str
    status: int | None
    message: str


@dataclass(slots=True)
class ReporterStats:
    """Counts of this process; the outbox file keeps the totals across processes."""

    ended: int = 0
    write_failures: int = 0
    exported: int = 0
    rejected: int = 0
    unidentified_rejections: int = 0
    retried: int = 0
    path: str = ""
    breaker: str = BreakerState.CLOSED.value
    last_error: LastError | None = None
    recent_rejections: list[str] = field(default_factory=list)


ExporterFactory = Callable[[IngestionPath], SpanExporter]


class Reporter(SpanProcessor):
    def __init__(
        self,
        make_exporter: ExporterFactory,
        path: IngestionPath,
        settings: ReporterSettings,
        *,
        switch_on_refusal: bool = True,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.settings = settings
        self.outbox = Outbox(settings.outbox_path, max_bytes=settings.max_outbox_bytes)
        self.stats = ReporterStats(path=path.value)
        self._make_exporter = make_exporter
        self._path = path
        self._switch_on_refusal = switch_on_refusal
        self._sleep_override = sleep
        self._last_cause: tuple[int | None, str] | None = None
        self._repeats = 0
        self._last_imbalance: tuple[int, int] | None = None
        self._start_shipper()
        self.outbox.reclaim_dead_leases()
        os.register_at_fork(after_in_child=self._after_fork_in_child)
        atexit.register(self._at_exit)

    def _start_shipper(self) -> None:
        self._owner = new_owner_id()
        self._exporter = self._make_exporter(self._path)
        self.breaker = CircuitBreaker(
            failure_threshold=self.settings.breaker_failures,
            cooldown_s=self.settings.breaker_cooldown_s,
            on_change=self._breaker_changed,
        )
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._busy = False
        self._thread = threading.Thread(
            target=self._ship_forever, name="mailsift-telemetry", daemon=True
        )
        self._thread.start()

    def _after_fork_in_child(self) -> None:
        # The parent's shipper thread does not exist in the child. The child gets its own
        # owner id, so it never takes rows the parent has leased, and its own thread.
        self.stats = ReporterStats(path=self._path.value)
        self._start_shipper()

    # SpanProcessor interface

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        return None

    def on_end(self, span: ReadableSpan) -> None:
        self.stats.ended += 1
        try:
            payload, cut = encode_span(span)
            context = span.context
            assert context is not None
            self.outbox.add(
                f"{context.trace_id:032x}", f"{context.span_id:016x}", priority_of(span), payload
            )
            if cut:
                self.outbox.count_truncation(cut)
                logger.warning(
                    "telemetry: span %r (%016x): %d attribute(s) over the size limit were cut "
                    "with a marker",
                    span.name,
                    context.span_id,
                    cut,
                )
        except Exception as exc:  # the span is lost; count it so the health check reports it
            self.stats.write_failures += 1
            logger.error(
                "telemetry: span %r could not be written to the outbox: %r", span.name, exc
            )

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Wait until nothing sendable is pending, or the timeout passes."""
        deadline = time.monotonic() + timeout_millis / 1000
        while time.monotonic() < deadline:
            self._wake.set()
            counts = self.outbox.counts()
            if counts.pending == 0 and not self._busy:
                return True
            # An open circuit is waited out too: its probe may find the server back.
            time.sleep(0.05)
        return False

    def shutdown(self, timeout_s: float | None = None) -> None:
        if self._stopping.is_set():
            return
        timeout = self.settings.shutdown_timeout_s if timeout_s is None else timeout_s
        self.force_flush(int(timeout * 1000))
        self._stopping.set()
        self._wake.set()
        self._thread.join(timeout=max(1.0, timeout))
        self._exporter.close()
        pending = self.outbox.counts().pending
        if pending:
            logger.warning(
                "telemetry: %d span(s) remain in the outbox %s; the next mailsift process "
                "sends them (or run `mailsift telemetry replay`)",
                pending,
                self.outbox.path,
            )

    def _at_exit(self) -> None:
        if not self._stopping.is_set():
            self.shutdown()

    # Health

    def counts(self) -> OutboxCounts:
        return self.outbox.counts()

    def check_balance(self) -> bool:
        """Verify that every span is accounted for; log an ERROR when one is not."""
        counts = self.outbox.counts()
        balanced = counts.balanced and self.stats.write_failures == 0
        if not balanced:
            key = (counts.emitted, self.stats.write_failures)
            if key != self._last_imbalance:
                logger.error(
                    "telemetry accounting mismatch: emitted %d != exported %d + pending %d + "
                    "quarantined %d + dropped %d; %d span(s) failed to reach the outbox",
                    counts.emitted,
                    counts.exported,
                    counts.pending,
                    counts.quarantined,
                    counts.dropped,
                    self.stats.write_failures,
                )
                self._last_imbalance = key
        return balanced

    # Shipping

    def _ship_forever(self) -> None:
        next_check = 0.0
        while not self._stopping.is_set():
            self._wake.wait(self.settings.schedule_delay_s)
            self._wake.clear()
            try:
                self._ship_available()
                # Both checks scan the whole outbox table, which is slow with a backlog of
                # hundreds of thousands of rows; once per interval is enough for either.
                if time.monotonic() >= next_check:
                    self.outbox.enforce_budget()
                    self.check_balance()
                    next_check = time.monotonic() + self.settings.health_check_interval_s
            except Exception:  # the single outer catch: telemetry must never kill its thread
                logger.exception("telemetry: unexpected error in the shipper")
                self._pause(1.0)

    def _ship_available(self) -> None:
        while not self._stopping.is_set():
            if not self.breaker.allow_request():
                self._pause(min(self.breaker.seconds_until_probe(), 1.0))
                return
            rows = self.outbox.lease(
                self._owner, limit=self.settings.batch_spans, lease_s=self.settings.lease_s
            )
            if not rows:
                return
            self._busy = True
            try:
                self._ship_rows(rows)
            finally:
                self._busy = False

    def _ship_rows(self, rows: list[LeasedRow]) -> None:
        if any(row.attempts for row in rows):
            # Rows left in the outbox by an earlier failed pass: sending them is a retry.
            self.stats.retried += 1
            self.outbox.count_retry()
        spans: list[ReadableSpan] = []
        by_span_id: dict[str, int] = {}
        broken: dict[int, tuple[int | None, str]] = {}
        for row in rows:
            try:
                spans.append(decode_span(row.payload))
                by_span_id[row.span_id] = row.id
            except (ValueError, KeyError, TypeError) as exc:
                broken[row.id] = (None, f"outbox row could not be decoded: {exc!r}")
        if broken:
            self.outbox.quarantine(self._owner, broken)
        if spans:
            self._export_with_retries(spans, by_span_id)

    def _export_with_retries(self, spans: list[ReadableSpan], by_span_id: dict[str, int]) -> None:
        deadline = time.monotonic() + self.settings.export_deadline_s
        attempt = 0
        while True:
            result = self._exporter.export(spans)
            if result.events_only_refusal and self._switch_on_refusal:
                result = self._switch_to_otlp(spans)
            if result.error is None:
                self.breaker.record_success()
                self._settle_success(result, by_span_id)
                return

            self._note_error(result)
            if result.status is not None and not result.retryable:
                self._settle_final_failure(spans, by_span_id, result)
                return

            self.breaker.record_failure(result.error)
            attempt += 1
            delay = result.retry_after_s or min(RETRY_MAX_S, RETRY_BASE_S * 2**attempt)
            delay *= random.uniform(0.8, 1.2)
            out_of_time = time.monotonic() + delay > deadline
            if out_of_time or self._stopping.is_set() or not self.breaker.allow_request():
                self.outbox.release(self._owner, by_span_id.values(), result.error)
                self._log_failure(len(spans), result, kept=True)
                return
            self.stats.retried += 1
            self.outbox.count_retry()
            logger.info(
                "telemetry: export failed (%s); retry %d in %.1fs", result.error, attempt, delay
            )
            self._pause(delay)

    def _settle_success(self, result: ExportResult, by_span_id: dict[str, int]) -> None:
        rejected = {r.span_id: r for r in result.rejected if r.span_id in by_span_id}
        unidentified = [r for r in result.rejected if r.span_id not in by_span_id]
        quarantine = {
            by_span_id[span_id]: (rejection.status, f"{rejection.status} {rejection.message}")
            for span_id, rejection in rejected.items()
        }
        self.outbox.quarantine(self._owner, quarantine)
        accepted = [row for span_id, row in by_span_id.items() if span_id not in rejected]
        self.stats.exported += self.outbox.ack(self._owner, accepted)
        self.stats.rejected += len(quarantine)
        for rejection in result.rejected[:MAX_LOGGED_REJECTIONS]:
            line = (
                f"event {rejection.event_id} (span {rejection.span_id or '-'}): "
                f"{rejection.status} {rejection.message}"
            )
            self.stats.recent_rejections = [*self.stats.recent_rejections[-19:], line]
            logger.error("telemetry: Langfuse rejected %s", line)
        if len(result.rejected) > MAX_LOGGED_REJECTIONS:
            logger.error(
                "telemetry: %d more rejections in this batch not shown",
                len(result.rejected) - MAX_LOGGED_REJECTIONS,
            )
        if unidentified:
            # An OTLP partial success counts rejected spans without naming them; the rows
            # cannot be told apart, so they are acknowledged and the count is reported.
            self.stats.unidentified_rejections += result.sent - result.delivered

    def _settle_final_failure(
        self, spans: list[ReadableSpan], by_span_id: dict[str, int], result: ExportResult
    ) -> None:
        if result.status in CONFIGURATION_STATUSES:
            self.breaker.record_failure(result.error or "configuration error")
            self.outbox.release(self._owner, by_span_id.values(), result.error or "")
            self._log_failure(len(spans), result, kept=True)
            return
        if len(spans) > 1:
            # One bad span must not sink the others: send each half on its own.
            half = len(spans) // 2
            for part in (spans[:half], spans[half:]):
                part_ids = [f"{span.context.span_id:016x}" for span in part if span.context]
                self._export_with_retries(part, {key: by_span_id[key] for key in part_ids})
            return
        span_id = next(iter(by_span_id))
        reason = f"{result.status} {result.error}"
        self.outbox.quarantine(self._owner, {by_span_id[span_id]: (result.status, reason)})
        self.stats.rejected += 1
        logger.error("telemetry: span %s quarantined: %s", span_id, reason)

    def _switch_to_otlp(self, spans: list[ReadableSpan]) -> ExportResult:
        logger.warning(
            'telemetry: the Langfuse server rejected legacy trace events ("Event type not '
            'accepted": it runs v4 in events_only mode); switching to OTLP ingestion and '
            "sending %d span(s) again",
            len(spans),
        )
        self._exporter.close()
        self._path = IngestionPath.OTLP
        self._exporter = self._make_exporter(IngestionPath.OTLP)
        self.stats.path = IngestionPath.OTLP.value
        self._switch_on_refusal = False
        return self._exporter.export(spans)

    def _note_error(self, result: ExportResult) -> None:
        self.stats.last_error = LastError(
            at=datetime.now(UTC).isoformat(timespec="seconds"),
            status=result.status,
            message=result.error or "",
        )
        self.outbox.set_state("last_error", f"{self.stats.last_error.at} {result.error}")

    def _log_failure(self, count: int, result: ExportResult, *, kept: bool) -> None:
        """Log a failure at ERROR once per distinct cause; repeats are only counted.

        Wrong keys or a wrong URL fail every batch the same way, and a log line per batch
        would bury the one line that names the fix.
        """
        cause = (result.status, (result.error or "").split(": ", 1)[-1][:200])
        if cause == self._last_cause:
            self._repeats += 1
            return
        if self._repeats:
            logger.error("telemetry: the previous failure repeated %d more time(s)", self._repeats)
        where = "kept in the outbox for a retry" if kept else "not delivered"
        logger.error("telemetry: %d span(s) %s: %s", count, where, result.error)
        self._last_cause, self._repeats = cause, 0

    def _breaker_changed(self, state: BreakerState, reason: str) -> None:
        self.stats.breaker = state.value
        self.outbox.set_state("breaker", f"{state.value}: {reason}")

    def _pause(self, seconds: float) -> None:
        if self._sleep_override is not None:
            self._sleep_override(seconds)
        else:
            self._stopping.wait(seconds)
