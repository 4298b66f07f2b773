"""Record of what the double received and decided, for assertions in tests.

Every request is recorded once its body has been read, before any fault applies, so a
test can count attempts even when the double sent a scripted failure or dropped
the connection. Every event or span gets one outcome: accepted or rejected, with the
reason, and whether the double will store it (an accepted event can still be discarded,
as the real server discards a `trace-create` without `body.id`).
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class RecordedRequest:
    """One HTTP request as the double received it; the Authorization header is not kept."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    received_at: datetime


@dataclass(frozen=True)
class EventOutcome:
    """Outcome of one batch event or OTLP span."""

    route: str
    # Envelope event id on the batch route ("unknown" when it had none), span id for OTLP.
    event_id: str
    # Batch event type, or "otel-span".
    event_type: str
    # body.id of the trace, observation or score; for OTLP spans the observation id.
    entity_id: str | None
    # Status reported to the client for this item: 201 or a per-event error on the batch
    # route, the HTTP status of the export for OTLP.
    status: int
    accepted: bool
    stored: bool
    reason: str | None = None


@dataclass
class Journal:
    """Thread-safe log of requests and event outcomes."""

    _lock: threading.Lock = field(default_factory=threading.Lock)
    _requests: list[RecordedRequest] = field(default_factory=list)
    _outcomes: list[EventOutcome] = field(default_factory=list)

    def record_request(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def record_outcomes(self, outcomes: list[EventOutcome]) -> None:
        with self._lock:
            self._outcomes.extend(outcomes)

    def requests(self, path: str | None = None) -> list[RecordedRequest]:
        with self._lock:
            return [request for request in self._requests if path in (None, request.path)]

    def request_counts(self) -> Counter[str]:
        """Number of requests received per path."""
        with self._lock:
            return Counter(request.path for request in self._requests)

    def outcomes(self) -> list[EventOutcome]:
        with self._lock:
            return list(self._outcomes)

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()
            self._outcomes.clear()
