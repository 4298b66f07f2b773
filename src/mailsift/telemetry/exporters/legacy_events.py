"""Build legacy batch-ingestion events (Langfuse v2/v3) from finished spans.

Each span becomes one `span-create` or `generation-create` event, and a root span also
yields the `trace-create` event (observation events alone do not create the trace row).
The builders can only emit what the OpenAPI spec and the server's validation accept:
- the envelope (`id`, zone-aware `timestamp`, `type`) is kept apart from the body, whose
  `id` is the trace or observation id;
- usage goes in `usageDetails` as integers, never the deprecated flat `promptTokens`
  fields, and the model's answer goes in `output`, never `completion`;
- `promptName` and `promptVersion` are sent together or not at all.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

from mailsift.telemetry import attributes as attr

EVENT_NAMESPACE = uuid.UUID("6f1c1d2e-5b0a-4c59-9a61-3f4f6a0e2b11")


def span_events(span: ReadableSpan, *, now: datetime | None = None) -> list[dict[str, Any]]:
    """Return the ingestion events for one finished span, trace-create first for a root."""
    timestamp = iso(now or datetime.now(UTC))
    attributes = dict(span.attributes or {})
    events: list[dict[str, Any]] = []
    if span.parent is None:
        events.append(_envelope(span, "trace-create", timestamp, _trace_body(span, attributes)))

    kind = (
        "generation-create"
        if attributes.get(attr.OBSERVATION_TYPE) == "generation"
        else ("span-create")
    )
    events.append(_envelope(span, kind, timestamp, _observation_body(span, attributes, kind)))
    return events


def iso(moment: datetime) -> str:
    """Format a datetime the way the server's strict validator requires: seconds and zone."""
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r} would be rejected by Langfuse")
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _envelope(
    span: ReadableSpan, kind: str, timestamp: str, body: dict[str, Any]
) -> dict[str, Any]:
    # The event id is derived from the span and its end time: a retry of the same export
    # reuses it, so the server overwrites instead of duplicating.
    key = f"{_span_id(span)}:{span.end_time}:{kind}"
    return {
        "id": str(uuid.uuid5(EVENT_NAMESPACE, key)),
        "timestamp": timestamp,
        "type": kind,
        "body": body,
    }


def _trace_body(span: ReadableSpan, attributes: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": _trace_id(span),
        "timestamp": _time(span.start_time),
        "name": attributes.get(attr.TRACE_NAME, span.name),
        "userId": attributes.get(attr.USER_ID),
        "sessionId": attributes.get(attr.SESSION_ID),
        "tags": list(attributes.get(attr.TRACE_TAGS) or []),
        "metadata": _prefixed(attributes, attr.TRACE_METADATA_PREFIX),
        "input": _json(attributes.get(attr.TRACE_INPUT)),
        "output": _json(attributes.get(attr.TRACE_OUTPUT)),
        "environment": attributes.get(attr.ENVIRONMENT),
        "release": attributes.get(attr.RELEASE),
    }
    return _without_none(body)


def _observation_body(span: ReadableSpan, attributes: dict[str, Any], kind: str) -> dict[str, Any]:
    failed = span.status.status_code is StatusCode.ERROR
    body: dict[str, Any] = {
        "id": _span_id(span),
        "traceId": _trace_id(span),
        "parentObservationId": f"{span.parent.span_id:016x}" if span.parent else None,
        "name": span.name,
        "startTime": _time(span.start_time),
        "endTime": _time(span.end_time),
        "input": _json(attributes.get(attr.OBSERVATION_INPUT)),
        "output": _json(attributes.get(attr.OBSERVATION_OUTPUT)),
        "metadata": _prefixed(attributes, attr.OBSERVATION_METADATA_PREFIX) or None,
        "level": attributes.get(attr.OBSERVATION_LEVEL) or ("ERROR" if failed else "DEFAULT"),
        "statusMessage": attributes.get(attr.OBSERVATION_STATUS_MESSAGE)
        or (span.status.description if failed else None),
        "environment": attributes.get(attr.ENVIRONMENT),
        "version": attributes.get(attr.RELEASE),
    }
    if kind == "generation-create":
        body.update(_generation_fields(attributes))
    return _without_none(body)


def _generation_fields(attributes: dict[str, Any]) -> dict[str, Any]:
    usage = _json(attributes.get(attr.USAGE_DETAILS))
    fields: dict[str, Any] = {
        "model": attributes.get(attr.MODEL_NAME),
        "modelParameters": _model_parameters(attributes.get(attr.MODEL_PARAMETERS)),
        "usageDetails": {k: v for k, v in (usage or {}).items() if isinstance(v, int)} or None,
        "costDetails": _json(attributes.get(attr.COST_DETAILS)),
        "completionStartTime": attributes.get(attr.COMPLETION_START_TIME),
    }
    prompt_name = attributes.get(attr.PROMPT_NAME)
    prompt_version = attributes.get(attr.PROMPT_VERSION)
    if isinstance(prompt_name, str) and isinstance(prompt_version, int):
        fields["promptName"] = prompt_name
        fields["promptVersion"] = prompt_version
    if fields["completionStartTime"]:
        fields["completionStartTime"] = iso(datetime.fromisoformat(fields["completionStartTime"]))
    return fields


def _model_parameters(raw: Any) -> dict[str, Any] | None:
    # The spec allows strings, numbers, booleans and string lists as parameter values.
    decoded = _json(raw)
    if not isinstance(decoded, dict):
        return None
    return {
        key: value if isinstance(value, str | int | float | bool) else json.dumps(value)
        for key, value in decoded.items()
        if value is not None
    } or None


def _prefixed(attributes: dict[str, Any], prefix: str) -> dict[str, Any]:
    return {
        key[len(prefix) :]: value for key, value in attributes.items() if key.startswith(prefix)
    }


def _json(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _time(nanoseconds: int | None) -> str | None:
    if nanoseconds is None:
        return None
    return iso(datetime.fromtimestamp(nanoseconds / 1_000_000_000, UTC))


def _trace_id(span: ReadableSpan) -> str:
    assert span.context is not None
    return f"{span.context.trace_id:032x}"


def _span_id(span: ReadableSpan) -> str:
    assert span.context is not None
    return f"{span.context.span_id:016x}"


def _without_none(body: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in body.items() if value is not None}
