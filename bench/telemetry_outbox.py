"""Measure mailsift's telemetry outbox against the official Langfuse SDK, in one run.

Run from the repository root (the `langfuse` and `psutil` packages must be installed):

    .venv/bin/python bench/telemetry_outbox.py [--json results.json]

Three phases, each worker in a fresh subprocess so that no worker inherits another's
threads, imports or memory:

1. Hot path. Workers for mailsift and for the SDK take turns, round by round, and time
   every generation: building it from the same Python objects, starting it and ending
   it. The `end()` call is also timed on its own. For mailsift that is the call that
   writes the span into the SQLite outbox, and for the SDK the call that puts it on the
   in-memory export queue. Both export in the background to the running double.
2. Export throughput. Each worker ends N generations as fast as it can, then flushes.
   The rate is the number of spans the double stored, divided by the time from the
   first generation until the double had stored the last one.
3. Memory with pending spans. A mailsift worker ends `--memory-spans` generations while
   its server is unreachable, so every span stays pending in the outbox, and reports
   its resident set size (RSS). An SDK worker does the same with `--sdk-memory-spans`.

The figures are printed as a Markdown table and can also be written as JSON.

The Langfuse double (`mailsift.testing.langfuse`) runs in its own process on 127.0.0.1,
so it does not compete with the measured code for the GIL. It is the same server class
that `python -m mailsift.testing.langfuse` runs, with a line-based command channel on
stdin added, which the parent uses to count stored spans and to reset the double
between phases. Every worker installs an audit hook that blocks connections and name
lookups to anything but loopback, so neither client can reach an outside host.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any

import psutil

LOOPBACK = "127.0.0.1"
POLL_INTERVAL_S = 0.05
WORKER_TIMEOUT_S = 900.0
MEMORY_SAMPLE_EVERY = 100_000


# Payload shared by both clients


SYSTEM_PROMPT = (
    "You extract structured data from one email. Return a JSON object that matches the "
    "schema: vendor, order_number, order_date (ISO 8601), currency, total, and a list of "
    "line items with description, quantity and unit_price. Use null for a field the email "
    "does not state. Never invent values, never copy marketing text, and keep the "
    "original spelling of names. Amounts are decimals with a dot and no thousands "
    "separator. If the email is not a receipt or an order confirmation, return "
    '{"type": "other"} and nothing else. '
)

EMAIL_BODY = (
    "Subject: Your order {index} has shipped\n"
    "From: Example Outdoor Store <orders@shop.example>\n\n"
    "Hello Alex,\n\nthank you for your order {index} placed on 3 December 2026. "
    "Your parcel is on its way and should arrive within two working days.\n\n"
    "Order summary\n"
    "Trail running shoes, size 43 | 1 | 89.90 EUR\n"
    "Merino socks, 3 pairs | 2 | 14.50 EUR\n"
    "Headlamp 400 lm | 1 | 34.00 EUR\n"
    "Shipping | 1 | 4.90 EUR\n"
    "Total paid: 157.80 EUR (VAT included)\n\n"
    "Track your parcel with the number 00340434161234567{index}. Questions about your "
    "order? Reply to this email or call us on weekdays from 9:00 to 17:00. "
    "Returns are free within 30 days; keep the original packaging and the delivery note. "
)


@dataclass(frozen=True, slots=True)
class Generation:
    """One LLM call of an email, as plain Python values before any client encodes it."""

    identity: str
    name: str
    model: str
    parameters: dict[str, Any]
    messages: list[dict[str, str]]
    output: str
    input_tokens: int
    output_tokens: int
    completion_start: datetime
    user_id: str
    session_id: str
    tags: list[str]
    trace_metadata: dict[str, str]
    observation_metadata: dict[str, Any]


def make_generation(run_id: str, index: int) -> Generation:
    """Build the index-th generation. Its chat input is about 1.3 KB of JSON."""
    sync_id = index // 100
    output = json.dumps(
        {
            "vendor": "Example Outdoor Store",
            "order_number": str(index),
            "order_date": "2026-12-03",
            "currency": "EUR",
            "total": "157.80",
            "items": [
                {"description": "Trail running shoes", "quantity": 1, "unit_price": "89.90"},
                {"description": "Merino socks", "quantity": 2, "unit_price": "14.50"},
                {"description": "Headlamp 400 lm", "quantity": 1, "unit_price": "34.00"},
            ],
        }
    )
    return Generation(
        identity=f"bench-{run_id}-{index}",
        name="llm extract-order",
        model="qwen2.5-7b-instruct",
        parameters={"temperature": 0.0, "max_tokens": 1024, "response_format": "json_schema"},
        messages=[
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": EMAIL_BODY.format(index=index)},
        ],
        output=output,
        input_tokens=412,
        output_tokens=96,
        completion_start=datetime.now(UTC) - timedelta(milliseconds=800),
        user_id="bench-user",
        session_id=f"sync-{sync_id}",
        tags=["type:order", "source:eml"],
        trace_metadata={
            "email_id": str(index),
            "external_id": f"bench-{run_id}-{index}",
            "sync_id": str(sync_id),
            "gmail_message_id": f"18c{index:013x}",
            "subject": f"Your order {index} has shipped",
            "sender_domain": "shop.example",
        },
        observation_metadata={
            "request_id": f"req-{index}",
            "purpose": "extract",
            "server_url": "http://127.0.0.1:8080/v1",
            "latency_ms": 1234.5,
            "response_id": f"chatcmpl-{index}",
            "http_status": 200,
        },
    )


# Loopback guard


def install_loopback_guard() -> None:
    """Block socket connections and name lookups to anything but loopback in this process.

    A blocked attempt raises PermissionError inside the client that made it and prints
    one line to stderr, which the parent counts and reports.
    """
    allowed_hosts = {LOOPBACK, "localhost", "::1", None}

    def guard(event: str, args: tuple[Any, ...]) -> None:
        if event == "socket.connect":
            address = args[1]
            host = address[0] if isinstance(address, tuple) else None
        elif event == "socket.getaddrinfo":
            host = args[0]
        else:
            return
        if isinstance(host, bytes):
            host = host.decode(errors="replace")
        if host not in allowed_hosts:
            print(f"loopback guard: blocked {event} to {host!r}", file=sys.stderr, flush=True)
            raise PermissionError(f"benchmark blocks {event} to non-loopback host {host!r}")

    sys.addaudithook(guard)


# mailsift client


class MailsiftClient:
    """mailsift's telemetry, started the way the pipeline starts it."""

    def __init__(self, base_url: str, outbox_path: Path, ingestion: str = "auto") -> None:
        # Imported here, not at the top, so that each worker loads only its own client.
        from opentelemetry.context import Context

        from mailsift.telemetry import attributes, load_langfuse_config, start_telemetry
        from mailsift.telemetry.ids import set_next_span
        from mailsift.testing.langfuse import DoubleConfig

        self._context = Context
        self._attr = attributes
        self._set_next_span = set_next_span

        defaults = DoubleConfig()
        config = load_langfuse_config(
            {
                "LANGFUSE_PUBLIC_KEY": defaults.public_key,
                "LANGFUSE_SECRET_KEY": defaults.secret_key,
                "LANGFUSE_HOST": base_url,
                "LANGFUSE_INGESTION": ingestion,
            }
        )
        assert config is not None
        self.telemetry = start_telemetry(config, outbox_path=outbox_path)
        self.tracer = self.telemetry.provider.get_tracer("bench")

    def emit(self, generation: Generation) -> float:
        """Report one generation as the trace builder does and return the seconds in end()."""
        attr = self._attr
        details, _problems = attr.usage_details(
            input_tokens=generation.input_tokens,
            output_tokens=generation.output_tokens,
            total_tokens=generation.input_tokens + generation.output_tokens,
            cached_tokens=None,
        )
        metadata = attr.OBSERVATION_METADATA_PREFIX
        attributes: dict[str, Any] = {
            attr.TRACE_NAME: "email",
            attr.USER_ID: generation.user_id,
            attr.SESSION_ID: generation.session_id,
            attr.TRACE_TAGS: generation.tags,
            **{
                f"{attr.TRACE_METADATA_PREFIX}{key}": value
                for key, value in generation.trace_metadata.items()
            },
            attr.OBSERVATION_TYPE: "generation",
            attr.MODEL_NAME: generation.model,
            attr.GEN_AI_OPERATION: "chat",
            attr.GEN_AI_REQUEST_MODEL: generation.model,
            attr.MODEL_PARAMETERS: attr.encode_json(generation.parameters),
            attr.OBSERVATION_INPUT: attr.encode_json(generation.messages),
            attr.USAGE_DETAILS: attr.encode_json(details),
            **{f"{metadata}{key}": value for key, value in generation.observation_metadata.items()},
            attr.OBSERVATION_OUTPUT: generation.output,
            attr.COMPLETION_START_TIME: generation.completion_start.isoformat(),
        }
        self._set_next_span(generation.identity, "email/extract/llm#0")
        span = self.tracer.start_span(
            generation.name, context=self._context(), attributes=attributes
        )
        started = time.perf_counter()
        span.end()
        return time.perf_counter() - started

    def flush(self, timeout_s: float) -> bool:
        return self.telemetry.reporter.force_flush(int(timeout_s * 1000))

    def close(self) -> None:
        self.telemetry.close(timeout_s=5.0)


# Official Langfuse SDK client


class SdkClient:
    """The official Langfuse Python SDK, pointed at the double only."""

    def __init__(self, base_url: str, *, count_drops: bool = False) -> None:
        from langfuse import Langfuse
        from langfuse import propagate_attributes as propagate

        from mailsift.testing.langfuse import DoubleConfig

        defaults = DoubleConfig()
        self._metrics_reader = enable_processor_metrics() if count_drops else None
        # base_url is given explicitly; the worker's environment has no LANGFUSE_* or
        # OTEL_* variables, so nothing else can redirect the exporter.
        self.client = Langfuse(
            public_key=defaults.public_key,
            secret_key=defaults.secret_key,
            base_url=base_url,
            tracing_enabled=True,
        )
        self._propagate = propagate

    def emit(self, generation: Generation) -> float:
        """Report one generation with the SDK's v5 API and return the seconds in end()."""
        with self._propagate(
            user_id=generation.user_id,
            session_id=generation.session_id,
            tags=generation.tags,
            trace_name="email",
            metadata=generation.trace_metadata,
        ):
            observation = self.client.start_observation(
                name=generation.name,
                as_type="generation",
                input=generation.messages,
                model=generation.model,
                model_parameters=generation.parameters,
                metadata=generation.observation_metadata,
                completion_start_time=generation.completion_start,
            )
            observation.update(
                output=generation.output,
                usage_details={
                    "input": generation.input_tokens,
                    "output": generation.output_tokens,
                    "total": generation.input_tokens + generation.output_tokens,
                },
            )
            started = time.perf_counter()
            observation.end()
            return time.perf_counter() - started

    def flush(self, timeout_s: float) -> bool:
        # Langfuse.flush() takes no timeout; it returns once the queued spans were sent.
        self.client.flush()
        return True

    def processor_counts(self) -> dict[str, int]:
        """Return the batch processor's span counts: processed, dropped, queued now."""
        if self._metrics_reader is None:
            return {}
        counts = {"processed": 0, "dropped_queue_full": 0, "queue_size": 0}
        data = self._metrics_reader.get_metrics_data()
        for resource_metrics in data.resource_metrics if data else ():
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    for point in metric.data.data_points:
                        if metric.name == "otel.sdk.processor.span.queue.size":
                            counts["queue_size"] += int(point.value)
                        elif metric.name != "otel.sdk.processor.span.processed":
                            continue
                        elif (point.attributes or {}).get("error.type") == "queue_full":
                            counts["dropped_queue_full"] += int(point.value)
                        else:
                            counts["processed"] += int(point.value)
        return counts

    def close(self) -> None:
        self.client.shutdown()


Client = MailsiftClient | SdkClient


def enable_processor_metrics() -> Any:
    """Turn on OpenTelemetry's own batch-processor metrics and return their reader.

    opentelemetry-sdk 1.45 counts every span its batch processor drops because the
    queue is full, under `otel.sdk.processor.span.processed` with
    `error.type=queue_full`, when OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED is true.
    The processor reads the variable and the global meter provider when it is built,
    so this runs before the Langfuse client is created.
    """
    from opentelemetry import metrics
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    os.environ["OTEL_PYTHON_SDK_INTERNAL_METRICS_ENABLED"] = "true"
    reader = InMemoryMetricReader()
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
    return reader


def make_client(
    tool: str, base_url: str, work_dir: Path, *, ingestion: str = "auto", count_drops: bool = False
) -> Client:
    if tool == "mailsift":
        return MailsiftClient(
            base_url, work_dir / f"outbox-{uuid.uuid4().hex[:8]}.sqlite3", ingestion
        )
    if tool == "sdk":
        return SdkClient(base_url, count_drops=count_drops)
    raise ValueError(f"unknown tool {tool!r}, expected mailsift or sdk")


# Workers: each runs in its own subprocess and prints one JSON object on stdout


def worker_hot(spec: dict[str, Any]) -> dict[str, Any]:
    """Time `count` generations after `warmup` untimed ones, then flush."""
    client = make_client(spec["tool"], spec["base_url"], Path(spec["work_dir"]))
    run_id = uuid.uuid4().hex[:8]
    for index in range(spec["warmup"]):
        client.emit(make_generation(run_id, index))

    totals: list[float] = []
    ends: list[float] = []
    for index in range(spec["warmup"], spec["warmup"] + spec["count"]):
        generation = make_generation(run_id, index)
        started = time.perf_counter()
        end_s = client.emit(generation)
        totals.append(time.perf_counter() - started)
        ends.append(end_s)

    flushed = client.flush(60.0)
    client.close()
    return {"total_s": totals, "end_s": ends, "flushed": flushed}


def worker_throughput(spec: dict[str, Any]) -> dict[str, Any]:
    """End `count` generations back to back, then wait until the client has sent them."""
    client = make_client(spec["tool"], spec["base_url"], Path(spec["work_dir"]))
    run_id = uuid.uuid4().hex[:8]
    generations = [make_generation(run_id, index) for index in range(spec["count"])]
    cpu_before = time.process_time()

    first_end = time.monotonic()
    for generation in generations:
        client.emit(generation)
    loop_done = time.monotonic()
    flushed = client.flush(spec["flush_timeout_s"])
    flush_done = time.monotonic()

    cpu_s = time.process_time() - cpu_before
    client.close()
    return {
        "first_end": first_end,
        "loop_done": loop_done,
        "flush_done": flush_done,
        "flushed": flushed,
        "cpu_s": cpu_s,
    }


def worker_memory(spec: dict[str, Any]) -> dict[str, Any]:
    """End up to `count` generations toward an unreachable server and report RSS."""
    process = psutil.Process()
    client = make_client(
        spec["tool"], spec["base_url"], Path(spec["work_dir"]), ingestion="otlp", count_drops=True
    )
    run_id = uuid.uuid4().hex[:8]
    for index in range(100):
        client.emit(make_generation(run_id, index))
    baseline_rss = process.memory_info().rss

    deadline = time.monotonic() + spec["time_limit_s"]
    started = time.monotonic()
    samples: list[tuple[int, int, float]] = []
    emitted = 0
    for index in range(100, 100 + spec["count"]):
        client.emit(make_generation(run_id, index))
        emitted += 1
        if emitted % MEMORY_SAMPLE_EVERY == 0:
            samples.append((emitted, process.memory_info().rss, time.monotonic() - started))
            if time.monotonic() > deadline:
                break
    elapsed_s = time.monotonic() - started

    result: dict[str, Any] = {
        "requested": spec["count"],
        "emitted": emitted + 100,
        "elapsed_s": elapsed_s,
        "baseline_rss": baseline_rss,
        "final_rss": process.memory_info().rss,
        "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "samples": samples,
    }
    if isinstance(client, SdkClient):
        result["processor"] = client.processor_counts()
    else:
        counts = client.telemetry.reporter.counts()
        result["pending"] = counts.pending
        result["dropped"] = counts.dropped
        outbox = client.telemetry.reporter.outbox.path
        result["outbox_bytes"] = sum(
            path.stat().st_size
            for path in (outbox, Path(f"{outbox}-wal"), Path(f"{outbox}-shm"))
            if path.exists()
        )
    return result


def serve_double() -> None:
    """Run the Langfuse double and write one JSON line in reply to each stdin command.

    Commands: `stored` (spans the double accepted and stored, from its journal, cheap),
    `rows` (rows of the v4 events table, exact but copies every row), `traffic` (OTLP
    requests and their body bytes), `reset` and `stop`.
    """
    from mailsift.testing.langfuse import OTLP_TRACES_PATH, DoubleConfig, LangfuseDouble
    from mailsift.testing.langfuse.config import WriteMode

    double = LangfuseDouble(DoubleConfig(mode=WriteMode.EVENTS_ONLY), host=LOOPBACK).start()
    print(json.dumps({"url": double.base_url}), flush=True)
    for line in sys.stdin:
        command = line.strip()
        if command == "stored":
            reply: dict[str, Any] = {
                "stored": sum(1 for outcome in double.outcomes() if outcome.stored)
            }
        elif command == "rows":
            reply = {"rows": len(double.event_rows())}
        elif command == "traffic":
            requests = double.requests(OTLP_TRACES_PATH)
            reply = {
                "requests": len(requests),
                "body_bytes": sum(len(request.body) for request in requests),
            }
        elif command == "reset":
            double.reset()
            reply = {"reset": True}
        elif command == "stop":
            break
        else:
            reply = {"error": f"unknown command {command!r}"}
        print(json.dumps(reply), flush=True)
    double.stop()


WORKERS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "hot": worker_hot,
    "throughput": worker_throughput,
    "memory": worker_memory,
}


def run_worker_main(spec: dict[str, Any]) -> None:
    install_loopback_guard()
    result = WORKERS[spec["phase"]](spec)
    print(json.dumps(result), flush=True)
    if spec["phase"] == "memory":
        # The pending spans are meant to stay behind. A normal exit would first wait
        # for the clients' exit-time flushes to give up on the unreachable server.
        os._exit(0)


# Parent side: the double process and the worker processes


def clean_environment() -> dict[str, str]:
    """Return this process's environment without Langfuse or OpenTelemetry settings."""
    return {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("LANGFUSE_", "OTEL_"))
    }


class DoubleProcess:
    """The Langfuse double in a subprocess, driven over its stdin command channel."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--serve-double"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=clean_environment(),
        )
        assert self.process.stdout is not None
        ready = self.process.stdout.readline()
        if not ready:
            raise RuntimeError(
                "the Langfuse double process exited before it printed its URL; "
                "its error is on stderr above"
            )
        self.base_url: str = json.loads(ready)["url"]
        self.stats = psutil.Process(self.process.pid)
        self._lock = threading.Lock()

    def query(self, command: str) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        with self._lock:
            self.process.stdin.write(command + "\n")
            self.process.stdin.flush()
            return json.loads(self.process.stdout.readline())

    def cpu_s(self) -> float:
        times = self.stats.cpu_times()
        return times.user + times.system

    def stop(self) -> None:
        with contextlib.suppress(BrokenPipeError, ValueError):
            self.query("stop")
        self.process.wait(timeout=30)


@dataclass(slots=True)
class WorkerRun:
    result: dict[str, Any]
    blocked: int
    stored_polls: list[tuple[float, int]]


def run_worker(
    spec: dict[str, Any], double: DoubleProcess | None = None, poll: bool = False
) -> WorkerRun:
    """Run one worker to completion. With `poll`, also sample the double's stored count."""
    # Files, not pipes, because a worker's result can exceed a pipe buffer and the parent
    # reads it only after the worker has exited.
    with tempfile.TemporaryFile("w+") as stdout, tempfile.TemporaryFile("w+") as stderr:
        process = subprocess.Popen(
            [sys.executable, __file__, "--worker-spec", json.dumps(spec)],
            stdout=stdout,
            stderr=stderr,
            text=True,
            env=clean_environment(),
        )
        polls: list[tuple[float, int]] = []
        deadline = time.monotonic() + WORKER_TIMEOUT_S
        while process.poll() is None:
            if time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(
                    f"worker {spec['phase']}/{spec['tool']} timed out after "
                    f"{WORKER_TIMEOUT_S:.0f} s; run with smaller span counts"
                )
            if poll and double is not None:
                polls.append((time.monotonic(), double.query("stored")["stored"]))
            time.sleep(POLL_INTERVAL_S)
        stdout.seek(0)
        output = stdout.read()
        stderr.seek(0)
        log = stderr.read()
    if process.returncode != 0:
        raise RuntimeError(
            f"worker {spec['phase']}/{spec['tool']} failed with exit code "
            f"{process.returncode}:\n{log[-4000:]}"
        )
    return WorkerRun(
        result=json.loads(output.strip().splitlines()[-1]),
        blocked=log.count("loopback guard: blocked"),
        stored_polls=polls,
    )


# Phases


TOOLS = ("mailsift", "sdk")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def phase_hot(args: argparse.Namespace, double: DoubleProcess, work_dir: Path) -> dict[str, Any]:
    totals: dict[str, list[float]] = {tool: [] for tool in TOOLS}
    ends: dict[str, list[float]] = {tool: [] for tool in TOOLS}
    stored = dict.fromkeys(TOOLS, 0)
    blocked = 0
    for round_index in range(args.hot_rounds):
        # Alternate which client goes first, so neither always runs on a warmer machine.
        order = TOOLS if round_index % 2 == 0 else tuple(reversed(TOOLS))
        for tool in order:
            spec = {
                "phase": "hot",
                "tool": tool,
                "base_url": double.base_url,
                "work_dir": str(work_dir),
                "count": args.hot_spans,
                "warmup": args.hot_warmup,
            }
            double.query("reset")
            run = run_worker(spec)
            stored[tool] += double.query("stored")["stored"]
            totals[tool].extend(run.result["total_s"])
            ends[tool].extend(run.result["end_s"])
            blocked += run.blocked
            print(f"  hot path round {round_index + 1}/{args.hot_rounds}: {tool} done", flush=True)
    double.query("reset")

    summary: dict[str, Any] = {"blocked_connections": blocked}
    for tool in TOOLS:
        summary[tool] = {
            "sent": args.hot_rounds * (args.hot_warmup + args.hot_spans),
            "stored": stored[tool],
            "samples": len(totals[tool]),
            "total_median_us": statistics.median(totals[tool]) * 1e6,
            "total_p95_us": percentile(totals[tool], 0.95) * 1e6,
            "end_median_us": statistics.median(ends[tool]) * 1e6,
            "end_p95_us": percentile(ends[tool], 0.95) * 1e6,
        }
    return summary


def phase_throughput(
    args: argparse.Namespace, double: DoubleProcess, work_dir: Path
) -> dict[str, Any]:
    summary: dict[str, Any] = {"spans": args.throughput_spans}
    for tool in TOOLS:
        double.query("reset")
        cpu_before = double.cpu_s()
        spec = {
            "phase": "throughput",
            "tool": tool,
            "base_url": double.base_url,
            "work_dir": str(work_dir),
            "count": args.throughput_spans,
            "flush_timeout_s": 300.0,
        }
        run = run_worker(spec, double, poll=True)
        # The worker has flushed, so nothing more is on its way. One more poll catches a
        # count that changed after the worker's last sample.
        run.stored_polls.append((time.monotonic(), double.query("stored")["stored"]))
        double_cpu_s = double.cpu_s() - cpu_before
        stored = run.stored_polls[-1][1]
        rows = double.query("rows")["rows"]
        traffic = double.query("traffic")
        done_at = next(at for at, count in run.stored_polls if count >= stored)
        elapsed_s = done_at - run.result["first_end"]
        summary[tool] = {
            "stored": stored,
            "event_rows": rows,
            "elapsed_s": elapsed_s,
            "spans_per_s": stored / elapsed_s if elapsed_s > 0 else 0.0,
            "end_loop_s": run.result["loop_done"] - run.result["first_end"],
            "client_cpu_s": run.result["cpu_s"],
            "double_cpu_s": double_cpu_s,
            "requests": traffic["requests"],
            "gzip_bytes_per_span": traffic["body_bytes"] / stored if stored else 0.0,
            "flushed": run.result["flushed"],
            "blocked_connections": run.blocked,
        }
        print(f"  throughput: {tool} done", flush=True)
    double.query("reset")
    return summary


@contextlib.contextmanager
def unreachable_port() -> Iterator[int]:
    """Yield a loopback port that refuses connections because it is bound but never listens."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind((LOOPBACK, 0))
        yield holder.getsockname()[1]


def phase_memory(args: argparse.Namespace, work_dir: Path) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    counts = {"mailsift": args.memory_spans, "sdk": args.sdk_memory_spans}
    with unreachable_port() as port:
        for tool in TOOLS:
            if counts[tool] <= 0:
                continue
            spec = {
                "phase": "memory",
                "tool": tool,
                "base_url": f"http://{LOOPBACK}:{port}",
                "work_dir": str(work_dir),
                "count": counts[tool],
                "time_limit_s": args.memory_time_limit_s,
            }
            run = run_worker(spec)
            summary[tool] = {
                **run.result,
                "blocked_connections": run.blocked,
            }
            print(f"  memory: {tool} done in {run.result['elapsed_s']:.0f} s", flush=True)
    return summary


# Report


def ratio(mailsift: float, sdk: float) -> str:
    return f"{mailsift / sdk:.2f}" if sdk else "n/a"


def mib(value: float) -> str:
    return f"{value / (1024 * 1024):,.1f}"


def table_rows(results: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """Return the rows of the Markdown table: measure, mailsift, SDK, ratio."""
    rows: list[tuple[str, str, str, str]] = []
    hot = results.get("hot")
    if hot:
        ours, theirs = hot["mailsift"], hot["sdk"]
        for key, label in (
            ("end_median_us", "hot path: `end()` median (µs)"),
            ("end_p95_us", "hot path: `end()` p95 (µs)"),
            ("total_median_us", "whole generation: build, start, end, median (µs)"),
            ("total_p95_us", "whole generation: p95 (µs)"),
        ):
            rows.append(
                (label, f"{ours[key]:.1f}", f"{theirs[key]:.1f}", ratio(ours[key], theirs[key]))
            )
        rows.append(
            (
                "hot path: spans stored by the double",
                f"{ours['stored']:,} of {ours['sent']:,}",
                f"{theirs['stored']:,} of {theirs['sent']:,}",
                "",
            )
        )

    throughput = results.get("throughput")
    if throughput:
        ours, theirs = throughput["mailsift"], throughput["sdk"]
        sent = throughput["spans"]
        rows.append(
            (
                "export throughput (spans/s)",
                f"{ours['spans_per_s']:,.0f}",
                f"{theirs['spans_per_s']:,.0f}",
                ratio(ours["spans_per_s"], theirs["spans_per_s"]),
            )
        )
        rows.append(
            (
                "spans stored by the double",
                f"{ours['stored']:,} of {sent:,}",
                f"{theirs['stored']:,} of {sent:,}",
                "",
            )
        )
        for key, label, fmt in (
            ("elapsed_s", "first `end()` until the last span was stored (s)", "{:.2f}"),
            ("end_loop_s", "time to end all generations (s)", "{:.2f}"),
            ("client_cpu_s", "client process CPU (s)", "{:.2f}"),
            ("double_cpu_s", "double process CPU (s)", "{:.2f}"),
            ("gzip_bytes_per_span", "gzip OTLP body bytes per stored span", "{:,.0f}"),
        ):
            rows.append(
                (
                    label,
                    fmt.format(ours[key]),
                    fmt.format(theirs[key]),
                    ratio(ours[key], theirs[key]),
                )
            )

    memory = results.get("memory")
    if memory:
        ours = memory.get("mailsift", {})
        theirs = memory.get("sdk", {})
        held_ours = f"{ours['pending']:,} pending in the outbox" if ours else "-"
        held_theirs = "-"
        if theirs:
            processor = theirs["processor"]
            held_theirs = (
                f"{theirs['emitted']:,} ended: {processor['queue_size']:,} queued, "
                f"{processor['processed']:,} handed to the exporter, "
                f"{processor['dropped_queue_full']:,} dropped at the full queue"
            )
        rows.append(
            ("memory: spans held while the server is unreachable", held_ours, held_theirs, "")
        )
        for key, label in (
            ("baseline_rss", "RSS after setup and 100 spans (MiB)"),
            ("final_rss", "RSS after the last span (MiB)"),
            ("peak_rss", "peak RSS (MiB)"),
        ):
            rows.append(
                (
                    label,
                    mib(ours[key]) if ours else "-",
                    mib(theirs[key]) if theirs else "-",
                    ratio(ours[key], theirs[key]) if ours and theirs else "",
                )
            )
        if ours:
            rows.append(("outbox file size (MiB)", mib(ours["outbox_bytes"]), "-", ""))
            rows.append(
                (
                    "time to end the spans (s)",
                    f"{ours['elapsed_s']:.1f}",
                    f"{theirs['elapsed_s']:.1f}" if theirs else "-",
                    "",
                )
            )
    return rows


def format_samples(samples: list[tuple[int, int, float]]) -> str:
    return "; ".join(
        f"{count:,} spans: {mib(rss)} MiB after {seconds:.0f} s" for count, rss, seconds in samples
    )


def memory_notes(results: dict[str, Any]) -> list[str]:
    """Return notes on the memory phase: RSS samples, and an estimate if it stopped early."""
    notes: list[str] = []
    memory = results.get("memory", {})
    ours = memory.get("mailsift")
    if ours and ours["samples"]:
        notes.append(f"mailsift RSS by spans ended: {format_samples(ours['samples'])}")
        if ours["emitted"] < ours["requested"]:
            rate = (ours["emitted"] - 100) / ours["elapsed_s"]
            low, high = (f(rss for _, rss, _ in ours["samples"]) for f in (min, max))
            notes.append(
                f"The memory phase stopped at its time limit after {ours['emitted']:,} of "
                f"{ours['requested'] + 100:,} spans, so the RSS figures are for that count. "
                f"RSS stayed between {mib(low)} and {mib(high)} MiB over the samples. "
                f"ESTIMATE: at the average {rate:,.0f} spans/s the full count would take "
                f"about {(ours['requested'] + 100) / rate:,.0f} s, an underestimate, because "
                "the rate falls as the backlog grows."
            )
    theirs = memory.get("sdk")
    if theirs and theirs["samples"]:
        notes.append(f"SDK RSS by spans ended: {format_samples(theirs['samples'])}")
    return notes


def print_report(results: dict[str, Any]) -> None:
    print()
    print(
        f"| measure | mailsift | langfuse SDK {results['versions']['langfuse']} | mailsift / SDK |"
    )
    print("|---|---:|---:|---:|")
    for row in table_rows(results):
        print("| " + " | ".join(row) + " |")
    print()
    throughput = results.get("throughput")
    if throughput:
        print(
            "- rows in the double's v4 events table after each throughput run: "
            f"mailsift {throughput['mailsift']['event_rows']:,}, "
            f"SDK {throughput['sdk']['event_rows']:,}"
        )
    for note in memory_notes(results):
        print(f"- {note}")
    blocked = sum(
        phase.get("blocked_connections", 0)
        + sum(
            tool.get("blocked_connections", 0) for tool in phase.values() if isinstance(tool, dict)
        )
        for phase in (results.get(name, {}) for name in ("hot", "throughput", "memory"))
    )
    print(f"- connections blocked by the loopback guard: {blocked}")


def environment_summary() -> dict[str, Any]:
    import sqlite3

    return {
        "date": datetime.now(UTC).date().isoformat(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "sqlite": sqlite3.sqlite_version,
        "versions": {
            name: version(name)
            for name in ("langfuse", "opentelemetry-sdk", "psutil", "httpx", "uvicorn")
        },
    }


# Entry point


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Compare mailsift's telemetry outbox with the official Langfuse SDK "
        "against a Langfuse double on 127.0.0.1."
    )
    parser.add_argument(
        "--hot-spans", type=int, default=2000, help="timed generations per worker (default 2000)"
    )
    parser.add_argument(
        "--hot-warmup",
        type=int,
        default=200,
        help="untimed generations before the timed ones (default 200)",
    )
    parser.add_argument(
        "--hot-rounds",
        type=int,
        default=5,
        help="hot-path rounds; each runs one worker per client (default 5)",
    )

    parser.add_argument(
        "--throughput-spans",
        type=int,
        default=20_000,
        help="generations per client in the throughput phase (default 20000)",
    )

    parser.add_argument(
        "--memory-spans",
        type=int,
        default=1_000_000,
        help="pending mailsift spans in the memory phase; 0 skips it (default 1000000)",
    )
    parser.add_argument(
        "--sdk-memory-spans",
        type=int,
        default=50_000,
        help="SDK generations in the memory phase; 0 skips it (default 50000)",
    )
    parser.add_argument(
        "--memory-time-limit-s",
        type=float,
        default=480.0,
        help="stop a memory worker at its first RSS sample after this many seconds and "
        "report an estimate (default 480)",
    )

    parser.add_argument(
        "--phases",
        default="hot,throughput,memory",
        help="comma-separated phases to run (default hot,throughput,memory)",
    )

    parser.add_argument("--json", type=Path, help="also write the full results to this file")
    parser.add_argument(
        "--work-dir",
        type=Path,
        help="folder for the outbox files (default: a new temporary folder, removed after)",
    )
    parser.add_argument("--worker-spec", help=argparse.SUPPRESS)
    parser.add_argument("--serve-double", action="store_true", help=argparse.SUPPRESS)
    return parser


def run_benchmark(args: argparse.Namespace, work_dir: Path) -> dict[str, Any]:
    phases = {phase.strip() for phase in args.phases.split(",") if phase.strip()}
    unknown = phases - {"hot", "throughput", "memory"}
    if unknown:
        raise SystemExit(f"--phases: unknown phase(s) {', '.join(sorted(unknown))}")

    results: dict[str, Any] = {
        **environment_summary(),
        "arguments": {key: str(value) for key, value in vars(args).items()},
    }
    started = time.monotonic()

    def finish_phase(name: str, summary: dict[str, Any]) -> None:
        results[name] = summary
        print(f"  {name} finished after {time.monotonic() - started:.0f} s", flush=True)
        if args.json is not None:
            # Written after every phase, so a failure later keeps the figures so far.
            args.json.write_text(json.dumps(results, indent=2) + "\n")

    double = DoubleProcess()
    try:
        if "hot" in phases:
            print("hot path ...", flush=True)
            finish_phase("hot", phase_hot(args, double, work_dir))
        if "throughput" in phases:
            print("export throughput ...", flush=True)
            finish_phase("throughput", phase_throughput(args, double, work_dir))
    finally:
        double.stop()
    if "memory" in phases:
        print("memory with pending spans ...", flush=True)
        finish_phase("memory", phase_memory(args, work_dir))
    return results


def main() -> None:
    args = build_parser().parse_args()
    if args.serve_double:
        serve_double()
        return
    if args.worker_spec:
        run_worker_main(json.loads(args.worker_spec))
        return

    started = time.monotonic()
    if args.work_dir is not None:
        args.work_dir.mkdir(parents=True, exist_ok=True)
        results = run_benchmark(args, args.work_dir)
    else:
        with tempfile.TemporaryDirectory(prefix="mailsift-bench-") as folder:
            results = run_benchmark(args, Path(folder))
    results["wall_s"] = time.monotonic() - started
    print_report(results)
    print(f"- whole run: {results['wall_s']:.0f} s")
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
