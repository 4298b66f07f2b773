"""The adaptive concurrency limit: its semaphore, its decisions, and the LLM server double."""

from __future__ import annotations

import asyncio
import logging
import statistics
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import pytest

from mailsift.errors import LLMError
from mailsift.llm.adaptive import AdaptiveLimit, AdaptiveSettings
from mailsift.llm.client import LLMClient, LLMSettings
from mailsift.llm.concurrency import ResizableSemaphore
from mailsift.testing.llm import LLMServerDouble, TimingModel

SCHEMA = {"type": "object", "properties": {"label": {"type": "string"}}, "required": ["label"]}


# ResizableSemaphore


def test_semaphore_lowered_blocks_only_newcomers():
    async def scenario() -> tuple[int, bool, bool]:
        semaphore = ResizableSemaphore(3)
        for _ in range(3):
            await semaphore.acquire()
        semaphore.limit = 1
        waiter = asyncio.create_task(semaphore.acquire())
        await asyncio.sleep(0)
        semaphore.release()
        semaphore.release()
        await asyncio.sleep(0)
        blocked_at_one_holder = not waiter.done()
        semaphore.release()
        await asyncio.sleep(0)
        return semaphore.held, blocked_at_one_holder, waiter.done()

    held, blocked_at_one_holder, admitted = asyncio.run(scenario())

    assert blocked_at_one_holder
    assert admitted
    assert held == 1


def test_semaphore_raised_admits_waiters_in_order():
    async def scenario() -> list[int]:
        semaphore = ResizableSemaphore(1)
        await semaphore.acquire()
        admitted: list[int] = []

        async def wait(number: int) -> None:
            await semaphore.acquire()
            admitted.append(number)

        tasks = [asyncio.create_task(wait(number)) for number in range(3)]
        await asyncio.sleep(0)
        semaphore.limit = 3
        await asyncio.gather(*tasks[:2])
        tasks[2].cancel()
        return admitted

    assert asyncio.run(scenario()) == [0, 1]


def test_semaphore_cancelled_waiter_frees_its_place():
    async def scenario() -> int:
        semaphore = ResizableSemaphore(1)
        await semaphore.acquire()
        cancelled = asyncio.create_task(semaphore.acquire())
        await asyncio.sleep(0)
        cancelled.cancel()
        await asyncio.gather(cancelled, return_exceptions=True)
        semaphore.release()
        await asyncio.wait_for(semaphore.acquire(), 1)
        return semaphore.held

    assert asyncio.run(scenario()) == 1


def test_semaphore_rejects_extra_release():
    semaphore = ResizableSemaphore(1)

    with pytest.raises(RuntimeError, match="released more often"):
        semaphore.release()


# Settings


@pytest.mark.parametrize(
    ("settings", "name"),
    [
        ({"max_limit": 0}, "max_limit"),
        ({"max_limit": 4, "initial_limit": 5}, "initial_limit"),
        ({"min_cohort_requests": 0}, "min_cohort_requests"),
        ({"hold_cohorts": 0}, "hold_cohorts"),
        ({"backoff_factor": 1.0}, "backoff_factor"),
        ({"probe_fraction": 0.0}, "probe_fraction"),
        ({"latency_tolerance": 1.0}, "latency_tolerance"),
    ],
)
def test_adaptive_settings_reject_invalid_value(settings: dict[str, Any], name: str):
    with pytest.raises(ValueError, match=name):
        AdaptiveSettings(**settings)


def test_adaptive_settings_start_below_small_ceiling():
    assert AdaptiveSettings(max_limit=3).first_limit == 3
    assert AdaptiveSettings().first_limit == 8


# Decisions, on a fake clock: every round sends `limit` requests at once, and a simulated
# server with `batch` slots completes them all after `step_s * max(1, sent / batch)`, so
# its goodput grows with the limit up to `batch` and stays flat beyond.


@dataclass
class FakeClock:
    now: float = 0.0

    def __call__(self) -> float:
        return self.now


async def _round(
    limit: AdaptiveLimit, clock: FakeClock, batch: int, step_s: float, overloaded: bool = False
) -> None:
    sent = limit.limit
    release = asyncio.Event()

    async def request() -> None:
        async with limit:
            await release.wait()
        latency = step_s * max(1.0, sent / batch)
        limit.record(latency_s=latency, tokens=None if overloaded else 10, overloaded=overloaded)

    tasks = [asyncio.create_task(request()) for _ in range(sent)]
    await asyncio.sleep(0)
    clock.now += step_s * max(1.0, sent / batch)
    release.set()
    await asyncio.gather(*tasks)


def _simulate(
    settings: AdaptiveSettings, batch: int, rounds: int
) -> tuple[AdaptiveLimit, list[int]]:
    clock = FakeClock()
    limit = AdaptiveLimit(settings, clock=clock)
    limits: list[int] = []

    async def run() -> None:
        for _ in range(rounds):
            await _round(limit, clock, batch, step_s=1.0)
            limits.append(limit.limit)

    asyncio.run(run())
    return limit, limits


def test_slow_start_doubles_until_goodput_flat():
    limit, limits = _simulate(AdaptiveSettings(max_limit=256), batch=32, rounds=40)

    doubled = [change.new for change in limit.changes][:3]
    assert doubled == [16, 32, 64]
    assert limit.changes[3].new == 32
    assert "slow start" in limit.changes[3].reason
    assert min(limits[-10:]) >= 32
    assert max(limits[-10:]) <= 48


def test_limit_never_exceeds_ceiling():
    limit, limits = _simulate(AdaptiveSettings(max_limit=20), batch=1000, rounds=60)

    assert max(limits) == 20
    assert limit.limit == 20
    assert all(change.new <= 20 for change in limit.changes)


def test_probing_settles_above_batch_size():
    limit, limits = _simulate(
        AdaptiveSettings(max_limit=64, initial_limit=40), batch=24, rounds=120
    )

    settled, _ = Counter(limits[-60:]).most_common(1)[0]
    assert 24 <= settled <= 28
    # Probes one step either side of the settled limit, and only those.
    assert min(limits[-60:]) >= 22
    assert max(limits[-60:]) <= 30
    assert any(change.reason.startswith("probe down") for change in limit.changes)


def test_overload_cuts_once_per_round_trip():
    clock = FakeClock()
    limit = AdaptiveLimit(AdaptiveSettings(max_limit=64, initial_limit=20), clock=clock)

    async def run() -> list[int]:
        after: list[int] = []
        await _round(limit, clock, batch=100, step_s=1.0, overloaded=True)
        after.append(limit.limit)
        await _round(limit, clock, batch=100, step_s=1.0, overloaded=True)
        after.append(limit.limit)
        return after

    after_rounds = asyncio.run(run())

    assert after_rounds == [14, 9]
    assert [change.reason for change in limit.changes] == [
        "the server reported overload or timed out"
    ] * 2


def test_overload_never_goes_below_one():
    clock = FakeClock()
    limit = AdaptiveLimit(AdaptiveSettings(max_limit=4, initial_limit=1), clock=clock)

    async def run() -> None:
        for _ in range(3):
            await _round(limit, clock, batch=100, step_s=1.0, overloaded=True)

    asyncio.run(run())

    assert limit.limit == 1


def test_changes_logged_at_info_and_rate_limited(caplog):
    caplog.set_level(logging.INFO, logger="mailsift.llm.adaptive")

    limit, _ = _simulate(AdaptiveSettings(max_limit=256, log_interval_s=1000), batch=32, rounds=30)

    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert len(limit.changes) > 1
    assert lines == ["LLM concurrency 8 -> 16 (slow start)"]


def test_log_line_counts_the_changes_not_shown(caplog):
    caplog.set_level(logging.INFO, logger="mailsift.llm.adaptive")

    _simulate(AdaptiveSettings(max_limit=256, log_interval_s=2.5), batch=32, rounds=30)

    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert any("change(s) since the previous line were logged at DEBUG" in line for line in lines)


# Against the LLM server double: real HTTP, the double's batching model, seconds of run.


@dataclass
class Load:
    overloaded: int
    limits: list[int]
    """The limit sampled every 20 ms."""


async def _load(server: LLMServerDouble, limit: AdaptiveLimit, tasks: int, seconds: float) -> Load:
    """Send requests from `tasks` tasks for `seconds`, counting 503 replies."""
    load = Load(overloaded=0, limits=[])
    settings = LLMSettings(base_url=server.base_url, max_attempts=1, read_timeout_s=30)
    async with LLMClient(settings, limit=limit) as client:
        await client.discover()
        stop = time.monotonic() + seconds

        async def send() -> None:
            while time.monotonic() < stop:
                try:
                    await client.chat_json(
                        [{"role": "user", "content": "Label this."}],
                        schema=SCHEMA,
                        schema_name="label",
                        purpose="classify",
                        max_tokens=16,
                        context="a test request",
                    )
                except LLMError as exc:
                    assert "overloaded (503)" in str(exc)
                    load.overloaded += 1

        async def sample() -> None:
            while time.monotonic() < stop:
                load.limits.append(limit.limit)
                await asyncio.sleep(0.02)

        await asyncio.gather(sample(), *(send() for _ in range(tasks)))
    return load


def test_double_converges_near_batch_size():
    timing = TimingModel(
        decode_step_s=0.01,
        decode_step_growth_s_per_request=0.0005,
        max_batch_size=8,
        completion_tokens=8,
    )
    limit = AdaptiveLimit(AdaptiveSettings(max_limit=64, initial_limit=2))

    with LLMServerDouble(timing=timing) as server:
        load = asyncio.run(_load(server, limit, tasks=64, seconds=6))
        max_in_flight = server.max_in_flight

    second_half = load.limits[len(load.limits) // 2 :]
    assert [change.new for change in limit.changes][:2] == [4, 8]
    assert 8 <= statistics.median(second_half) <= 20
    assert 8 <= limit.limit <= 20
    assert max_in_flight <= max(change.new for change in limit.changes)


def test_double_503_makes_limit_back_off():
    # 4 requests run and 2 wait; a 7th request at the server gets 503.
    timing = TimingModel(decode_step_s=0.01, max_batch_size=4, max_queue=2, completion_tokens=8)
    limit = AdaptiveLimit(AdaptiveSettings(max_limit=64, initial_limit=12))

    with LLMServerDouble(timing=timing) as server:
        load = asyncio.run(_load(server, limit, tasks=64, seconds=4))
        requests = len(server.chat_requests)

    cuts = [c for c in limit.changes if c.reason == "the server reported overload or timed out"]
    assert cuts
    assert (cuts[0].old, cuts[0].new) == (12, 8)
    assert statistics.median(load.limits) <= 7
    assert load.overloaded < requests * 0.1
