"""Trace-level records derived from OTLP spans: user, session, tags, name, metadata.

A root span (no parent, or `langfuse.internal.as_root`) yields a full trace record and
fills missing trace fields from its own observation. A child span yields a trace update
only if it carries a trace attribute: any `langfuse.trace.*` key, `user.id`, `session.id`,
the `langfuse_*` metadata keys, Vercel's `ai.telemetry.metadata.*` or `tag.tags`. Every
other span yields a shallow record (id, time, environment) that only creates a missing row.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from mailsift.testing.langfuse.otlp_attributes import parse_json_text
from mailsift.testing.langfuse.records import js_json

TraceKind = Literal["full", "update", "shallow"]

_USER_KEYS = (
    "langfuse.user.id",
    "user.id",
    "langfuse.observation.metadata.langfuse_user_id",
    "langfuse.trace.metadata.langfuse_user_id",
    "ai.telemetry.metadata.userId",
)
_SESSION_KEYS = (
    "langfuse.session.id",
    "session.id",
    "gen_ai.conversation.id",
    "langfuse.observation.metadata.langfuse_session_id",
    "langfuse.trace.metadata.langfuse_session_id",
    "ai.telemetry.metadata.sessionId",
)
_TAG_KEYS = (
    "langfuse.trace.tags",
    "langfuse.tags",
    "langfuse.observation.metadata.langfuse_tags",
    "langfuse.trace.metadata.langfuse_tags",
    "ai.telemetry.metadata.tags",
    "tag.tags",
)
# Keys that make a child span carry a trace update; gen_ai.conversation.id alone does not.
_TRACE_UPDATE_KEYS = frozenset(
    {
        "user.id",
        "session.id",
        "langfuse.user.id",
        "langfuse.session.id",
        "ai.telemetry.metadata.userId",
        "ai.telemetry.metadata.sessionId",
        "ai.telemetry.metadata.tags",
        "tag.tags",
    }
)


def first_of(keys: tuple[str, ...], *sources: Mapping[str, Any]) -> Any:
    """Return the first non-null value of `keys`, trying every source for each key."""
    # For each key, the span attribute is checked before the resource attribute.
    for key in keys:
        for source in sources:
            if source.get(key) is not None:
                return source[key]
    return None


def json_object(value: Any) -> dict[str, Any]:
    parsed_ok, parsed = parse_json_text(value)
    return parsed if parsed_ok and isinstance(parsed, dict) else {}


def prefixed_metadata(attributes: Mapping[str, Any], json_key: str, prefix: str) -> dict[str, Any]:
    metadata = json_object(attributes.get(json_key))
    for key, value in attributes.items():
        if key.startswith(prefix):
            metadata[key.removeprefix(prefix)] = value
    return metadata


def _tags(value: Any) -> list[str] | None:
    if isinstance(value, list):
        return [str(tag) for tag in value]
    if not isinstance(value, str):
        return None
    parsed_ok, parsed = parse_json_text(value)
    if parsed_ok and isinstance(parsed, list):
        return [str(tag) for tag in parsed]
    return [tag.strip() for tag in value.split(",") if tag.strip()]


def trace_record(
    span: Mapping[str, Any],
    attributes: Mapping[str, Any],
    resource: Mapping[str, Any],
    is_root: bool,
    observation: Mapping[str, Any],
    observation_metadata: Mapping[str, Any],
    environment: str,
    release: Any,
    version: Any,
) -> tuple[TraceKind, dict[str, Any]]:
    body: dict[str, Any] = {"id": span["traceId"], "environment": environment}
    user_id = first_of(_USER_KEYS, attributes)
    session_id = first_of(_SESSION_KEYS, attributes)
    tags = _tags(first_of(_TAG_KEYS, attributes))
    public = first_of(("langfuse.trace.public", "langfuse.public"), attributes)
    has_update = any(
        key.startswith(("langfuse.trace.", "langfuse.observation.metadata.langfuse_"))
        or key in _TRACE_UPDATE_KEYS
        for key in attributes
    )
    if not is_root and not has_update:
        return "shallow", body

    trace_metadata = prefixed_metadata(
        resource, "langfuse.trace.metadata", "langfuse.trace.metadata."
    )
    trace_metadata.update(
        prefixed_metadata(attributes, "langfuse.trace.metadata", "langfuse.trace.metadata.")
    )
    fields = {
        "name": attributes.get("langfuse.trace.name"),
        "userId": user_id if user_id is None or isinstance(user_id, str) else js_json(user_id),
        "sessionId": session_id
        if session_id is None or isinstance(session_id, str)
        else js_json(session_id),
        "tags": tags,
        "public": public is True or public == "true",
        "input": attributes.get("langfuse.trace.input"),
        "output": attributes.get("langfuse.trace.output"),
        "metadata": trace_metadata or None,
    }
    if is_root:
        # A root span fills the trace from its own observation where trace keys are absent.
        fields["name"] = fields["name"] or observation.get("name")
        fields["input"] = (
            fields["input"] if fields["input"] is not None else observation.get("input")
        )
        fields["output"] = (
            fields["output"] if fields["output"] is not None else observation.get("output")
        )
        fields["metadata"] = {**trace_metadata, **observation_metadata}
        fields["release"] = release if isinstance(release, str) else None
        fields["version"] = version if isinstance(version, str) else None
    body.update({key: value for key, value in fields.items() if value is not None})
    return ("full" if is_root else "update"), body
