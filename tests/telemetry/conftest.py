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
