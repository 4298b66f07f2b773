"""A circuit breaker for the exporter: stop calling a server that keeps failing.

While the circuit is open no request leaves the process and spans pile up in the outbox;
after the cool-down one probe batch decides whether to close it again. Each state change
is logged once at WARNING, never once per span or per batch.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from enum import StrEnum

logger = logging.getLogger(__name__)


class BreakerState(StrEnum):
    CLOSED = "closed"
    """Normal: every batch is sent."""
    OPEN = "open"
    """Failing: nothing is sent until the cool-down has passed."""
    HALF_OPEN = "half_open"
    """Cool-down over: one probe batch is sent; success closes, failure reopens."""


class CircuitBreaker:
    def __init__(
        self,
        *,
        failure_threshold: int = 5,
        cooldown_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[BreakerState, str], None] | None = None,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError(f"failure_threshold must be at least 1, got {failure_threshold}")
        if cooldown_s <= 0:
            raise ValueError(f"cooldown_s must be positive, got {cooldown_s}")
        self.failure_threshold = failure_threshold
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._on_change = on_change
        self.state = BreakerState.CLOSED
        self.consecutive_failures = 0
        self._opened_at = 0.0

    def allow_request(self) -> bool:
        """Say whether a batch may be sent now, moving from open to half-open on time."""
        if self.state is BreakerState.OPEN:
            if self._clock() - self._opened_at < self.cooldown_s:
                return False
            self._move(BreakerState.HALF_OPEN, "cool-down over; sending one probe batch")
        return True

    def seconds_until_probe(self) -> float:
        if self.state is not BreakerState.OPEN:
            return 0.0
        return max(0.0, self.cooldown_s - (self._clock() - self._opened_at))

    def record_success(self) -> None:
        self.consecutive_failures = 0
        if self.state is not BreakerState.CLOSED:
            self._move(BreakerState.CLOSED, "the server accepted a batch again")

    def record_failure(self, reason: str) -> None:
        self.consecutive_failures += 1
        if self.state is BreakerState.HALF_OPEN:
            self._open(f"probe failed: {reason}")
        elif (
            self.state is BreakerState.CLOSED
            and self.consecutive_failures >= self.failure_threshold
        ):
            self._open(f"{self.consecutive_failures} consecutive failures, last: {reason}")

    def _open(self, reason: str) -> None:
        self._opened_at = self._clock()
        self._move(BreakerState.OPEN, f"{reason}; no requests for {self.cooldown_s:g}s")

    def _move(self, state: BreakerState, reason: str) -> None:
        previous, self.state = self.state, state
        logger.warning("telemetry circuit %s -> %s: %s", previous.value, state.value, reason)
        if self._on_change is not None:
            self._on_change(state, reason)
