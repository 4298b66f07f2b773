"""In-memory tables of the Langfuse double, with the server's asynchronous visibility.

Two sets of tables exist, as on a server in the middle of the v3 -> v4 migration:

- the legacy tables (traces, observations, scores), merged field by field on every
  update and read by `GET /api/public/traces*` and `GET /api/public/observations`;
- the v4 events table, one row per observation keyed by (id, start time) and replaced
  whole on re-export, read by `GET /api/public/v2/observations`.

A write becomes visible `ingestion_delay_s` after it was received, like the real server's
queue and worker. Pending writes are applied lazily, on the next read, so no background
thread is needed and an injected clock makes the delay testable without sleeping.
"""

from __future__ import annotations

import copy
import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from mailsift.testing.langfuse.legacy_bodies import ValidatedEvent
from mailsift.testing.langfuse.otlp_mapping import MappedSpan
from mailsift.testing.langfuse.records import (
    ObservationRecord,
    ScoreRecord,
    TraceRecord,
    merge_observation,
    merge_score,
    merge_trace,
)

logger = logging.getLogger(__name__)


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(order=True)
class _PendingWrite:
    ready_at: float
    sequence: int
    apply: Callable[[], None] = field(compare=False)


class TelemetryStore:
    """Thread-safe tables of one double; reads see only writes whose delay has passed."""

    def __init__(
        self,
        *,
        ingestion_delay_s: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.ingestion_delay_s = ingestion_delay_s
        self._clock = clock
        self._wall_clock = wall_clock
        # Reentrant, because applying a pending write runs inside a locked read.
        self._lock = threading.RLock()
        self._pending: list[_PendingWrite] = []
        self._sequence = itertools.count()
        self._traces: dict[str, TraceRecord] = {}
        self._observations: dict[str, ObservationRecord] = {}
        self._scores: dict[str, ScoreRecord] = {}
        self._events: dict[tuple[str, datetime], ObservationRecord] = {}
        # Every batch event ever received per (entity, body.id), keyed by event id: the
        # worker re-reads all of them on each update, and a reused event id overwrites.
        self._event_files: dict[tuple[str, str], dict[str, ValidatedEvent]] = {}
        self.last_legacy_write: datetime | None = None
        self.last_events_write: datetime | None = None

    def submit_batch(
        self, events: list[ValidatedEvent], *, write_legacy: bool, write_events: bool
    ) -> None:
        """Queue accepted batch events; they are applied after the ingestion delay."""
        if events:
            self._enqueue(lambda: self._apply_batch(events, write_legacy, write_events))

    def submit_spans(
        self, spans: list[MappedSpan], *, write_legacy: bool, write_events: bool
    ) -> None:
        """Queue mapped OTLP spans; they are applied after the ingestion delay."""
        if spans:
            self._enqueue(lambda: self._apply_spans(spans, write_legacy, write_events))

    def _enqueue(self, apply: Callable[[], None]) -> None:
        with self._lock:
            ready_at = self._clock() + self.ingestion_delay_s
            heapq.heappush(self._pending, _PendingWrite(ready_at, next(self._sequence), apply))
        self.process_due()

    def process_due(self) -> int:
        """Apply every pending write whose delay has passed; return how many were applied."""
        applied = 0
        with self._lock:
            now = self._clock()
            while self._pending and self._pending[0].ready_at <= now:
                heapq.heappop(self._pending).apply()
                applied += 1
        return applied

    def flush(self) -> None:
        """Apply every pending write now, ignoring the delay."""
        with self._lock:
            while self._pending:
                heapq.heappop(self._pending).apply()

    @property
    def pending_writes(self) -> int:
        with self._lock:
            return len(self._pending)

    def _apply_batch(
        self, events: list[ValidatedEvent], write_legacy: bool, write_events: bool
    ) -> None:
        now = self._wall_clock()
        touched: list[tuple[str, str]] = []
        for event in events:
            key = (event.entity, event.entity_id or "")
            files = self._event_files.setdefault(key, {})
            files[event.event_id] = event
            if key not in touched:
                touched.append(key)

        for entity, entity_id in touched:
            ordered = sorted(
                self._event_files[(entity, entity_id)].values(), key=lambda e: e.timestamp
            )
            if entity == "trace" and write_legacy:
                for event in ordered:
                    trace = self._traces.get(entity_id)
                    self._traces[entity_id] = merge_trace(trace, event.body, event.timestamp, now)
            elif entity == "observation":
                self._merge_observation_events(entity_id, ordered, now, write_legacy, write_events)
            elif entity == "score":
                for event in ordered:
                    score = self._scores.get(entity_id)
                    self._scores[entity_id] = merge_score(score, event.body, event.timestamp, now)
        self._mark_written(write_legacy, write_events, now)

    def _merge_observation_events(
        self,
        entity_id: str,
        ordered: list[ValidatedEvent],
        now: datetime,
        write_legacy: bool,
        write_events: bool,
    ) -> None:
        record = self._observations.get(entity_id)
        for event in ordered:
            kind = event.observation_type or "SPAN"
            record = merge_observation(record, event.body, kind, event.timestamp, now)
        if record is None:
            return
        if write_legacy:
            self._observations[entity_id] = record
        if write_events:
            # Dual mode copies the merged legacy row into the events table.
            self._events[(record.id, record.start_time)] = copy.deepcopy(record)

    def _apply_spans(self, spans: list[MappedSpan], write_legacy: bool, write_events: bool) -> None:
        now = self._wall_clock()
        full_traces = {span.trace_id for span in spans if span.trace_kind == "full"}
        for span in spans:
            if write_legacy and span.legacy_drop_reason is None:
                self._apply_span_to_legacy(span, full_traces, now)
            if write_events:
                row = merge_observation(
                    None, span.observation_body, span.observation_type, span.start_time, now
                )
                row.trace_context = span.trace_context
                # A re-export with the same start time replaces the row; another start
                # time adds a second row, as the ClickHouse ordering key does.
                self._events[(row.id, row.start_time)] = row
        self._mark_written(write_legacy, write_events, now)

    def _apply_span_to_legacy(self, span: MappedSpan, full_traces: set[str], now: datetime) -> None:
        current = self._observations.get(span.span_id)
        self._observations[span.span_id] = merge_observation(
            current, span.observation_body, span.observation_type, span.start_time, now
        )

        trace = self._traces.get(span.trace_id)
        if span.trace_kind == "shallow":
            # A shallow record only creates a missing trace row, and loses to a full
            # record of the same trace in the same batch.
            if trace is None and span.trace_id not in full_traces:
                self._traces[span.trace_id] = merge_trace(
                    None, span.trace_body, span.start_time, now
                )
            return
        self._traces[span.trace_id] = merge_trace(trace, span.trace_body, span.start_time, now)

    def _mark_written(self, write_legacy: bool, write_events: bool, now: datetime) -> None:
        if write_legacy:
            self.last_legacy_write = now
        if write_events:
            self.last_events_write = now

    def get_trace(self, trace_id: str) -> TraceRecord | None:
        """Return the visible legacy trace row, or None."""
        self.process_due()
        with self._lock:
            trace = self._traces.get(trace_id)
            return copy.deepcopy(trace)

    def traces(self) -> list[TraceRecord]:
        """Visible legacy trace rows, newest timestamp first."""
        self.process_due()
        with self._lock:
            rows = sorted(self._traces.values(), key=lambda trace: trace.timestamp, reverse=True)
            return copy.deepcopy(rows)

    def observations(self, trace_id: str | None = None) -> list[ObservationRecord]:
        """Visible legacy observation rows, oldest start time first."""
        self.process_due()
        with self._lock:
            return _select(self._observations.values(), trace_id)

    def event_rows(self, trace_id: str | None = None) -> list[ObservationRecord]:
        """Visible rows of the v4 events table, oldest start time first."""
        self.process_due()
        with self._lock:
            return _select(self._events.values(), trace_id)

    def scores(self, trace_id: str | None = None) -> list[ScoreRecord]:
        self.process_due()
        with self._lock:
            rows = [score for score in self._scores.values() if trace_id in (None, score.trace_id)]
            return copy.deepcopy(rows)

    def clear(self) -> None:
        """Forget all data, pending writes included."""
        with self._lock:
            self._pending.clear()
            self._traces.clear()
            self._observations.clear()
            self._scores.clear()
            self._events.clear()
            self._event_files.clear()


def _select(rows: Iterable[ObservationRecord], trace_id: str | None) -> list[ObservationRecord]:
    chosen = [row for row in rows if trace_id in (None, row.trace_id)]
    chosen.sort(key=lambda row: (row.start_time, row.id))
    return copy.deepcopy(chosen)
