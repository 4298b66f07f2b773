"""Throughput against the LLM server double, as a fraction of the double's capacity.

Run from the repository root:

    .venv/bin/python bench/throughput.py [--capacity 1|2|3] [--seconds 60]
                                         [--only client|pipeline]

For each of three batching models (see CAPACITIES; `--capacity` picks one) the script
measures, one after the other:

- sequential: one request at a time through `LLMClient`, the baseline (at most 20 s);
- client, fixed and adaptive: `LLMClient` alone, with many tasks sending small prompts
  through `FixedLimit` or `AdaptiveLimit`, which isolates the limiter;
- pipeline, fixed and adaptive: `mailsift run` over a generated mbox, so reading,
  decoding, storing and the CLI itself share the machine with the LLM calls.

Fixed runs last about `--seconds`, adaptive runs twice as long, so that the ramp-up weighs
less in the whole-run figure. One capacity takes about 8 minutes with the defaults.

The double runs in its own process, with prefill time off so that its capacity,
`TimingModel.capacity_tokens_per_s()`, does not depend on prompt lengths or on its prefix
cache (vLLM replies do not report cached tokens). A run's throughput is the completion
tokens of its successful calls divided by the time from its first request to its last
response, so it includes the ramp-up and the drain at the end. The steady state covers
the second half of the time from the first request to the last one sent. There each call's
tokens are spread over its prefill and decode time, as the double's per-request metrics
report them, and count for the part that falls inside that half. The result is a Markdown
table on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from _support import double_in_process, mailsift_run, write_mbox
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from mailsift.llm.adaptive import AdaptiveLimit, AdaptiveSettings
from mailsift.llm.client import LLMClient, LLMSettings
from mailsift.llm.concurrency import ConcurrencyLimit, FixedLimit
from mailsift.store.tables import LLMCall
from mailsift.testing.llm import TimingModel

COMPLETION_TOKENS = 32
"""Output tokens of every reply; classify calls ask for at most 32, so all replies match."""
TOKENS_PER_EMAIL = 2 * COMPLETION_TOKENS
"""One classify and one extract call per generated email."""
CEILING = 128
"""`--max-concurrency` of the adaptive runs, twice the largest batch below."""


@dataclass(frozen=True)
class Capacity:
    name: str
    timing: TimingModel


CAPACITIES = [
    Capacity(
        "batch 8, 20 ms steps",
        TimingModel(
            decode_step_s=0.020,
            decode_step_growth_s_per_request=0.001,
            max_batch_size=8,
            completion_tokens=COMPLETION_TOKENS,
        ),
    ),
    Capacity(
        "batch 32, 15 ms steps",
        TimingModel(
            decode_step_s=0.015,
            decode_step_growth_s_per_request=0.0003,
            max_batch_size=32,
            completion_tokens=COMPLETION_TOKENS,
        ),
    ),
    Capacity(
        "batch 64, 12 ms steps",
        TimingModel(
            decode_step_s=0.012,
            decode_step_growth_s_per_request=0.0002,
            max_batch_size=64,
            completion_tokens=COMPLETION_TOKENS,
        ),
    ),
]


@dataclass(frozen=True)
class Call:
    """One successful LLM call, with times in seconds on one clock."""

    started_s: float
    finished_s: float
    generating_s: float
    """Prefill and decode time as the server reported it; the call's tokens came out then."""
    completion_tokens: int


@dataclass(frozen=True)
class Measurement:
    label: str
    calls: int
    tokens_per_s: float
    ratio: float
    steady_ratio: float
    note: str


def measure(label: str, timing: TimingModel, calls: list[Call], note: str) -> Measurement:
    start = min(call.started_s for call in calls)
    end = max(call.finished_s for call in calls)
    last_sent = max(call.started_s for call in calls)
    middle = start + (last_sent - start) / 2
    tokens = sum(call.completion_tokens for call in calls)
    steady = sum(_tokens_within(call, middle, last_sent) for call in calls)
    capacity = timing.capacity_tokens_per_s()
    throughput = tokens / (end - start)
    return Measurement(
        label,
        len(calls),
        throughput,
        throughput / capacity,
        steady / (last_sent - middle) / capacity,
        note,
    )


def _tokens_within(call: Call, start: float, end: float) -> float:
    generating_from = call.finished_s - call.generating_s
    overlap = min(end, call.finished_s) - max(start, generating_from)
    if overlap <= 0:
        return 0.0
    return call.completion_tokens * overlap / max(call.generating_s, 1e-9)


# LLMClient alone

SCHEMA = {"type": "object", "properties": {"label": {"type": "string"}}, "required": ["label"]}


async def drive_client(
    base_url: str, limit: ConcurrencyLimit, tasks: int, seconds: float
) -> list[Call]:
    calls: list[Call] = []
    settings = LLMSettings(base_url=base_url, max_attempts=1, read_timeout_s=60)
    async with LLMClient(settings, limit=limit) as client:
        await client.discover()
        stop = time.monotonic() + seconds

        async def send_until_stop(task: int) -> None:
            sent = 0
            while time.monotonic() < stop:
                sent += 1
                messages = [{"role": "user", "content": f"Label message {task}-{sent}."}]
                started = time.monotonic()
                outcome = await client.chat_json(
                    messages,
                    schema=SCHEMA,
                    schema_name="label",
                    purpose="classify",
                    max_tokens=COMPLETION_TOKENS,
                    context=f"request {task}-{sent}",
                )
                usage = outcome.records[-1].usage
                generating_s = ((usage.prefill_ms or 0) + (usage.decode_ms or 0)) / 1000
                tokens = usage.completion_tokens or 0
                calls.append(Call(started, time.monotonic(), generating_s, tokens))

        await asyncio.gather(*(send_until_stop(task) for task in range(tasks)))
    return calls


def run_client(capacity: Capacity, label: str, fixed: int | None, seconds: float) -> Measurement:
    """Measure LLMClient alone: `fixed` requests in flight, or adaptive when None."""
    limit: ConcurrencyLimit
    if fixed is None:
        limit, tasks = AdaptiveLimit(AdaptiveSettings(max_limit=CEILING)), CEILING
    else:
        limit, tasks = FixedLimit(fixed), fixed
    with double_in_process(capacity.timing) as base_url:
        calls = asyncio.run(drive_client(base_url, limit, tasks, seconds))
    note = f"limit at the end: {limit.limit}" if isinstance(limit, AdaptiveLimit) else ""
    return measure(label, capacity.timing, calls, note)


# The whole pipeline through the CLI


def run_pipeline(
    capacity: Capacity, label: str, concurrency: str, emails: int, folder: Path
) -> Measurement:
    mbox = folder / f"mail-{emails}.mbox"
    if not mbox.exists():
        write_mbox(mbox, emails)
    database = folder / f"{label.replace(' ', '-')}-{time.monotonic_ns()}.db"
    with double_in_process(capacity.timing) as base_url:
        command, environment = mailsift_run(
            mbox,
            base_url,
            database,
            folder / "data",
            *("--concurrency", concurrency, "--max-concurrency", str(CEILING), "-v"),
        )
        started = time.monotonic()
        finished = subprocess.run(command, env=environment, capture_output=True, text=True)
        wall_s = time.monotonic() - started
    if finished.returncode != 0:
        raise RuntimeError(f"mailsift run failed ({finished.returncode}):\n{finished.stderr}")

    engine = create_engine(f"sqlite:///{database}")
    with Session(engine) as session:
        rows = session.scalars(select(LLMCall).where(LLMCall.status == "succeeded")).all()
        calls = [
            Call(
                _seconds(row.started_at),
                _seconds(row.finished_at),
                ((row.prefill_ms or 0) + (row.decode_ms or 0)) / 1000,
                row.completion_tokens or 0,
            )
            for row in rows
        ]
    engine.dispose()
    changes = sum(1 for line in finished.stderr.splitlines() if "LLM concurrency" in line)
    note = f"{emails:,} emails, CLI wall time {wall_s:.1f} s"
    if concurrency == "auto":
        last = [line for line in finished.stderr.splitlines() if "LLM concurrency" in line]
        final = last[-1].split("LLM concurrency ")[1].split(" (")[0] if last else "none"
        note += f", {changes} limit changes logged, last {final}"
    return measure(label, capacity.timing, calls, note)


def _seconds(moment: datetime) -> float:
    return moment.timestamp()


def format_row(capacity: Capacity, result: Measurement, baseline: Measurement | None) -> str:
    capacity_now = result.tokens_per_s / result.ratio
    speedup = f"{result.tokens_per_s / baseline.tokens_per_s:.1f}" if baseline else "1.0"
    return (
        f"| {capacity.name} | {capacity_now:,.0f} | {result.label} | {result.calls:,} | "
        f"{result.tokens_per_s:,.0f} | {result.ratio:.3f} | {result.steady_ratio:.3f} | "
        f"{speedup} | {result.note} |"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--seconds", type=float, default=60, help="target duration of each run (default 60)"
    )
    parser.add_argument("--only", choices=["client", "pipeline"], help="run one half only")
    parser.add_argument(
        "--capacity",
        type=int,
        choices=range(1, len(CAPACITIES) + 1),
        help="run only this batching model, numbered from 1 (default: all)",
    )
    arguments = parser.parse_args()
    seconds = arguments.seconds
    chosen = CAPACITIES
    if arguments.capacity is not None:
        chosen = [CAPACITIES[arguments.capacity - 1]]

    print(
        f"CPython {sys.version.split()[0]}, {os.cpu_count()} CPUs, about {seconds:g} s per run, "
        f"{COMPLETION_TOKENS} completion tokens per call\n"
    )
    print(
        "| double | capacity (tokens/s) | client | calls | tokens/s | of capacity | "
        "steady state | x sequential | notes |"
    )
    print("|---|---:|---|---:|---:|---:|---:|---:|---|")
    with tempfile.TemporaryDirectory(prefix="mailsift-bench-") as temporary:
        folder = Path(temporary)
        for capacity in chosen:
            batch = capacity.timing.max_batch_size
            baseline = run_client(capacity, "sequential", 1, min(20.0, seconds))
            print(format_row(capacity, baseline, None), flush=True)
            if arguments.only != "pipeline":
                above = batch + batch // 4
                for label, fixed, duration in [
                    (f"client, fixed {batch}", batch, seconds),
                    (f"client, fixed {above}", above, seconds),
                    ("client, adaptive", None, 2 * seconds),
                ]:
                    result = run_client(capacity, label, fixed, duration)
                    print(format_row(capacity, result, baseline), flush=True)
            if arguments.only != "client":
                emails_per_s = capacity.timing.capacity_tokens_per_s() / TOKENS_PER_EMAIL
                for label, concurrency, duration in [
                    (f"pipeline, fixed {batch}", str(batch), seconds),
                    ("pipeline, adaptive", "auto", 2 * seconds),
                ]:
                    emails = int(duration * emails_per_s)
                    result = run_pipeline(capacity, label, concurrency, emails, folder)
                    print(format_row(capacity, result, baseline), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
