"""A continuous-batching time model, run as one asyncio scheduler loop inside the double.

The model follows how vLLM-style engines spend GPU time:

- The engine runs in steps. Each step advances every running request by one output token,
  and takes `decode_step_s + decode_step_growth_s_per_request * batch_size` seconds.
- A request joins the running batch at the next step boundary if fewer than
  `max_batch_size` requests run; otherwise it waits in a FIFO queue. If `max_queue`
  requests already wait for a slot, it is rejected (the app answers 503, like vLLM's
  `--max-num-queued-reqs`, which however counts running requests too).
- The step in which a request joins also computes its prompt, adding
  `prefill_s_per_token * uncached_prompt_tokens` to that step, for every request in it.
  That step produces the request's first token.

Steps are scheduled against absolute deadlines, so event-loop lag delays a step but does not
lower the long-run throughput. With every time parameter at zero (the default) requests
still go through the loop but finish within a few event-loop turns.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TimingModel:
    """Parameters of the batching model; times in seconds."""

    prefill_s_per_token: float = 0.0
    decode_step_s: float = 0.0
    decode_step_growth_s_per_request: float = 0.0
    max_batch_size: int = 256  # vLLM's usual --max-num-seqs
    max_queue: int | None = None  # waiting requests allowed; None means unbounded
    # Output tokens per request; None uses the token count of the generated content.
    completion_tokens: int | None = None

    def __post_init__(self) -> None:
        for name in ("prefill_s_per_token", "decode_step_s", "decode_step_growth_s_per_request"):
            value = getattr(self, name)
            if value < 0 or math.isnan(value):
                raise ValueError(f"{name} must be >= 0 seconds, got {value}")
        if self.max_batch_size < 1:
            raise ValueError(f"max_batch_size must be >= 1, got {self.max_batch_size}")
        if self.max_queue is not None and self.max_queue < 0:
            raise ValueError(f"max_queue must be >= 0 or None, got {self.max_queue}")
        if self.completion_tokens is not None and self.completion_tokens < 1:
            raise ValueError(
                f"completion_tokens must be >= 1 or None, got {self.completion_tokens}"
            )

    def step_time_s(self, batch_size: int) -> float:
        """Return the duration of one decode step with `batch_size` running requests."""
        return self.decode_step_s + self.decode_step_growth_s_per_request * batch_size

    def capacity_tokens_per_s(self, prompt_tokens: int = 0) -> float:
        """Return output tokens per second with a full batch; math.inf when steps take no time.

        With the default `prompt_tokens=0` prefill is ignored: capacity is
        max_batch_size / step_time_s(max_batch_size). With prompt_tokens > 0 (uncached tokens
        per request) each step also carries the average prefill of the requests joining it,
        max_batch_size / completion_tokens requests per step, which needs `completion_tokens`.
        """
        batch = self.max_batch_size
        step_s = self.step_time_s(batch)

        if prompt_tokens > 0:
            if self.completion_tokens is None:
                raise ValueError("capacity with prefill needs completion_tokens to be set")
            joining_per_step = batch / self.completion_tokens
            step_s += joining_per_step * prompt_tokens * self.prefill_s_per_token

        return math.inf if step_s == 0 else batch / step_s


@dataclass(frozen=True)
class RequestTiming:
    """Time one request spent in each phase of the model, in seconds."""

    queue_s: float  # arrival until the step in which it joined the batch
    prefill_s: float  # start of that step until the first token (time to first token)
    decode_s: float  # first token until the last token
    completion_tokens: int

    @property
    def total_s(self) -> float:
        """Seconds from arrival to the last token."""
        return self.queue_s + self.prefill_s + self.decode_s


class QueueFull(Exception):
    """The waiting queue already contains `max_queue` requests."""


@dataclass
class _Sequence:
    prefill_tokens: int
    completion_tokens: int
    arrived_at: float
    done: asyncio.Future[RequestTiming]
    scheduled_at: float = 0.0
    first_token_at: float | None = None
    generated: int = 0


class BatchScheduler:
    """Runs the batching model for requests on one event loop; see the module docstring."""

    def __init__(self, model: TimingModel, clock: Callable[[], float] = time.monotonic) -> None:
        self.model = model
        self._clock = clock
        self._waiting: deque[_Sequence] = deque()
        self._running: list[_Sequence] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the scheduler loop on the running event loop."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="batch-scheduler")

    async def stop(self) -> None:
        """Cancel the loop; requests still waiting or running get CancelledError."""
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

        for sequence in [*self._waiting, *self._running]:
            sequence.done.cancel()
        self._waiting.clear()
        self._running.clear()

    async def generate(self, prefill_tokens: int, completion_tokens: int) -> RequestTiming:
        """Wait until the model has produced `completion_tokens` tokens for one request.

        Raises QueueFull when max_queue requests already wait for a batch slot.
        """
        if self._task is None:
            # Transports that skip the ASGI lifespan (httpx.ASGITransport) never call start().
            self.start()

        # Requests that get a slot at the next step boundary do not count as queued.
        free_slots = self.model.max_batch_size - len(self._running)
        queued = len(self._waiting) - max(0, free_slots)
        if self.model.max_queue is not None and queued >= self.model.max_queue:
            raise QueueFull(f"{queued} requests already wait (max_queue={self.model.max_queue})")

        sequence = _Sequence(
            prefill_tokens=prefill_tokens,
            completion_tokens=max(1, completion_tokens),
            arrived_at=self._clock(),
            done=asyncio.get_running_loop().create_future(),
        )
        self._waiting.append(sequence)
        self._wakeup.set()
        return await sequence.done

    @property
    def running_count(self) -> int:
        """Requests in the batch now."""
        return len(self._running)

    @property
    def waiting_count(self) -> int:
        """Requests waiting for a batch slot (including those joining at the next step)."""
        return len(self._waiting)

    async def _run(self) -> None:
        step_end: float | None = None
        while True:
            if not self._waiting and not self._running:
                self._wakeup.clear()
                await self._wakeup.wait()
                step_end = None
                continue

            # While busy, a step starts exactly when the previous one was due to end.
            step_start = self._clock() if step_end is None else step_end
            joined = self._admit(step_start)

            prefill_tokens = sum(sequence.prefill_tokens for sequence in joined)
            step_s = self.model.step_time_s(len(self._running))
            step_s += self.model.prefill_s_per_token * prefill_tokens
            step_end = step_start + step_s

            # sleep(0) still yields, so new requests can arrive between zero-length steps.
            await asyncio.sleep(max(0.0, step_end - self._clock()))
            self._emit_tokens(step_end)

    def _admit(self, step_start: float) -> list[_Sequence]:
        joined: list[_Sequence] = []
        while self._waiting and len(self._running) < self.model.max_batch_size:
            sequence = self._waiting.popleft()
            if sequence.done.done():
                continue
            # A request that arrived while the loop was late joins at its arrival time.
            sequence.scheduled_at = max(step_start, sequence.arrived_at)
            self._running.append(sequence)
            joined.append(sequence)
        return joined

    def _emit_tokens(self, step_end: float) -> None:
        still_running: list[_Sequence] = []
        for sequence in self._running:
            if sequence.done.cancelled():
                # The request handler is gone, so its slot is freed like an aborted request.
                continue

            sequence.generated += 1
            if sequence.first_token_at is None:
                sequence.first_token_at = max(step_end, sequence.scheduled_at)

            if sequence.generated < sequence.completion_tokens:
                still_running.append(sequence)
                continue

            sequence.done.set_result(
                RequestTiming(
                    queue_s=sequence.scheduled_at - sequence.arrived_at,
                    prefill_s=sequence.first_token_at - sequence.scheduled_at,
                    decode_s=max(0.0, step_end - sequence.first_token_at),
                    completion_tokens=sequence.completion_tokens,
                )
            )
        self._running = still_running
