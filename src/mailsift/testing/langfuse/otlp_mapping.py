"""Mapping of one OTLP span to a Langfuse observation, plus its trace-level record.

Every span becomes one observation. The attribute lists and their order follow the
server's `OtelIngestionProcessor` and `ObservationTypeMapper` as of v4.16.0; the trace
side lives in `otlp_trace`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mailsift.testing.langfuse.otlp import SpanItem
from mailsift.testing.langfuse.otlp_attributes import (
    convert_attributes,
    extract_cost_details,
    extract_input_output,
    extract_model_parameters,
    extract_usage_details,
    is_io_key,
    parse_json_text,
)
from mailsift.testing.langfuse.otlp_trace import (
    TraceKind,
    first_of,
    json_object,
    prefixed_metadata,
    trace_record,
)
from mailsift.testing.langfuse.records import TraceContext, js_json
from mailsift.testing.langfuse.timestamps import datetime_from_unix_nano, parse_strict_datetime
from mailsift.testing.langfuse.usage import normalise_environment

OBSERVATION_TYPE_NAMES = (
    "span",
    "generation",
    "event",
    "embedding",
    "agent",
    "tool",
    "chain",
    "retriever",
    "guardrail",
    "evaluator",
)
_OPENINFERENCE_KINDS = {
    "LLM": "GENERATION",
    "CHAIN": "CHAIN",
    "RETRIEVER": "RETRIEVER",
    "EMBEDDING": "EMBEDDING",
    "AGENT": "AGENT",
    "TOOL": "TOOL",
    "GUARDRAIL": "GUARDRAIL",
    "EVALUATOR": "EVALUATOR",
}
_GEN_AI_OPERATIONS = {
    "chat": "GENERATION",
    "completion": "GENERATION",
    "text_completion": "GENERATION",
    "generate_content": "GENERATION",
    "generate": "GENERATION",
    "embeddings": "EMBEDDING",
    "invoke_agent": "AGENT",
    "create_agent": "AGENT",
    "execute_tool": "TOOL",
}
# Any of these keys makes a span a GENERATION, a plain `model` attribute included.
_MODEL_TYPE_KEYS = (
    "langfuse.observation.model.name",
    "gen_ai.request.model",
    "gen_ai.response.model",
    "llm.model_name",
    "model",
)
_MODEL_NAME_KEYS = (
    "langfuse.observation.model.name",
    "gen_ai.response.model",
    "ai.model.id",
    "gen_ai.request.model",
    "llm.response.model",
    "llm.model_name",
    "model",
)
_LEVEL_ALIASES = {
    "DEBUG": "DEBUG",
    "DEFAULT": "DEFAULT",
    "WARNING": "WARNING",
    "ERROR": "ERROR",
    "INFO": "DEFAULT",
    "LOG": "DEFAULT",
    "NOTICE": "DEFAULT",
    "OK": "DEFAULT",
    "SUCCESS": "DEFAULT",
    "WARN": "WARNING",
    "FATAL": "ERROR",
    "CRITICAL": "ERROR",
    "TRACE": "DEBUG",
    "VERBOSE": "DEBUG",
}
_ENVIRONMENT_KEYS = (
    "langfuse.environment",
    "deployment.environment.name",
    "deployment.environment",
)
_STATUS_CODE_ERROR = (2, "STATUS_CODE_ERROR")
# Assumed tracer name of the Langfuse SDKs, whose spans get no `attributes` metadata copy.
_LANGFUSE_SDK_SCOPE_PREFIX = "langfuse-sdk"


@dataclass(frozen=True)
class MappedSpan:
    """A span converted to the bodies that the store merges or writes."""

    span_id: str
    trace_id: str
    start_time: datetime
    observation_type: str
    observation_body: dict[str, Any]
    trace_kind: TraceKind
    trace_body: dict[str, Any]
    trace_context: TraceContext
    # Reason the legacy write path's re-validation would drop this span silently, or None.
    legacy_drop_reason: str | None


def map_span(item: SpanItem, now: datetime) -> MappedSpan:
    """Convert one span that passed `validate_export`."""
    span = item.span
    attributes = convert_attributes(span.get("attributes"))
    resource = convert_attributes(item.resource_attributes)
    events = [
        (str(event.get("name", "")), convert_attributes(event.get("attributes")))
        for event in span.get("events") or []
        if isinstance(event, dict)
    ]
    start, end = _span_times(span, now)
    parent_id = span.get("parentSpanId") or None
    is_root = parent_id is None or attributes.get("langfuse.internal.as_root") is True
    observation_type = resolve_observation_type(attributes)

    found_input, found_output = extract_input_output(attributes, events)
    metadata = _observation_metadata(attributes, resource, item.scope)
    environment = normalise_environment(first_of(_ENVIRONMENT_KEYS, attributes, resource))
    version = attributes.get("langfuse.version", resource.get("service.version"))
    release = attributes.get("langfuse.release", resource.get("langfuse.release"))
    status = span.get("status") or {}
    status_message = attributes.get("langfuse.observation.status_message", status.get("message"))
    name = attributes.get("gen_ai.tool.name") or attributes.get("logfire.msg") or span.get("name")
    problems: list[str] = []

    body: dict[str, Any] = {
        "id": span["spanId"],
        "traceId": span["traceId"],
        "parentObservationId": parent_id,
        "name": name,
        "startTime": start,
        "endTime": end,
        "model": first_of(_MODEL_NAME_KEYS, attributes),
        "modelParameters": extract_model_parameters(attributes),
        "usageDetails": extract_usage_details(attributes) or None,
        "costDetails": extract_cost_details(attributes) or None,
        "input": found_input,
        "output": found_output,
        "metadata": metadata,
        "level": _level(attributes, status),
        "statusMessage": status_message,
        "version": version,
        "environment": environment,
        "completionStartTime": _completion_start(attributes, problems),
    }
    if observation_type == "GENERATION":
        body.update(_prompt_fields(attributes, problems))
    if version is not None and not isinstance(version, str):
        problems.append("langfuse.version is not a string")
    if status_message is not None and not isinstance(status_message, str):
        problems.append("status message is not a string")
    body = {key: value for key, value in body.items() if value is not None}

    trace_kind, trace_body = trace_record(
        span, attributes, resource, is_root, body, metadata, environment, release, version
    )
    context = TraceContext(
        name=trace_body.get("name") if is_root else attributes.get("langfuse.trace.name"),
        user_id=trace_body.get("userId"),
        session_id=trace_body.get("sessionId"),
        tags=list(trace_body.get("tags") or []),
        release=release if isinstance(release, str) else None,
        public=bool(trace_body.get("public")),
        is_app_root=attributes.get("langfuse.internal.is_app_root") is True,
    )
    return MappedSpan(
        span_id=span["spanId"],
        trace_id=span["traceId"],
        start_time=start,
        observation_type=observation_type,
        observation_body=body,
        trace_kind=trace_kind,
        trace_body=trace_body,
        trace_context=context,
        legacy_drop_reason="; ".join(problems) or None,
    )


def resolve_observation_type(attributes: Mapping[str, Any]) -> str:
    """Pick the observation type by the server's rules, in priority order; SPAN by default."""
    # Limit: the rules for Langfuse Python SDK <= 3.3, Genkit, the Vercel AI SDK, Flue and
    # LiveKit are not reproduced.
    declared = attributes.get("langfuse.observation.type")
    if declared in OBSERVATION_TYPE_NAMES:
        # Only lower-case values count; "GENERATION" falls through to the next rules.
        return str(declared).upper()
    kind = attributes.get("openinference.span.kind")
    if isinstance(kind, str) and kind in _OPENINFERENCE_KINDS:
        return _OPENINFERENCE_KINDS[kind]
    operation = attributes.get("gen_ai.operation.name")
    if isinstance(operation, str) and operation in _GEN_AI_OPERATIONS:
        return _GEN_AI_OPERATIONS[operation]
    if "gen_ai.tool.name" in attributes or "gen_ai.tool.call.id" in attributes:
        return "TOOL"
    if any(key in attributes for key in _MODEL_TYPE_KEYS):
        return "GENERATION"
    return "SPAN"


def _span_times(span: Mapping[str, Any], now: datetime) -> tuple[datetime, datetime]:
    start = datetime_from_unix_nano(span.get("startTimeUnixNano"))
    end = datetime_from_unix_nano(span.get("endTimeUnixNano"))
    start = start or end or now
    return start, end or start


def _level(attributes: Mapping[str, Any], status: Mapping[str, Any]) -> str:
    declared = attributes.get("langfuse.observation.level")
    if isinstance(declared, str) and declared.strip().upper() in _LEVEL_ALIASES:
        return _LEVEL_ALIASES[declared.strip().upper()]
    return "ERROR" if status.get("code") in _STATUS_CODE_ERROR else "DEFAULT"


def _completion_start(attributes: Mapping[str, Any], problems: list[str]) -> datetime | None:
    raw = attributes.get("langfuse.observation.completion_start_time")
    if not isinstance(raw, str):
        return None
    if raw.startswith('"'):
        raw = parse_json_text(raw)[1] or ""
    parsed = parse_strict_datetime(str(raw))
    if parsed is None:
        problems.append("completion_start_time is not a strict ISO datetime")
    return parsed


def _prompt_fields(attributes: Mapping[str, Any], problems: list[str]) -> dict[str, Any]:
    name = attributes.get(
        "langfuse.observation.prompt.name", attributes.get("langfuse.prompt.name")
    )
    version = attributes.get(
        "langfuse.observation.prompt.version", attributes.get("langfuse.prompt.version")
    )
    if (name is None) != (version is None):
        problems.append("prompt name and prompt version must be given together")
    if version is not None and not isinstance(version, int):
        problems.append("prompt version is not an integer")
        version = None
    return {"promptName": name, "promptVersion": version}


def _observation_metadata(
    attributes: Mapping[str, Any], resource: Mapping[str, Any], scope: Mapping[str, Any]
) -> dict[str, Any]:
    metadata = prefixed_metadata(resource, "langfuse.trace.metadata", "langfuse.trace.metadata.")
    metadata.update(json_object(attributes.get("langfuse.metadata")))
    metadata.update(
        prefixed_metadata(
            attributes, "langfuse.observation.metadata", "langfuse.observation.metadata."
        )
    )
    metadata.update(
        {
            key.removeprefix("ai.telemetry.metadata."): value
            for key, value in attributes.items()
            if key.startswith("ai.telemetry.metadata.")
        }
    )

    scope_name = str(scope.get("name", ""))
    if not scope_name.startswith(_LANGFUSE_SDK_SCOPE_PREFIX):
        metadata["attributes"] = {
            key: value if isinstance(value, str) else js_json(value)
            for key, value in attributes.items()
            if not is_io_key(key)
        }
    metadata["resourceAttributes"] = dict(resource)
    metadata["scope"] = {
        "name": scope_name,
        "version": scope.get("version"),
        "attributes": convert_attributes(scope.get("attributes")),
    }
    return metadata
