"""Decoding and whole-export validation of `POST /api/public/otel/v1/traces` bodies.

Both encodings end up as the OTLP/JSON structure (lowerCamelCase keys, AnyValue objects),
because the server works on that structure. Protobuf is decoded with int64 values as
decimal strings and ids as lower-case hex. JSON ids are used verbatim, not lower-cased or
length-checked. So a client that sends base64 ids in JSON (the proto3 JSON default)
produces ids that do not match what the same spans would get over protobuf.
"""

from __future__ import annotations

import base64
import gzip
import json
import logging
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from google.protobuf.json_format import MessageToDict
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

logger = logging.getLogger(__name__)

_ID_FIELDS = ("traceId", "spanId", "parentSpanId")
# The server only warns above this size; it enforces no limit of its own.
_LARGE_BODY_WARNING_BYTES = 16 * 1024 * 1024


class OtlpRequestError(Exception):
    """A transport or structure problem that the server rejects with 400 `{"error": ...}`."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


@dataclass(frozen=True)
class SpanItem:
    """One span with the resource and scope it was exported under."""

    span: dict[str, Any]
    resource_attributes: list[Any]
    scope: dict[str, Any]


def decode_export(body: bytes, content_type: str, content_encoding: str) -> list[Any] | None:
    """Decode a request body to its `resourceSpans` list, or None when it has none.

    Raises OtlpRequestError with the server's error text for an unsupported content type,
    a body that does not decompress, or one that does not parse.
    """
    media = content_type.lower()
    is_protobuf = "application/x-protobuf" in media
    if not is_protobuf and "application/json" not in media:
        raise OtlpRequestError("Invalid content type")

    if "gzip" in content_encoding.lower():
        try:
            body = gzip.decompress(body)
        except (OSError, EOFError, zlib.error) as error:
            raise OtlpRequestError("Failed to decompress request body") from error
    if len(body) > _LARGE_BODY_WARNING_BYTES:
        logger.warning("OTLP export of %d bytes; the server logs a warning above 16 MiB", len(body))

    if is_protobuf:
        return _decode_protobuf(body)
    return _decode_json(body)


def _decode_protobuf(body: bytes) -> list[Any] | None:
    message = ExportTraceServiceRequest()
    try:
        message.ParseFromString(body)
    except DecodeError as error:
        raise OtlpRequestError("Failed to parse OTel Protobuf Trace") from error

    decoded = MessageToDict(message)
    resource_spans = decoded.get("resourceSpans")
    for resource in resource_spans or ():
        for scope in resource.get("scopeSpans", ()):
            for span in scope.get("spans", ()):
                for key in _ID_FIELDS:
                    if key in span:
                        span[key] = base64.b64decode(span[key]).hex()
    return resource_spans if isinstance(resource_spans, list) else None


def _decode_json(body: bytes) -> list[Any] | None:
    try:
        decoded = json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise OtlpRequestError("Failed to parse OTel JSON Trace") from error
    if decoded is None:
        # `JSON.parse("null").resourceSpans` throws in JavaScript.
        raise OtlpRequestError("Failed to parse OTel JSON Trace")

    # A body keyed `resource_spans` (snake_case) has no resourceSpans: a silent no-op.
    resource_spans = decoded.get("resourceSpans") if isinstance(decoded, dict) else None
    if resource_spans is None or resource_spans == [] or resource_spans == "":
        return None
    if not isinstance(resource_spans, list):
        raise OtlpRequestError(_rejection_text(1, 1, ["resourceSpans:not_an_array"]))
    return resource_spans


def validate_export(resource_spans: list[Any]) -> list[SpanItem]:
    """Flatten the export to spans, or reject the whole export if any part is malformed."""
    items: list[SpanItem] = []
    problems: list[str] = []
    bad_units = 0

    for resource in resource_spans:
        resource = resource if isinstance(resource, dict) else {}
        resource_attributes = (resource.get("resource") or {}).get("attributes", [])
        scope_spans = resource.get("scopeSpans", [])
        if not isinstance(scope_spans, list):
            problems.append("scopeSpans:not_an_array")
            bad_units += 1
            continue
        for scope_entry in scope_spans:
            scope_entry = scope_entry if isinstance(scope_entry, dict) else {}
            spans = scope_entry.get("spans", [])
            if not isinstance(spans, list):
                problems.append("spans:not_an_array")
                bad_units += 1
                continue
            scope = scope_entry.get("scope") or {}
            for span in spans:
                span = span if isinstance(span, dict) else {}
                span_problems = _span_problems(span)
                if span_problems:
                    problems.extend(span_problems)
                    bad_units += 1
                items.append(SpanItem(span, resource_attributes, scope))

    if problems:
        total = max(len(items), bad_units)
        raise OtlpRequestError(_rejection_text(bad_units, total, problems))
    return items


def _span_problems(span: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    for key in _ID_FIELDS:
        value = span.get(key)
        if value is None or value == "":
            if key != "parentSpanId":
                problems.append(f"{key}:absent")
        elif not isinstance(value, str):
            problems.append(f"{key}:not_an_id")

    for key in ("attributes", "events"):
        if key in span and not isinstance(span[key], list):
            problems.append(f"{key}:not_an_array")
    for event in span.get("events") or []:
        if (
            isinstance(event, dict)
            and "attributes" in event
            and not isinstance(event["attributes"], list)
        ):
            problems.append("events.attributes:not_an_array")
    return problems


def _rejection_text(bad: int, total: int, problems: list[str]) -> str:
    # The opening words and the field:reason tags follow the server; the rest is worded here.
    listed = ", ".join(dict.fromkeys(problems))
    return (
        f"Invalid OTLP trace export: {bad} of {total} span(s) cannot be processed; "
        f"invalid fields ({listed}). The entire export was rejected and no spans were "
        "ingested. Send hex traceId and spanId values and arrays for scopeSpans, spans, "
        "attributes and events."
    )


def iter_attributes(attributes: Any) -> Iterator[tuple[str, Any]]:
    """Yield (key, AnyValue) pairs from an OTLP attribute list, skipping malformed entries."""
    if not isinstance(attributes, list):
        return
    for entry in attributes:
        if isinstance(entry, dict) and isinstance(entry.get("key"), str):
            yield entry["key"], entry.get("value") or {}
