"""The continuous-batching model: parameters, capacity, queueing and throughput over HTTP."""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

import httpx
import pytest

from mailsift.testing.llm import LLMServerDouble, TimingModel

REQUEST_BODY = {"messages": [{"role": "user", "content": "Summarise this email."}]}


@pytest.mark.parametrize(
    ("settings", "name"),
    [
        ({"decode_step_s": -0.1}, "decode_step_s"),
        ({"prefill_s_per_token": math.nan}, "prefill_s_per_token"),
        ({"max_batch_size": 0}, "max_batch_size"),
        ({"max_queue": -1}, "max_queue"),
        ({"completion_tokens": 0}, "completion_tokens"),
    ],
)
def test_timing_model_rejects_invalid_setting(settings: dict[str, Any], name: str) -> None:
    with pytest.raises(ValueError, match=name):
        TimingModel(**settings)


def test_capacity_ignores_prefill_by_default() -> None:
    model = TimingModel(
        decode_step_s=0.004,
        decode_step_growth_s_per_request=0.001,
        max_batch_size=4,
        prefill_s_per_token=0.001,
    )

    assert model.step_time_s(4) == pytest.approx(0.008)
    assert model.capacity_tokens_per_s() == pytest.approx(500.0)


def test_capacity_with_prefill_amortised() -> None:
    model = TimingModel(
        decode_step_s=0.004,
        decode_step_growth_s_per_request=0.001,
        max_batch_size=4,
        prefill_s_per_token=0.0001,
        completion_tokens=20,
    )

    # 4 / 20 requests join per step, each adding 100 tokens * 0.1 ms of prefill.
    expected = 4 / (0.008 + (4 / 20) * 100 * 0.0001)
    assert model.capacity_tokens_per_s(prompt_tokens=100) == pytest.approx(expected)


def test_capacity_with_prefill_needs_completion_tokens() -> None:
    with pytest.raises(ValueError, match="completion_tokens"):
        TimingModel(decode_step_s=0.01).capacity_tokens_per_s(prompt_tokens=10)


def test_capacity_is_infinite_when_off() -> None:
    assert TimingModel().capacity_tokens_per_s() == math.inf


async def post_concurrently(base_url: str, count: int) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        calls = [client.post("/chat/completions", json=REQUEST_BODY) for _ in range(count)]
        return await asyncio.gather(*calls)


def test_requests_beyond_batch_wait_in_queue() -> None:
    timing = TimingModel(decode_step_s=0.01, max_batch_size=4, completion_tokens=10)

    with LLMServerDouble(timing=timing, per_request_metrics=True) as server:
        responses = asyncio.run(post_concurrently(server.base_url, 8))

    queue_ms = sorted(response.json()["metrics"]["queue_time_ms"] for response in responses)
    # A slot frees only after a request's 10 steps of 10 ms.
    assert all(value < 50 for value in queue_ms[:4]), queue_ms
    assert all(value > 50 for value in queue_ms[4:]), queue_ms


def test_metrics_follow_the_model() -> None:
    timing = TimingModel(
        decode_step_s=0.01, prefill_s_per_token=0.001, max_batch_size=4, completion_tokens=5
    )

    with LLMServerDouble(timing=timing, per_request_metrics=True) as server:
        body = httpx.post(f"{server.base_url}/chat/completions", json=REQUEST_BODY).json()

    metrics = body["metrics"]
    prompt_tokens = body["usage"]["prompt_tokens"]
    assert body["usage"]["completion_tokens"] == 5
    # The first step carries the prefill; four more decode steps follow, one request each.
    assert metrics["time_to_first_token_ms"] == pytest.approx(10 + prompt_tokens, abs=0.01)
    assert metrics["generation_time_ms"] == pytest.approx(40, abs=0.01)
    assert metrics["mean_itl_ms"] == pytest.approx(10, abs=0.01)
    assert metrics["tokens_per_second"] == pytest.approx(5 / ((50 + prompt_tokens) / 1000))


async def saturate(base_url: str, workers: int, requests_per_worker: int) -> list[int]:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:

        async def worker() -> list[int]:
            tokens = []
            for _ in range(requests_per_worker):
                response = await client.post("/chat/completions", json=REQUEST_BODY)
                response.raise_for_status()
                tokens.append(response.json()["usage"]["completion_tokens"])
            return tokens

        per_worker = await asyncio.gather(*[worker() for _ in range(workers)])
    return [count for tokens in per_worker for count in tokens]


def test_saturating_load_reaches_capacity() -> None:
    timing = TimingModel(
        decode_step_s=0.004,
        decode_step_growth_s_per_request=0.001,
        max_batch_size=4,
        completion_tokens=25,
    )

    with LLMServerDouble(timing=timing) as server:
        started = time.monotonic()
        tokens = asyncio.run(saturate(server.base_url, workers=12, requests_per_worker=4))
        elapsed_s = time.monotonic() - started

    throughput = sum(tokens) / elapsed_s
    fraction = throughput / timing.capacity_tokens_per_s()
    assert len(tokens) == 48
    assert 0.75 <= fraction <= 1.02, (
        f"throughput {throughput:.0f} tok/s is {fraction:.2f} of capacity"
    )


def test_full_queue_gives_503() -> None:
    timing = TimingModel(decode_step_s=0.02, max_batch_size=2, max_queue=2, completion_tokens=10)

    with LLMServerDouble(timing=timing) as server:
        responses = asyncio.run(post_concurrently(server.base_url, 6))

    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200, 200, 200, 200, 503, 503]
    rejected = next(response for response in responses if response.status_code == 503)
    assert rejected.json()["error"]["type"] == "ServiceUnavailableError"
    assert "max_queue=2" in rejected.json()["error"]["message"]
