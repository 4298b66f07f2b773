"""Stored traces, observations and scores, and the server's rules for merging updates.

An event for an existing `body.id` is merged field by field, like the worker's
`overwriteObject`:
- an absent field keeps its old value;
- an explicit null overwrites the trace's name, userId, sessionId, release and version and
  the observation's name, level and model, but the observation's statusMessage, version
  and parentObservationId treat null as absent;
- input and output take the latest truthy value, so "", 0 and false can never be set;
- metadata is deep-merged and tags are a sorted union;
- id, trace id, start time, timestamp and environment never change after the first write;
- the observation type is the last writer's.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mailsift.testing.langfuse.usage import combine_usage

_NULLABLE_TRACE_FIELDS = {
    "name": "name",
    "userId": "user_id",
    "sessionId": "session_id",
    "release": "release",
    "version": "version",
}
_NULL_IS_ABSENT_OBSERVATION_FIELDS = {
    "statusMessage": "status_message",
    "version": "version",
    "parentObservationId": "parent_observation_id",
    "endTime": "end_time",
    "completionStartTime": "completion_start_time",
    "promptName": "prompt_name",
    "promptVersion": "prompt_version",
}


@dataclass
class TraceRecord:
    id: str
    timestamp: datetime
    environment: str
    created_at: datetime
    updated_at: datetime
    name: str | None = None
    user_id: str | None = None
    session_id: str | None = None
    release: str | None = None
    version: str | None = None
    # Input and output are kept as the server keeps them: JSON text, or the string itself.
    input: str | None = None
    output: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    public: bool = False


@dataclass
class TraceContext:
    """Trace-level fields that the v4 events table stores on each observation."""

    name: str | None = None
    user_id: str | None = None
    session_id: str | None = None
    tags: list[str] = field(default_factory=list)
    release: str | None = None
    public: bool = False
    is_app_root: bool = False


@dataclass
class ObservationRecord:
    id: str
    trace_id: str
    type: str
    start_time: datetime
    environment: str
    created_at: datetime
    updated_at: datetime
    name: str | None = None
    end_time: datetime | None = None
    completion_start_time: datetime | None = None
    model: str | None = None
    model_parameters: dict[str, Any] | None = None
    input: str | None = None
    output: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    level: str = "DEFAULT"
    status_message: str | None = None
    version: str | None = None
    parent_observation_id: str | None = None
    usage_details: dict[str, int] = field(default_factory=dict)
    cost_details: dict[str, float] = field(default_factory=dict)
    usage_unit: str | None = None
    prompt_name: str | None = None
    prompt_version: int | None = None
    # Set only for rows of the v4 events table written by the direct OTLP path.
    trace_context: TraceContext | None = None


@dataclass
class ScoreRecord:
    id: str
    name: str
    value: float | str
    timestamp: datetime
    environment: str
    created_at: datetime
    data_type: str | None = None
    source: str = "API"
    trace_id: str | None = None
    session_id: str | None = None
    dataset_run_id: str | None = None
    observation_id: str | None = None
    comment: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    config_id: str | None = None
    queue_id: str | None = None


def js_json(value: Any) -> str:
    """Encode like JavaScript's JSON.stringify: no spaces, non-ASCII kept."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def stored_text(value: Any) -> str:
    """Store input or output the server's way: strings as they are, anything else as JSON."""
    return value if isinstance(value, str) else js_json(value)


def is_truthy(value: Any) -> bool:
    """JavaScript truthiness: empty string, 0, false, null and NaN are falsy; [] and {} are not."""
    if value is None or value is False or value == "":
        return False
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value == value and value != 0
    return True


def deep_merge(old: dict[str, Any], new: Any) -> dict[str, Any]:
    """Merge metadata; a non-object value is wrapped as {"metadata": value} first."""
    if new is None:
        return old
    incoming = new if isinstance(new, dict) else {"metadata": new}
    merged = dict(old)
    for key, value in incoming.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def merge_trace(
    current: TraceRecord | None, body: dict[str, Any], event_time: datetime, now: datetime
) -> TraceRecord:
    """Apply one trace-create body to the stored trace, creating it on first write."""
    record = current or TraceRecord(
        id=body["id"],
        timestamp=body.get("timestamp") or event_time,
        environment=body.get("environment", "default"),
        created_at=now,
        updated_at=now,
    )

    for key, attribute in _NULLABLE_TRACE_FIELDS.items():
        if key in body:
            setattr(record, attribute, body[key])
    if is_truthy(body.get("input")):
        record.input = stored_text(body["input"])
    if is_truthy(body.get("output")):
        record.output = stored_text(body["output"])
    record.metadata = deep_merge(record.metadata, body.get("metadata"))
    record.tags = sorted(set(record.tags) | set(body.get("tags") or ()))
    # `public` defaults to false on every event, so an update that omits it resets it.
    record.public = bool(body.get("public") or False)
    record.updated_at = now
    return record


def merge_observation(
    current: ObservationRecord | None,
    body: dict[str, Any],
    observation_type: str,
    event_time: datetime,
    now: datetime,
) -> ObservationRecord:
    """Apply one observation body to the stored observation, creating it on first write."""
    # Without a traceId the worker invents one, so the observation belongs to no trace.
    record = current or ObservationRecord(
        id=body["id"],
        trace_id=body.get("traceId") or str(uuid.uuid4()),
        type=observation_type,
        start_time=body.get("startTime") or event_time,
        environment=body.get("environment", "default"),
        created_at=now,
        updated_at=now,
    )

    record.type = observation_type
    if "name" in body:
        record.name = body["name"]
    if "level" in body:
        record.level = body["level"] or "DEFAULT"
    if "model" in body:
        record.model = body["model"]
    for key, attribute in _NULL_IS_ABSENT_OBSERVATION_FIELDS.items():
        if body.get(key) is not None:
            setattr(record, attribute, body[key])
    if record.end_time is not None and record.end_time < record.start_time:
        record.end_time = record.start_time
    if body.get("modelParameters"):
        record.model_parameters = dict(body["modelParameters"])
    if is_truthy(body.get("input")):
        record.input = stored_text(body["input"])
    if is_truthy(body.get("output")):
        record.output = stored_text(body["output"])
    record.metadata = deep_merge(record.metadata, body.get("metadata"))

    # Limit: the server also prices usage from its model table, and tokenises input and
    # output for known models sent without usage. The double stores only what was sent.
    usage = body.get("usage")
    usage_map, cost_map = combine_usage(usage, body.get("usageDetails"), body.get("costDetails"))
    if usage_map:
        record.usage_details = usage_map
        record.usage_unit = usage.get("unit") if usage else record.usage_unit
    if cost_map:
        record.cost_details = cost_map
    record.updated_at = now
    return record


def merge_score(
    current: ScoreRecord | None, body: dict[str, Any], event_time: datetime, now: datetime
) -> ScoreRecord:
    """Apply one score-create body; ids, timestamp, trace id and environment stay fixed."""
    if current is None:
        current = ScoreRecord(
            id=body["id"],
            name=body["name"],
            value=body["value"],
            timestamp=event_time,
            environment=body.get("environment", "default"),
            created_at=now,
            trace_id=body.get("traceId"),
        )

    current.name = body["name"]
    current.value = body["value"]
    current.data_type = body.get("dataType") or current.data_type
    current.source = body.get("source") or current.source
    current.session_id = body.get("sessionId") or current.session_id
    current.dataset_run_id = body.get("datasetRunId") or current.dataset_run_id
    current.observation_id = body.get("observationId") or current.observation_id
    current.comment = body.get("comment") or current.comment
    current.config_id = body.get("configId") or current.config_id
    current.queue_id = body.get("queueId") or current.queue_id
    current.metadata = deep_merge(current.metadata, body.get("metadata"))
    return current
