"""JSON shape of `GET /api/public/v2/observations`, built from stored records.

Unlike v1, the v2 route returns input and output as the stored raw strings, metadata values
as strings cut at 200 characters unless listed in `expandMetadata`, and prices as strings.
Rows written by the direct OTLP path carry their own trace context (user, session, tags).
Rows that dual mode copied from the legacy tables take it from their trace.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from mailsift.testing.langfuse.records import ObservationRecord, TraceContext, TraceRecord
from mailsift.testing.langfuse.timestamps import format_iso
from mailsift.testing.langfuse.views import as_text, iso_or_none, seconds_between

V2_FIELD_GROUPS = (
    "core",
    "basic",
    "time",
    "io",
    "metadata",
    "model",
    "usage",
    "prompt",
    "metrics",
    "trace_context",
)
_V2_METADATA_TRUNCATE_CHARS = 200


def metadata_v2(metadata: dict[str, Any], expand: Collection[str]) -> dict[str, str]:
    rendered: dict[str, str] = {}
    for key, value in metadata.items():
        text = as_text(value)
        rendered[key] = text if key in expand else text[:_V2_METADATA_TRUNCATE_CHARS]
    return rendered


def observation_v2(
    row: ObservationRecord,
    project_id: str,
    groups: Collection[str],
    expand_metadata: Collection[str],
    trace_lookup: Callable[[str], TraceRecord | None],
) -> dict[str, Any]:
    """ObservationV2 with only the requested field groups (core is always included)."""
    context = row.trace_context or _context_from_trace(trace_lookup(row.trace_id))
    view: dict[str, Any] = {
        "id": row.id,
        "traceId": row.trace_id,
        "startTime": format_iso(row.start_time),
        "endTime": iso_or_none(row.end_time),
        "projectId": project_id,
        "parentObservationId": row.parent_observation_id,
        "type": row.type,
    }

    if "basic" in groups:
        view.update(
            name=row.name,
            level=row.level,
            statusMessage=row.status_message,
            version=row.version,
            environment=row.environment,
            bookmarked=False,
            public=context.public,
            userId=context.user_id,
            sessionId=context.session_id,
            isRootObservation=row.parent_observation_id is None or context.is_app_root,
        )

    if "time" in groups:
        view.update(
            completionStartTime=iso_or_none(row.completion_start_time),
            createdAt=format_iso(row.created_at),
            updatedAt=format_iso(row.updated_at),
        )

    if "io" in groups:
        view.update(input=row.input, output=row.output)

    if "metadata" in groups:
        view["metadata"] = metadata_v2(row.metadata, expand_metadata)

    if "model" in groups:
        view.update(
            providedModelName=row.model,
            internalModelId=None,
            modelParameters=row.model_parameters,
            modelId=None,
            inputPrice=None,
            outputPrice=None,
            totalPrice=None,
        )

    if "usage" in groups:
        view.update(
            usageDetails=dict(row.usage_details),
            costDetails=dict(row.cost_details),
            totalCost=row.cost_details.get("total"),
            usagePricingTierName=None,
        )

    if "prompt" in groups:
        view.update(promptId=None, promptName=row.prompt_name, promptVersion=row.prompt_version)

    if "metrics" in groups:
        view.update(
            latency=seconds_between(row.start_time, row.end_time),
            timeToFirstToken=seconds_between(row.start_time, row.completion_start_time),
        )

    if "trace_context" in groups:
        view.update(tags=list(context.tags), release=context.release, traceName=context.name)

    return view


def _context_from_trace(trace: TraceRecord | None) -> TraceContext:
    # Rows that dual mode copied from the legacy tables take their trace fields from the trace.
    if trace is None:
        return TraceContext()
    return TraceContext(
        name=trace.name,
        user_id=trace.user_id,
        session_id=trace.session_id,
        tags=list(trace.tags),
        release=trace.release,
        public=trace.public,
    )
