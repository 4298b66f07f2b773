"""Encode finished spans as compact JSON rows, and rebuild them for the exporters.

The outbox stores spans in a neutral form, not as OTLP or legacy events, because the
ingestion path can change between the moment a span ends and the moment it is sent (the
switch to OTLP on a v4 server, a restart with other settings).
"""

from __future__ import annotations

import json
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

from mailsift.telemetry import attributes as attr
from mailsift.telemetry.payload import clean_text, cut_text

# Higher is more valuable. When the outbox is over its byte budget the lowest go first;
# generations carry the usage and cost data and are never dropped.
PRIORITY_STEP = 0
PRIORITY_STAGE = 1
PRIORITY_ROOT = 2
PRIORITY_GENERATION = 3
STAGE_NAMES = frozenset({"classify", "extract", "validate", "store"})


def priority_of(span: ReadableSpan) -> int:
    attributes = span.attributes or {}
    if attributes.get(attr.OBSERVATION_TYPE) == "generation":
        return PRIORITY_GENERATION
    if span.parent is None:
        return PRIORITY_ROOT
    if span.name in STAGE_NAMES:
        return PRIORITY_STAGE
    return PRIORITY_STEP


MAX_ATTRIBUTE_CHARS = 65_536
"""Longer text attributes (inputs, outputs) are cut with a marker before they are stored."""


def encode_span(
    span: ReadableSpan, *, max_attribute_chars: int = MAX_ATTRIBUTE_CHARS
) -> tuple[bytes, int]:
    """Encode a span for the outbox; return the bytes and how many attributes were cut."""
    context = span.context
    assert context is not None
    attributes: dict[str, Any] = {}
    cut = 0
    for key, value in (span.attributes or {}).items():
        plain = _plain(value)
        if isinstance(plain, str):
            plain, was_cut = cut_text(clean_text(plain), max_attribute_chars)
            cut += was_cut
        attributes[key] = plain
    record: dict[str, Any] = {
        "name": span.name,
        "trace_id": f"{context.trace_id:032x}",
        "span_id": f"{context.span_id:016x}",
        "parent_id": f"{span.parent.span_id:016x}" if span.parent else None,
        "start": span.start_time,
        "end": span.end_time,
        "kind": span.kind.value,
        "status": [span.status.status_code.value, span.status.description],
        "attributes": attributes,
        "resource": {k: _plain(v) for k, v in span.resource.attributes.items()},
        "scope": [span.instrumentation_scope.name, span.instrumentation_scope.version]
        if span.instrumentation_scope
        else None,
    }
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode(), cut


def decode_span(payload: bytes) -> ReadableSpan:
    record = json.loads(payload)
    trace_id = int(record["trace_id"], 16)
    context = SpanContext(
        trace_id,
        int(record["span_id"], 16),
        is_remote=False,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
    )
    parent = (
        SpanContext(
            trace_id,
            int(record["parent_id"], 16),
            is_remote=False,
            trace_flags=TraceFlags(TraceFlags.SAMPLED),
        )
        if record["parent_id"]
        else None
    )
    status_code, description = record["status"]
    scope = record.get("scope")
    return ReadableSpan(
        name=record["name"],
        context=context,
        parent=parent,
        resource=Resource(record.get("resource") or {}),
        attributes={k: _attribute(v) for k, v in record["attributes"].items()},
        kind=SpanKind(record["kind"]),
        status=Status(StatusCode(status_code), description),
        start_time=record["start"],
        end_time=record["end"],
        instrumentation_scope=InstrumentationScope(scope[0], scope[1]) if scope else None,
    )


def _plain(value: Any) -> Any:
    # OpenTelemetry attribute values are primitives or homogeneous sequences (tuples).
    return list(value) if isinstance(value, tuple | list) else value


def _attribute(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value
