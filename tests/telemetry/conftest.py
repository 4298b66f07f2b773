"""Traces from real pipeline runs, collected in memory."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from mailsift.telemetry.ids import DerivedIdGenerator
from mailsift.telemetry.trace_builder import TraceBuilder, TraceDefaults

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


@pytest.fixture
def span_memory() -> tuple[TraceBuilder, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(id_generator=DerivedIdGenerator())
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    builder = TraceBuilder(provider.get_tracer("test"), TraceDefaults(environment="test"))
    return builder, exporter


@pytest.fixture
def sample_spans(span_memory, run_pipeline, llm_server_double) -> list[ReadableSpan]:
    """Spans of one run over every sample email against the LLM double."""
    builder, exporter = span_memory
    run_pipeline([SAMPLES], llm_server_double.base_url, telemetry=builder)
    return list(exporter.get_finished_spans())


SpanFilter = Callable[[ReadableSpan], bool]


@pytest.fixture
def make_telemetry(tmp_path):
    """Return a function starting telemetry against a double, with its outbox in tmp_path."""
    from mailsift.telemetry import load_langfuse_config, start_telemetry
    from mailsift.telemetry.reporter import ReporterSettings

    started = []

    def make(double, *, outbox_name: str = "outbox.db", **overrides):
        environment = {
            "LANGFUSE_PUBLIC_KEY": overrides.pop("public_key", double.config.public_key),
            "LANGFUSE_SECRET_KEY": overrides.pop("secret_key", double.config.secret_key),
            "LANGFUSE_HOST": double.base_url,
        }
        environment.update({k: v for k, v in overrides.items() if k.startswith("LANGFUSE_")})
        settings = {k: v for k, v in overrides.items() if not k.startswith("LANGFUSE_")}
        config = load_langfuse_config(environment)
        assert config is not None
        outbox = tmp_path / outbox_name
        reporter_settings = ReporterSettings(
            outbox_path=outbox,
            schedule_delay_s=0.05,
            export_deadline_s=5.0,
            breaker_cooldown_s=0.5,
            shutdown_timeout_s=10.0,
        )
        for key, value in settings.items():
            setattr(reporter_settings, key, value)
        telemetry = start_telemetry(config, outbox_path=outbox, settings=reporter_settings)
        started.append(telemetry)
        return telemetry

    yield make
    for telemetry in started:
        telemetry.close(timeout_s=1.0)
