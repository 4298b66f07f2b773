"""Handlers of the read routes: v1 traces and observations, v2 observations, health.

Availability follows the write mode. In `events_only` the v1 routes return 404 before
authentication, with a message that differs from the "not found" 404, so a client must
tell the two apart by body. The v2 observations route exists in the v4 modes, and in
`legacy` only with the preview opt-in.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from mailsift.testing.langfuse import auth, views, views_v2
from mailsift.testing.langfuse.config import WriteMode
from mailsift.testing.langfuse.records import ObservationRecord
from mailsift.testing.langfuse.state import DoubleState
from mailsift.testing.langfuse.timestamps import parse_strict_datetime

EVENTS_ONLY_READ_MESSAGE = (
    "This endpoint is not available on deployments running in Langfuse v4 events_only mode. "
    "Learn more about Langfuse v4 at: https://langfuse.com/docs/v4"
)
# The first sentence is the server's; the advice after it is worded here.
V2_UNAVAILABLE_MESSAGE = (
    "The observations v2 API is only available in a Langfuse v4 write mode. Set "
    "LANGFUSE_MIGRATION_V4_WRITE_MODE to dual or events_only, or enable "
    "LANGFUSE_MIGRATION_V4_ALLOW_PREVIEW_OPT_IN."
)
_V1_TRACE_GROUPS = ("core", "io", "scores", "observations", "metrics")
_MAX_V2_LIMIT = 1000
_RECENT_WINDOW = timedelta(minutes=3)


def _guard_read(request: Request, state: DoubleState, *, v1: bool) -> Response | None:
    """Return the error reply for an unavailable route or bad credentials, else None.

    The server source (v4.16.0) shows the events_only 404 on the trace-by-id and v1
    observations routes. The trace list is assumed to behave the same.
    """
    if v1 and state.config.mode is WriteMode.EVENTS_ONLY:
        return JSONResponse({"message": EVENTS_ONLY_READ_MESSAGE}, 404)
    if not v1 and not state.config.v2_observations_enabled:
        return JSONResponse(
            {"message": V2_UNAVAILABLE_MESSAGE, "error": "LangfuseNotFoundError"}, 404
        )
    if request.method != "GET":
        return JSONResponse(
            {"error": "MethodNotAllowedError", "message": "Method not allowed"}, 405
        )

    result = auth.authenticate(request.headers.get("authorization"), state.config)
    if result.access is None:
        return JSONResponse({"error": "UnauthorizedError", "message": result.failure}, 401)
    if result.access is auth.Access.ORGANIZATION:
        return JSONResponse({"error": "UnauthorizedError", "message": auth.ORGANIZATION_KEY}, 401)
    if result.access is auth.Access.SCORES:
        # Limit: the reply to Bearer keys on read routes is assumed; it copies the OTLP route.
        return JSONResponse({"message": auth.INSUFFICIENT_PERMISSIONS}, 403)
    return None


def _bad_request(message: str) -> JSONResponse:
    return JSONResponse({"message": message, "error": "InvalidRequestError"}, 400)


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        return None
    return int(raw)


async def get_trace(request: Request, state: DoubleState) -> Response:
    denied = _guard_read(request, state, v1=True)
    if denied is not None:
        return denied

    trace_id = request.path_params["trace_id"]
    trace = state.store.get_trace(trace_id)
    if trace is None:
        message = f"Trace {trace_id} not found within authorized project"
        return JSONResponse({"message": message, "error": "LangfuseNotFoundError"}, 404)
    fields = request.query_params.get("fields")
    groups = {"core", *fields.split(",")} if fields else set(_V1_TRACE_GROUPS)
    observations = state.store.observations(trace_id)
    scores = state.store.scores(trace_id)
    return JSONResponse(
        views.trace_full(trace, observations, scores, state.config.project_id, groups)
    )


async def list_traces(request: Request, state: DoubleState) -> Response:
    # Limit: the `filter` JSON, `orderBy`, `fields` and timestamp-range parameters are
    # ignored; the list is always newest first.
    denied = _guard_read(request, state, v1=True)
    if denied is not None:
        return denied
    page = _int_param(request, "page", 1, 1, 10**9)
    limit = _int_param(request, "limit", 50, 1, 100)
    if page is None or limit is None:
        return _bad_request("page must be >= 1 and limit between 1 and 100")

    params = request.query_params
    wanted_tags = set(params.getlist("tags"))
    traces = [
        trace
        for trace in state.store.traces()
        if params.get("userId") in (None, trace.user_id)
        and params.get("sessionId") in (None, trace.session_id)
        and params.get("name") in (None, trace.name)
        and params.get("release") in (None, trace.release)
        and params.get("version") in (None, trace.version)
        and wanted_tags <= set(trace.tags)
        and (
            not params.getlist("environment") or trace.environment in params.getlist("environment")
        )
    ]
    chosen = traces[(page - 1) * limit : page * limit]
    data = [
        views.trace_summary(
            trace,
            state.store.observations(trace.id),
            state.store.scores(trace.id),
            state.config.project_id,
        )
        for trace in chosen
    ]
    return JSONResponse({"data": data, "meta": views.page_meta(page, limit, len(traces))})


def _observation_filter(request: Request) -> Callable[[ObservationRecord], bool] | None:
    """Build the filter of the common query parameters, or None if a time is invalid."""
    params = request.query_params
    times: dict[str, datetime | None] = {}
    for key in ("fromStartTime", "toStartTime"):
        raw = params.get(key)
        times[key] = parse_strict_datetime(raw) if raw else None
        if raw and times[key] is None:
            return None
    environments = params.getlist("environment")

    def keep(row: ObservationRecord) -> bool:
        checks = (
            ("traceId", row.trace_id),
            ("name", row.name),
            ("type", row.type),
            ("level", row.level),
            ("parentObservationId", row.parent_observation_id),
            ("version", row.version),
        )
        if any(params.get(key) not in (None, value) for key, value in checks):
            return False
        if environments and row.environment not in environments:
            return False
        start, end = times["fromStartTime"], times["toStartTime"]
        return (start is None or row.start_time >= start) and (end is None or row.start_time < end)

    return keep


async def list_observations_v1(request: Request, state: DoubleState) -> Response:
    denied = _guard_read(request, state, v1=True)
    if denied is not None:
        return denied
    page = _int_param(request, "page", 1, 1, 10**9)
    limit = _int_param(request, "limit", 50, 1, 100)
    keep = _observation_filter(request)
    if page is None or limit is None or keep is None:
        return _bad_request("Invalid page, limit, fromStartTime or toStartTime")

    user_id = request.query_params.get("userId")
    rows = [row for row in state.store.observations() if keep(row)]
    if user_id is not None:
        rows = [row for row in rows if _trace_user(state, row.trace_id) == user_id]
    chosen = rows[(page - 1) * limit : page * limit]
    data = [views.observation_v1(row, state.config.project_id) for row in chosen]
    return JSONResponse({"data": data, "meta": views.page_meta(page, limit, len(rows))})


def _trace_user(state: DoubleState, trace_id: str) -> str | None:
    trace = state.store.get_trace(trace_id)
    return trace.user_id if trace is not None else None


async def list_observations_v2(request: Request, state: DoubleState) -> Response:
    # Limit: the structured `filter` JSON parameter is ignored here and on the v1 route.
    denied = _guard_read(request, state, v1=False)
    if denied is not None:
        return denied
    params = request.query_params
    if params.get("parseIoAsJson", "").lower() == "true":
        return _bad_request(
            "parseIoAsJson is no longer supported; input and output are raw strings"
        )
    limit = _int_param(request, "limit", 50, 1, _MAX_V2_LIMIT)
    offset = _decode_cursor(params.get("cursor"))
    keep = _observation_filter(request)
    if limit is None or offset is None or keep is None:
        return _bad_request("Invalid limit, cursor, fromStartTime or toStartTime")

    groups = {"core", *(params.get("fields") or "basic").split(",")}
    unknown_groups = groups - set(views_v2.V2_FIELD_GROUPS)
    if unknown_groups:
        return _bad_request(f"Invalid field groups: {', '.join(sorted(unknown_groups))}")
    expand = set((params.get("expandMetadata") or "").split(",")) - {""}
    lookup = state.store.get_trace
    rendered = [
        views_v2.observation_v2(
            row, state.config.project_id, groups | {"basic", "trace_context"}, expand, lookup
        )
        for row in state.store.event_rows()
        if keep(row)
    ]
    matching = [view for view in rendered if _matches_v2(view, request)]
    page = matching[offset : offset + limit]
    data = [{key: value for key, value in view.items() if _in_groups(key, groups)} for view in page]
    meta: dict[str, Any] = {}
    if offset + limit < len(matching):
        meta["cursor"] = base64.b64encode(json.dumps({"offset": offset + limit}).encode()).decode()
    return JSONResponse({"data": data, "meta": meta})


def _matches_v2(view: dict[str, Any], request: Request) -> bool:
    params = request.query_params
    for key in ("userId", "sessionId"):
        if params.get(key) not in (None, view.get(key)):
            return False
    root = params.get("isRootObservation")
    return root is None or (root.lower() == "true") == bool(view.get("isRootObservation"))


def _in_groups(key: str, groups: set[str]) -> bool:
    # Rendering always includes basic and trace_context for filtering; drop them here
    # unless they were requested.
    basic = {
        "name",
        "level",
        "statusMessage",
        "version",
        "environment",
        "bookmarked",
        "public",
        "userId",
        "sessionId",
        "isRootObservation",
    }
    trace_context = {"tags", "release", "traceName"}
    if key in basic:
        return "basic" in groups
    if key in trace_context:
        return "trace_context" in groups
    return True


def _decode_cursor(cursor: str | None) -> int | None:
    if not cursor:
        return 0
    try:
        offset = json.loads(base64.b64decode(cursor))["offset"]
    except (ValueError, KeyError, TypeError):
        return None
    return offset if isinstance(offset, int) and offset >= 0 else None


async def health(request: Request, state: DoubleState) -> Response:
    """`/api/public/health` and `/api/public/ready`: no auth and no method check."""
    version = state.config.server_version
    if request.query_params.get("failIfNoRecentEvents", "").lower() == "true":
        failure = _recent_data_failure(state)
        if failure is not None:
            return JSONResponse({"status": failure, "version": version}, 503)
    return JSONResponse({"status": "OK", "version": version})


def _recent_data_failure(state: DoubleState) -> str | None:
    state.store.process_due()
    cutoff = state.wall_clock() - _RECENT_WINDOW
    if state.config.mode is WriteMode.EVENTS_ONLY:
        last = state.store.last_events_write
        return None if last and last >= cutoff else "No events within the last 3 minutes"
    if not any(trace.created_at >= cutoff for trace in state.store.traces()):
        return "No traces within the last 3 minutes"
    if not any(row.created_at >= cutoff for row in state.store.observations()):
        return "No observations within the last 3 minutes"
    return None
