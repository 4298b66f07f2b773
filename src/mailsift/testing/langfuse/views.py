"""JSON shapes of the v1 read routes, built from stored records.

The v1 routes (`/api/public/traces*`, `/api/public/observations`) JSON-decode input,
output and every metadata value when they parse, so the input string "42" reads back as
the number 42. Costs are only those the client sent, because the double has no model
price table.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from typing import Any

from mailsift.testing.langfuse.records import (
    ObservationRecord,
    ScoreRecord,
    TraceRecord,
    js_json,
)
from mailsift.testing.langfuse.timestamps import format_iso


def decode_stored(text: str | None) -> Any:
    """Decode stored JSON text for the v1 API; text that is not JSON stays a string."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def as_text(value: Any) -> str:
    return value if isinstance(value, str) else js_json(value)


def metadata_v1(metadata: dict[str, Any]) -> dict[str, Any]:
    # The server stores each value as a string and decodes it again on the v1 read.
    return {key: decode_stored(as_text(value)) for key, value in metadata.items()}


def seconds_between(start: Any, end: Any) -> float | None:
    if start is None or end is None:
        return None
    return float((end - start).total_seconds())


def observation_v1(row: ObservationRecord, project_id: str) -> dict[str, Any]:
    """ObservationsView, the observation shape of the v1 routes."""
    usage = row.usage_details
    costs = row.cost_details
    unit = row.usage_unit or ("TOKENS" if usage else None)
    return {
        "id": row.id,
        "projectId": project_id,
        "traceId": row.trace_id,
        "type": row.type,
        "name": row.name,
        "startTime": format_iso(row.start_time),
        "endTime": format_iso(row.end_time) if row.end_time else None,
        "completionStartTime": iso_or_none(row.completion_start_time),
        "model": row.model,
        "modelParameters": row.model_parameters or {},
        "input": decode_stored(row.input),
        "output": decode_stored(row.output),
        "version": row.version,
        "metadata": metadata_v1(row.metadata),
        "usage": {
            "input": usage.get("input", 0),
            "output": usage.get("output", 0),
            "total": usage.get("total", 0),
            "unit": unit,
        },
        "level": row.level,
        "statusMessage": row.status_message,
        "parentObservationId": row.parent_observation_id,
        "promptId": None,
        "promptName": row.prompt_name,
        "promptVersion": row.prompt_version,
        "usageDetails": dict(usage),
        "costDetails": dict(costs),
        "environment": row.environment,
        "modelId": None,
        "inputPrice": None,
        "outputPrice": None,
        "totalPrice": None,
        "calculatedInputCost": costs.get("input"),
        "calculatedOutputCost": costs.get("output"),
        "calculatedTotalCost": costs.get("total"),
        "latency": seconds_between(row.start_time, row.end_time),
        "timeToFirstToken": seconds_between(row.start_time, row.completion_start_time),
        "unit": unit,
        "promptTokens": usage.get("input", 0),
        "completionTokens": usage.get("output", 0),
        "totalTokens": usage.get("total", 0),
        "createdAt": format_iso(row.created_at),
        "updatedAt": format_iso(row.updated_at),
    }


def iso_or_none(moment: Any) -> str | None:
    return format_iso(moment) if moment is not None else None


def _trace_core(trace: TraceRecord, project_id: str) -> dict[str, Any]:
    return {
        "id": trace.id,
        "timestamp": format_iso(trace.timestamp),
        "name": trace.name,
        "input": decode_stored(trace.input),
        "output": decode_stored(trace.output),
        "sessionId": trace.session_id,
        "release": trace.release,
        "version": trace.version,
        "userId": trace.user_id,
        "metadata": metadata_v1(trace.metadata),
        "tags": list(trace.tags),
        "public": trace.public,
        "environment": trace.environment,
        "externalId": None,
        "htmlPath": f"/project/{project_id}/traces/{trace.id}",
        "createdAt": format_iso(trace.created_at),
        "updatedAt": format_iso(trace.updated_at),
        "projectId": project_id,
    }


def _trace_metrics(observations: list[ObservationRecord]) -> tuple[float, float]:
    if not observations:
        return 0.0, 0.0
    start = min(row.start_time for row in observations)
    end = max(row.end_time or row.start_time for row in observations)
    total_cost = sum(row.cost_details.get("total", 0.0) for row in observations)
    return float((end - start).total_seconds()), float(total_cost)


def trace_full(
    trace: TraceRecord,
    observations: list[ObservationRecord],
    scores: list[ScoreRecord],
    project_id: str,
    groups: Collection[str],
) -> dict[str, Any]:
    """TraceWithFullDetails with the `fields` groups: core, io, scores, observations, metrics."""
    view = _trace_core(trace, project_id)
    if "io" not in groups:
        view.update(input=None, output=None, metadata=None)
    view["observations"] = (
        [observation_v1(row, project_id) for row in observations]
        if "observations" in groups
        else []
    )
    view["scores"] = [score_v1(score) for score in scores] if "scores" in groups else []
    latency, total_cost = _trace_metrics(observations) if "metrics" in groups else (-1.0, -1.0)
    view["latency"] = latency
    view["totalCost"] = total_cost
    return view


def trace_summary(
    trace: TraceRecord,
    observations: list[ObservationRecord],
    scores: list[ScoreRecord],
    project_id: str,
) -> dict[str, Any]:
    """TraceWithDetails, the item shape of `GET /api/public/traces`."""
    view = _trace_core(trace, project_id)
    latency, total_cost = _trace_metrics(observations)
    view.update(
        observations=[row.id for row in observations],
        scores=[score.id for score in scores],
        latency=latency,
        totalCost=total_cost,
    )
    return view


def score_v1(score: ScoreRecord) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": score.id,
        "traceId": score.trace_id,
        "sessionId": score.session_id,
        "datasetRunId": score.dataset_run_id,
        "observationId": score.observation_id,
        "name": score.name,
        "source": score.source,
        "timestamp": format_iso(score.timestamp),
        "createdAt": format_iso(score.created_at),
        "updatedAt": format_iso(score.created_at),
        "authorUserId": None,
        "comment": score.comment,
        "metadata": metadata_v1(score.metadata),
        "configId": score.config_id,
        "queueId": score.queue_id,
        "environment": score.environment,
        "dataType": score.data_type
        or ("NUMERIC" if not isinstance(score.value, str) else "CATEGORICAL"),
        "value": score.value if not isinstance(score.value, str) else None,
    }
    if isinstance(score.value, str):
        view["stringValue"] = score.value
    return view


def page_meta(page: int, limit: int, total: int) -> dict[str, int]:
    return {
        "page": page,
        "limit": limit,
        "totalItems": total,
        "totalPages": (total + limit - 1) // limit if limit else 0,
    }
