"""mailsift's own work per email, around the LLM calls: prepare, store and telemetry.

Run from the repository root:

    .venv/bin/python bench/non_llm_work.py [--repeats N]

The emails are the samples and the public corpus (`shared/corpus/public` in the folder
that contains the checkout, its extras included). Their LLM results come from one pass
against the LLM server double, untimed. Then every repetition times, for each email, the
calls the pipeline makes for it, one after the other in one thread:

- prepare: `prepare_message` (decode, schema.org markup, HTML to text), which the
  pipeline runs in a worker process;
- store: `Store.claim_email` and `Store.save_result` on SQLite in WAL mode in a temporary
  folder, which the pipeline runs on its database thread. Each repetition stores under a
  new account, so every claim inserts a new row, as in a first run over a mailbox;
- telemetry: `Store.load_context` and `TraceBuilder.record` into an in-memory span
  exporter, which the pipeline runs on the database thread after the save.

Each email's time is the median over the repetitions; the table gives the median and the
95th percentile of those over the emails. The result is a Markdown table on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from _support import percentile
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from mailsift.errors import MessageRejected
from mailsift.extraction.extractor import ExtractionResult, Extractor
from mailsift.llm.client import LLMClient, LLMSettings
from mailsift.parsing.limits import ParseLimits
from mailsift.pipeline.prepare import PreparedEmail, StageTiming, prepare_message
from mailsift.sources import RawMessage, open_source
from mailsift.store.database import create_db_engine, upgrade
from mailsift.store.repository import Store
from mailsift.telemetry.ids import DerivedIdGenerator
from mailsift.telemetry.trace_builder import TraceBuilder, TraceDefaults
from mailsift.testing.llm import LLMServerDouble

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [ROOT / "samples", ROOT.parent / "shared" / "corpus" / "public"]
STEPS = ["prepare", "store", "telemetry", "total"]


def load_messages() -> list[RawMessage]:
    messages: list[RawMessage] = []
    for source in SOURCES:
        messages.extend(open_source(source))
    return messages


async def extract_all(prepared: dict[str, PreparedEmail]) -> dict[str, ExtractionResult]:
    results: dict[str, ExtractionResult] = {}
    with LLMServerDouble() as server:
        async with LLMClient(LLMSettings(base_url=server.base_url)) as client:
            await client.discover()
            extractor = Extractor(client)
            for location, email in prepared.items():
                results[location] = await extractor.extract(email.for_extraction())
    return results


def measure(repeats: int, folder: Path) -> tuple[dict[str, dict[str, list[float]]], int, int]:
    limits = ParseLimits()
    messages = load_messages()
    prepared: dict[str, PreparedEmail] = {}
    for message in messages:
        try:
            prepared[message.location] = prepare_message(message.raw, limits, 1500)
        except MessageRejected:
            continue
    kept = [message for message in messages if message.location in prepared]
    results = asyncio.run(extract_all(prepared))

    engine = create_db_engine(f"sqlite:///{folder / 'bench.db'}")
    upgrade(engine)
    store = Store(engine)
    provider = TracerProvider(id_generator=DerivedIdGenerator())
    provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
    builder = TraceBuilder(provider.get_tracer("bench"), TraceDefaults())

    times = {m.location: {step: [] for step in STEPS} for m in kept}
    gc.disable()
    try:
        for repetition in range(repeats + 1):  # the first pass warms caches and is dropped
            # A new account per pass, so every claim inserts its email, as in a first run.
            login = f"bench-{repetition}"
            sync = store.open_sync(kind="eml", login=login, source="bench", source_format="eml")
            for message in kept:
                started = time.perf_counter()
                email = prepare_message(message.raw, limits, 1500)
                prepared_at = time.perf_counter()
                claim = store.claim_email(sync, message, email, reprocess=False)
                if claim is None:
                    continue
                store.save_result(claim.email_id, results[message.location])
                stored_at = time.perf_counter()
                context = store.load_context(claim.email_id)
                timing = StageTiming("store", datetime.now(UTC), (stored_at - prepared_at) * 1000)
                builder.record(context, email, results[message.location], timing, "eml")
                finished = time.perf_counter()

                entry = times[message.location]
                entry["prepare"].append((prepared_at - started) * 1000)
                entry["store"].append((stored_at - prepared_at) * 1000)
                entry["telemetry"].append((finished - stored_at) * 1000)
                entry["total"].append((finished - started) * 1000)
            gc.collect()
    finally:
        gc.enable()
    engine.dispose()
    for entry in times.values():
        for step in STEPS:
            del entry[step][:1]
    return times, len(messages), len(kept)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=15, help="timed passes (default 15)")
    arguments = parser.parse_args()
    if not SOURCES[1].is_dir():
        print(f"public corpus not found at {SOURCES[1]}", file=sys.stderr)
        return 1

    with tempfile.TemporaryDirectory(prefix="mailsift-bench-") as folder:
        times, read, kept = measure(arguments.repeats, Path(folder))

    print(
        f"{kept} of {read} messages prepared (rejected ones are left out), "
        f"{arguments.repeats} repetitions, CPython {sys.version.split()[0]}\n"
    )
    print("| step | median (ms) | p95 (ms) | max (ms) |")
    print("|---|---:|---:|---:|")
    for step in STEPS:
        per_email = [statistics.median(entry[step]) for entry in times.values() if entry[step]]
        print(
            f"| {step} | {statistics.median(per_email):.2f} | "
            f"{percentile(per_email, 0.95):.2f} | {max(per_email):.2f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
