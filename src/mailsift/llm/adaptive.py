"""An LLM concurrency limit that finds and keeps the point where the server is fully used.

A continuous-batching server (vLLM, TGI, llama.cpp with slots) produces more tokens per
second as more requests share a decode step, up to its maximum batch size. Past that point
extra requests only wait in its queue: throughput stays flat, latency grows, and a server
with a bounded queue replies 503. `AdaptiveLimit` searches for that knee while the run goes:

- Measurement. Each limit is judged on a cohort of requests. After a change the cohort
  waits until the first request sent under the new limit completes, so the server is in
  its new steady state. The next `limit` requests sent (half as many in slow start, and at
  least `min_cohort_requests`) form the cohort, and it closes when all of them are back.
  Goodput follows from Little's law: mean requests in flight times completion tokens per
  second of latency, summed over the cohort's successful requests, so retries and errors
  earn nothing. Averaging every member's latency, instead of counting completions in a
  time window, keeps the estimate steady when requests that joined the server's batch
  together also finish together.
- Slow start. From `initial_limit` (8) the limit doubles while each doubling raises
  goodput by at least `min_elasticity` times the relative increase of the limit (10% per
  doubling by default). The first doubling that does not pay returns to the previous
  limit, and the first probe goes up if that doubling gained anything, down otherwise.
- Additive probing. After `hold_cohorts` cohorts at a limit it tries `step` more slots,
  where step is `probe_fraction` of the limit and at least 1. The step is kept if goodput
  rose by at least `min_gain`, and by `min_elasticity` times the relative increase, and
  probing continues upwards. Otherwise the limit returns, and the next probe goes down
  instead. A step down is kept if goodput stays within `min_gain` of the limit the descent
  started from: those slots only queued, and dropping them lowers latency at no cost. Each
  failed probe doubles the wait before the next one, up to `MAX_HOLD_FACTOR` times
  `hold_cohorts`, because a failed probe down costs goodput for one cohort.
- Multiplicative decrease. A 503 or 429, a transport error or a timeout (the client reports
  all of these as `overloaded=True`) cuts the limit to `backoff_factor` of itself, at most
  once per round trip: failures of requests let in before the last cut are ignored. A cohort
  whose latency per output token exceeds `latency_tolerance` times the lowest of recent
  cohorts is cut the same way, as a guard against queueing that the goodput rule missed.
  A server's decode step also slows down as its batch grows without any queueing, so the
  tolerance must stay above that slowdown.
- Bounds. The limit stays within 1 and `max_limit`. Lowering it never cancels a request in
  flight: new requests wait until enough of the old ones finish.

Each change is logged at INFO, at most one line per `log_interval_s` (the next line counts
the ones in between), and kept in `changes`.
"""

from __future__ import annotations

import enum
import logging
import math
import time
from collections import deque
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from types import TracebackType

from mailsift.llm.concurrency import ResizableSemaphore

logger = logging.getLogger(__name__)

DEFAULT_INITIAL_LIMIT = 8
"""Starting at 8 rather than 1 saves three slow-start steps. A server with fewer slots
queues the extra requests, which costs latency but no throughput."""
MAX_HOLD_FACTOR = 8
"""After repeated failed probes, probing slows down to once per this many hold periods."""
LATENCY_HISTORY_COHORTS = 32
"""Cohorts over which the lowest latency per token is remembered, so that a lasting change
(longer prompts later in a mailbox) becomes the new normal instead of cutting forever."""


@dataclass(frozen=True, slots=True)
class AdaptiveSettings:
    """Tuning of `AdaptiveLimit`; the module docstring explains each step."""

    max_limit: int = 64
    initial_limit: int | None = None
    """Limit before the first measurement; None means 8, or `max_limit` if lower."""
    min_cohort_requests: int = 8
    """Minimum requests in a cohort; a cohort also has at least `limit` requests."""
    min_gain: float = 0.01
    """Relative goodput change treated as noise between two cohorts."""
    min_elasticity: float = 0.1
    """Relative goodput gain required per relative increase of the limit."""
    probe_fraction: float = 1 / 16
    hold_cohorts: int = 4
    backoff_factor: float = 0.7
    latency_tolerance: float = 4.0
    log_interval_s: float = 5.0

    @property
    def first_limit(self) -> int:
        """The limit to start from."""
        if self.initial_limit is not None:
            return self.initial_limit
        return min(DEFAULT_INITIAL_LIMIT, self.max_limit)

    def __post_init__(self) -> None:
        if self.max_limit < 1:
            raise ValueError(f"max_limit must be at least 1, got {self.max_limit}")
        if self.initial_limit is not None and not 1 <= self.initial_limit <= self.max_limit:
            raise ValueError(
                f"initial_limit must be between 1 and max_limit={self.max_limit}, "
                f"got {self.initial_limit}"
            )
        if self.min_cohort_requests < 1:
            raise ValueError(
                f"min_cohort_requests must be at least 1, got {self.min_cohort_requests}"
            )
        if self.hold_cohorts < 1:
            raise ValueError(f"hold_cohorts must be at least 1, got {self.hold_cohorts}")
        if not 0 < self.backoff_factor < 1:
            raise ValueError(f"backoff_factor must be in (0, 1), got {self.backoff_factor}")
        if not 0 < self.probe_fraction <= 1:
            raise ValueError(f"probe_fraction must be in (0, 1], got {self.probe_fraction}")
        if self.latency_tolerance <= 1:
            raise ValueError(
                f"latency_tolerance must be greater than 1, got {self.latency_tolerance}"
            )


@dataclass(frozen=True, slots=True)
class LimitChange:
    """One decision of `AdaptiveLimit`: when (seconds on its clock), from, to and why."""

    at_s: float
    old: int
    new: int
    reason: str


@dataclass(frozen=True, slots=True)
class _Ticket:
    """Admission record of one request, kept until `record()` is called."""

    owner: AdaptiveLimit
    permit: int
    """The semaphore's number for the permit: the order in which requests were let in."""
    cohort: int
    """Serial of the cohort the request was let in under; -1 for an earlier limit."""
    sent_at: float
    member: bool


# The client calls `record()` from the task that entered the limit, so a context variable
# links each outcome to its admission without changing the ConcurrencyLimit protocol.
_TICKET: ContextVar[_Ticket | None] = ContextVar("mailsift_adaptive_ticket", default=None)


@dataclass(frozen=True, slots=True)
class _Measurement:
    limit: int
    goodput: float
    """Completion tokens per second."""
    s_per_token: float
    """Request latency per completion token, queueing included."""
    reached_limit: bool
    """False when the caller never had `limit` requests to send (an app-limited cohort)."""


class _Cohort:
    """The requests that judge one limit: settle, send `size` requests, wait for them."""

    def __init__(self, serial: int, size: int, limit: int, first_permit: int) -> None:
        self.serial = serial
        self.size = size
        self.limit = limit
        self.first_permit = first_permit  # permits up to this one were granted before
        self.opened_at: float | None = None  # first admission under this limit
        self.started_at: float | None = None  # the server settled; members are sent from here
        self.sent = 0
        self.last_sent_at = math.inf  # admission of the last member, once all are sent
        self.back = 0
        self.later_back = 0
        self.tokens = 0
        self.latency_s = 0.0
        self.area = 0.0  # requests in flight times seconds, since started_at
        self.area_since = 0.0
        self.reached_limit = False

    def admit(self, now: float, in_flight_before: int) -> bool:
        """Count an admission; return whether the request is a member of the cohort."""
        if self.opened_at is None:
            self.opened_at = now
        self.accumulate(now, in_flight_before)
        if in_flight_before + 1 >= self.limit:
            self.reached_limit = True
        if self.started_at is None or self.sent >= self.size:
            return False
        self.sent += 1
        if self.sent == self.size:
            self.last_sent_at = now
        return True

    def accumulate(self, now: float, in_flight: int) -> None:
        if self.started_at is not None:
            self.area += in_flight * (now - self.area_since)
            self.area_since = now

    def settle(self, now: float, in_flight: int) -> None:
        self.started_at = now
        self.area_since = now
        self.reached_limit = in_flight >= self.limit

    def complete(self) -> bool:
        members_back = self.sent >= self.size and self.back >= self.sent
        # A member that never reports (a caller that skips record()) must not stall the
        # limit: once a round trip of requests sent after the cohort is back, it closes.
        return members_back or self.later_back >= self.limit

    def measurement(self, now: float) -> _Measurement | None:
        if self.started_at is None or self.tokens == 0 or self.latency_s <= 0:
            return None
        in_flight = self.area / max(now - self.started_at, 1e-9)
        return _Measurement(
            limit=self.limit,
            goodput=in_flight * self.tokens / self.latency_s,
            s_per_token=self.latency_s / self.tokens,
            reached_limit=self.reached_limit,
        )


class _Phase(enum.Enum):
    SLOW_START = "slow start"  # doubling until goodput stops growing
    HOLD = "hold"  # measuring the accepted limit before the next probe
    PROBE_UP = "probe up"  # measuring `step` more slots than the accepted limit
    PROBE_DOWN = "probe down"  # measuring `step` fewer slots than the accepted limit


class AdaptiveLimit:
    """A `ConcurrencyLimit` that adapts to the server's capacity; see the module docstring."""

    def __init__(
        self,
        settings: AdaptiveSettings | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings or AdaptiveSettings()
        self._clock = clock
        self._semaphore = ResizableSemaphore(self.settings.first_limit)
        self.changes: deque[LimitChange] = deque(maxlen=1000)
        """The latest decisions, oldest first."""

        self._phase = _Phase.SLOW_START
        self._accepted: _Measurement | None = None
        self._hold_goodputs: list[float] = []
        self._cohorts_held = 0  # cohorts measured at the accepted limit since the last probe
        self._hold_length = self.settings.hold_cohorts
        self._next_probe = _Phase.PROBE_UP
        self._descent_reference: _Measurement | None = None
        self._recent_s_per_token: deque[float] = deque(maxlen=LATENCY_HISTORY_COHORTS)
        self._permits_before_decrease = 0
        self._decreased_at = -math.inf
        self._cohort = self._new_cohort(0)

        self._last_log_at = -math.inf
        self._unlogged = 0

    # ConcurrencyLimit

    @property
    def limit(self) -> int:
        return self._semaphore.limit

    @property
    def in_flight(self) -> int:
        """Requests admitted and not yet finished."""
        return self._semaphore.held

    async def __aenter__(self) -> None:
        permit = await self._semaphore.acquire()
        now = self._clock()
        cohort = self._cohort
        if permit <= cohort.first_permit:
            # Granted under the previous limit; the task only resumed after the change.
            _TICKET.set(_Ticket(self, permit, -1, now, member=False))
            return
        member = cohort.admit(now, self._semaphore.held - 1)
        _TICKET.set(_Ticket(self, permit, cohort.serial, now, member))

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._cohort.accumulate(self._clock(), self._semaphore.held)
        self._semaphore.release()

    def record(self, *, latency_s: float, tokens: int | None, overloaded: bool) -> None:
        now = self._clock()
        ticket = _TICKET.get()
        if ticket is not None and ticket.owner is not self:
            ticket = None
        sent_at = ticket.sent_at if ticket is not None else now - latency_s

        if overloaded:
            # One cut per round trip: requests let in before the last cut saw the old limit.
            if ticket is not None:
                after_cut = ticket.permit > self._permits_before_decrease
            else:
                after_cut = sent_at >= self._decreased_at
            if after_cut:
                self._decrease(now, "the server reported overload or timed out")
            return

        cohort = self._cohort
        if cohort.started_at is None:
            opened = cohort.opened_at
            if (ticket is not None and ticket.cohort == cohort.serial) or (
                ticket is None and opened is not None and sent_at >= opened
            ):
                # The first request sent under this limit is back: the server has settled.
                cohort.settle(now, self._semaphore.held)
            return

        if ticket is not None:
            member = ticket.cohort == cohort.serial and ticket.member
        else:
            member = cohort.started_at <= sent_at <= cohort.last_sent_at
        if not member:
            if sent_at > cohort.last_sent_at:
                cohort.later_back += 1
        else:
            cohort.back += 1
            if tokens is not None and tokens > 0 and latency_s > 0:
                cohort.tokens += tokens
                cohort.latency_s += latency_s
        if cohort.complete():
            self._close_cohort(now)

    # Decisions

    def _new_cohort(self, serial: int) -> _Cohort:
        limit = self._semaphore.limit
        # Slow start only checks whether doubling paid at all, so half a round trip of
        # requests is enough, and each doubling comes sooner.
        members = limit // 2 if self._phase is _Phase.SLOW_START else limit
        size = max(self.settings.min_cohort_requests, members)
        return _Cohort(serial, size, limit, self._semaphore.granted)

    def _close_cohort(self, now: float) -> None:
        closed = self._cohort
        closed.accumulate(now, self._semaphore.held)
        measurement = closed.measurement(now)
        if measurement is not None:
            logger.debug(
                "LLM concurrency cohort (%s): limit %d, %.0f tokens/s, %.1f ms per token",
                self._phase.value,
                measurement.limit,
                measurement.goodput,
                measurement.s_per_token * 1000,
            )
            self._decide(now, measurement)
        if self._cohort is closed:
            # The limit stayed, so the server is already settled for the next cohort.
            self._cohort = self._new_cohort(closed.serial + 1)
            self._cohort.opened_at = now
            self._cohort.settle(now, self._semaphore.held)

    def _decide(self, now: float, measured: _Measurement) -> None:
        lowest = min(self._recent_s_per_token, default=measured.s_per_token)
        self._recent_s_per_token.append(measured.s_per_token)
        if measured.s_per_token > self.settings.latency_tolerance * lowest:
            ratio = measured.s_per_token / lowest
            self._decrease(now, f"latency per token {ratio:.1f} times the lowest recently seen")
            return

        if self._phase is _Phase.SLOW_START:
            self._slow_start(now, measured)
        elif self._phase is _Phase.HOLD:
            self._hold(now, measured)
        elif self._phase is _Phase.PROBE_UP:
            self._probe_up(now, measured)
        else:
            self._probe_down(now, measured)

    def _slow_start(self, now: float, measured: _Measurement) -> None:
        accepted = self._accepted
        grew = accepted is not None and measured.limit > accepted.limit
        if accepted is not None and grew and not self._pays(accepted, measured):
            self._phase = _Phase.HOLD
            self._set_reference(accepted)
            # A doubling that gained a little, though too little to keep, puts the knee above
            # the limit kept. A doubling that gained nothing means it may lie below.
            gained = measured.goodput >= accepted.goodput * (1 + self.settings.min_gain)
            self._next_probe = _Phase.PROBE_UP if gained else _Phase.PROBE_DOWN
            self._change(now, accepted.limit, _gain_reason(accepted, measured, "slow start"))
            return

        self._accepted = measured
        if not measured.reached_limit:
            return  # the caller sent fewer requests than allowed: more slots would idle
        if self.limit >= self.settings.max_limit:
            self._phase = _Phase.HOLD
            self._set_reference(measured)
            return
        reason = "slow start"
        if accepted is not None and grew:
            reason = _gain_reason(accepted, measured, "slow start")
        self._change(now, min(self.settings.max_limit, self.limit * 2), reason)

    def _hold(self, now: float, measured: _Measurement) -> None:
        if self._accepted is None or measured.limit != self._accepted.limit:
            # The first cohort after a cut becomes the new reference.
            self._set_reference(measured)
            return
        self._hold_goodputs = [*self._hold_goodputs, measured.goodput]
        self._hold_goodputs = self._hold_goodputs[-self.settings.hold_cohorts :]
        self._cohorts_held += 1
        if self._cohorts_held < self._hold_length:
            return

        up_possible = measured.reached_limit and self.limit < self.settings.max_limit
        down_possible = self.limit > 1
        direction = self._next_probe
        if direction is _Phase.PROBE_UP and not up_possible:
            direction = _Phase.PROBE_DOWN
        if direction is _Phase.PROBE_DOWN and not down_possible:
            if not up_possible:
                return
            direction = _Phase.PROBE_UP

        self._phase = direction
        step = self._step()
        if direction is _Phase.PROBE_UP:
            self._change(now, min(self.settings.max_limit, self.limit + step), "probe up")
        else:
            # Every step down is judged against the limit the descent started from, so
            # losses below min_gain cannot add up over several steps.
            self._descent_reference = self._reference()
            self._change(now, max(1, self.limit - step), "probe down")

    def _probe_up(self, now: float, measured: _Measurement) -> None:
        reference = self._reference()
        if not (measured.reached_limit and self._pays(reference, measured)):
            self._revert(now, measured, reference, _Phase.PROBE_DOWN, "probe up")
            return
        self._accept_probe(measured)
        if self.limit >= self.settings.max_limit:
            self._phase = _Phase.HOLD
            return
        new_limit = min(self.settings.max_limit, self.limit + self._step())
        self._change(now, new_limit, _gain_reason(reference, measured, "probe up"))

    def _probe_down(self, now: float, measured: _Measurement) -> None:
        reference = self._reference()
        start = self._descent_reference or reference
        if measured.goodput < start.goodput * (1 - self.settings.min_gain):
            self._revert(now, measured, reference, _Phase.PROBE_UP, "probe down")
            return
        self._accept_probe(measured)
        if self.limit <= 1:
            self._phase = _Phase.HOLD
            return
        new_limit = max(1, self.limit - self._step())
        self._change(now, new_limit, _gain_reason(reference, measured, "probe down"))

    def _step(self) -> int:
        return max(1, math.ceil(self.limit * self.settings.probe_fraction))

    def _reference(self) -> _Measurement:
        """Return the accepted measurement with goodput averaged over the hold cohorts."""
        assert self._accepted is not None
        goodputs = self._hold_goodputs or [self._accepted.goodput]
        accepted = self._accepted
        mean = sum(goodputs) / len(goodputs)
        return _Measurement(accepted.limit, mean, accepted.s_per_token, accepted.reached_limit)

    def _set_reference(self, measured: _Measurement) -> None:
        self._accepted = measured
        self._hold_goodputs = [measured.goodput]
        self._cohorts_held = 1

    def _accept_probe(self, measured: _Measurement) -> None:
        self._set_reference(measured)
        self._hold_length = self.settings.hold_cohorts

    def _revert(
        self,
        now: float,
        measured: _Measurement,
        reference: _Measurement,
        next_probe: _Phase,
        probe: str,
    ) -> None:
        self._phase = _Phase.HOLD
        self._next_probe = next_probe
        # Probes that fail cost goodput (down) or latency (up), so each failure doubles the
        # wait before the next one. The earlier samples stay as the reference.
        self._cohorts_held = 0
        self._hold_length = self._longer_hold()
        self._change(now, reference.limit, _gain_reason(reference, measured, probe))

    def _longer_hold(self) -> int:
        return min(2 * self._hold_length, MAX_HOLD_FACTOR * self.settings.hold_cohorts)

    def _pays(self, before: _Measurement, after: _Measurement) -> bool:
        """Return whether `after`, with more slots than `before`, raised goodput enough."""
        if before.goodput <= 0 or after.limit <= before.limit:
            return False
        gain = after.goodput / before.goodput - 1
        added = after.limit / before.limit - 1
        return gain >= max(self.settings.min_gain, self.settings.min_elasticity * added)

    def _decrease(self, now: float, reason: str) -> None:
        self._permits_before_decrease = self._semaphore.granted
        self._decreased_at = now
        self._accepted = None
        self._hold_goodputs = []
        self._cohorts_held = 0
        # Overload right after a probe up makes it a failed probe: the next one waits longer.
        if self._phase is _Phase.PROBE_UP:
            self._hold_length = self._longer_hold()
        self._phase = _Phase.HOLD
        self._next_probe = _Phase.PROBE_UP
        new_limit = max(1, math.floor(self.limit * self.settings.backoff_factor))
        self._change(now, new_limit, reason, always_restart=True)

    def _change(
        self, now: float, new_limit: int, reason: str, always_restart: bool = False
    ) -> None:
        old = self.limit
        if new_limit == old and not always_restart:
            return
        # Waiters let in by a higher limit resume after this call returns, so they are
        # admitted into the new cohort.
        self._semaphore.limit = new_limit
        self._cohort = self._new_cohort(self._cohort.serial + 1)
        if new_limit == old:
            return
        self.changes.append(LimitChange(now, old, new_limit, reason))
        self._log(now, old, new_limit, reason)

    def _log(self, now: float, old: int, new: int, reason: str) -> None:
        if now - self._last_log_at < self.settings.log_interval_s:
            self._unlogged += 1
            logger.debug("LLM concurrency %d -> %d (%s)", old, new, reason)
            return
        more = ""
        if self._unlogged:
            more = f"; {self._unlogged} change(s) since the previous line were logged at DEBUG"
        logger.info("LLM concurrency %d -> %d (%s)%s", old, new, reason, more)
        self._last_log_at = now
        self._unlogged = 0


def _gain_reason(before: _Measurement, after: _Measurement, probe: str) -> str:
    change = (after.goodput / before.goodput - 1) * 100 if before.goodput > 0 else 0.0
    return (
        f"{probe}: {after.goodput:.0f} tokens/s at limit {after.limit}, "
        f"{change:+.1f}% against limit {before.limit}"
    )


__all__ = ["AdaptiveLimit", "AdaptiveSettings", "LimitChange"]
