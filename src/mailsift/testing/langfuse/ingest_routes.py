"""Handlers of the two write routes: legacy batch ingestion and OTLP traces.

Each handler receives the body, already read, and the event-rejection fault that applies
to this request, if any. Replies copy the server's status codes and body shapes, which differ by
route and layer: `{error, message}` on the batch route, `{message}` for OTLP auth,
`{error}` for OTLP transport problems, plain text for 413 and malformed JSON.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from mailsift.testing.langfuse import auth
from mailsift.testing.langfuse.config import OTLP_TRACES_PATH, WriteMode
from mailsift.testing.langfuse.faults import RejectEvents
from mailsift.testing.langfuse.journal import EventOutcome
from mailsift.testing.langfuse.legacy import EVENT_TYPE_NOT_ACCEPTED, process_batch
from mailsift.testing.langfuse.otlp import OtlpRequestError, decode_export, validate_export
from mailsift.testing.langfuse.otlp_mapping import MappedSpan, map_span
from mailsift.testing.langfuse.partial_success import partial_success_response
from mailsift.testing.langfuse.schema import MISSING, describe_type
from mailsift.testing.langfuse.state import DoubleState

logger = logging.getLogger(__name__)

_METHOD_NOT_ALLOWED = {"error": "MethodNotAllowedError", "message": "Method not allowed"}
MAX_INGESTION_VERSION = 4


def format_size_limit(limit_bytes: int) -> str:
    """Write a byte limit as the `bytes` package does in Next.js's 413 text ("4.5mb")."""
    for unit, size in (("gb", 1024**3), ("mb", 1024**2), ("kb", 1024)):
        if limit_bytes >= size:
            return f"{round(limit_bytes / size, 2):g}{unit}"
    return f"{limit_bytes}b"


async def ingestion(
    request: Request,
    body: bytes,
    too_large: bool,
    state: DoubleState,
    rejection: RejectEvents | None,
) -> Response:
    """`POST /api/public/ingestion`, in the server's order of checks."""
    # Next.js returns these two before any Langfuse code runs, so before auth.
    if too_large:
        # Limit: Next.js also uses this text as the HTTP reason phrase; ASGI cannot set a
        # reason phrase, so uvicorn sends the standard one.
        text = f"Body exceeded {format_size_limit(state.config.max_body_bytes)} limit"
        return PlainTextResponse(text, status_code=413)

    payload: Any = body.decode("utf-8", errors="replace")
    if "application/json" in request.headers.get("content-type", "").lower():
        try:
            payload = json.loads(body) if body.strip() else {}
        except ValueError:
            return PlainTextResponse("Invalid JSON", status_code=400)

    if request.method != "POST":
        return JSONResponse(_METHOD_NOT_ALLOWED, status_code=405)

    result = auth.authenticate(request.headers.get("authorization"), state.config)
    if result.access is None:
        return JSONResponse({"error": "UnauthorizedError", "message": result.failure}, 401)
    if result.access is auth.Access.ORGANIZATION:
        return JSONResponse({"error": "UnauthorizedError", "message": auth.ORGANIZATION_KEY}, 401)
    if state.ingestion_suspended:
        return JSONResponse({"error": "ForbiddenError", "message": auth.INGESTION_SUSPENDED}, 403)

    envelope_issue = _envelope_issue(payload)
    if envelope_issue is not None:
        return JSONResponse({"message": "Invalid request data", "errors": [envelope_issue]}, 400)

    mode = state.config.mode
    batch_result = process_batch(
        payload["batch"],
        mode=mode,
        scores_only=result.access is auth.Access.SCORES,
        rejection=rejection,
    )
    state.store.submit_batch(
        batch_result.to_store, write_legacy=True, write_events=mode is WriteMode.DUAL
    )
    state.journal.record_outcomes(batch_result.outcomes)

    refused = sum(o.reason == EVENT_TYPE_NOT_ACCEPTED for o in batch_result.outcomes)
    if refused:
        # The real server also logs one warning per request in this case.
        logger.warning("Langfuse double: events_only mode rejected %d batch event(s)", refused)
    return JSONResponse(batch_result.response_body(), status_code=207)


async def otlp_traces(
    request: Request, body: bytes, state: DoubleState, rejection: RejectEvents | None
) -> Response:
    """`POST /api/public/otel/v1/traces`; every reply is JSON, even for protobuf requests."""
    if request.method != "POST":
        return JSONResponse(
            {"message": "Method not allowed", "error": "MethodNotAllowedError"}, 405
        )
    result = auth.authenticate(request.headers.get("authorization"), state.config)
    if result.access is None:
        return JSONResponse({"message": result.failure}, 401)
    if result.access is not auth.Access.PROJECT:
        # Limit: the server words the 403 for a project-less key differently; that text is
        # not known, so both cases get the Bearer-key message.
        return JSONResponse({"message": auth.INSUFFICIENT_PERMISSIONS}, 403)
    if state.ingestion_suspended:
        return JSONResponse({"message": auth.INGESTION_SUSPENDED, "error": "ForbiddenError"}, 403)

    direct = _takes_direct_path(request, state)
    if isinstance(direct, Response):
        return direct

    content_type = request.headers.get("content-type", "")
    try:
        resource_spans = decode_export(
            body, content_type, request.headers.get("content-encoding", "")
        )
        items = validate_export(resource_spans) if resource_spans else []
    except OtlpRequestError as error:
        return JSONResponse({"error": error.error}, 400)
    if not items:
        return JSONResponse({}, 200)

    now = state.wall_clock()
    mapped = [map_span(item, now) for item in items]
    kept, rejected = _split_rejected(mapped, rejection)
    write_legacy, write_events = _target_tables(state.config.mode, direct)
    state.store.submit_spans(kept, write_legacy=write_legacy, write_events=write_events)
    state.journal.record_outcomes(_span_outcomes(kept, rejected, rejection, write_events))

    if rejection is not None:
        return partial_success_response(len(rejected), rejection.error, content_type)
    return JSONResponse(_queue_job(state, request), 200)


def _envelope_issue(payload: Any) -> str | None:
    """Return the zod message for a body that is not `{batch: array, metadata?: JSON}`."""
    if not isinstance(payload, dict):
        return f"Invalid input: expected object, received {describe_type(payload)}"
    batch = payload.get("batch", MISSING)
    if not isinstance(batch, list):
        return f"Invalid input: expected array, received {describe_type(batch)}"
    return None


def _takes_direct_path(request: Request, state: DoubleState) -> bool | Response:
    """Decide the OTLP write path, or return the 400 for an invalid version header."""
    header = request.headers.get("x-langfuse-ingestion-version")
    if header is not None:
        if not header.strip().isdigit() or int(header) > MAX_INGESTION_VERSION:
            message = (
                f'Unsupported x-langfuse-ingestion-version: "{header}". '
                f'Maximum supported: "{MAX_INGESTION_VERSION}".'
            )
            return JSONResponse({"error": message}, 400)
        if int(header) >= MAX_INGESTION_VERSION:
            return True
    if _sdk_is_v4(request):
        return True
    return state.config.otel_direct_by_default


def _sdk_is_v4(request: Request) -> bool:
    # Python SDK >= 4.0.0 and JS SDK >= 5.0.0 get the direct path. The header values
    # "python" and "javascript" are the SDKs' own names for themselves (an assumption).
    name = request.headers.get("x-langfuse-sdk-name") or request.headers.get("x_langfuse_sdk_name")
    version = (
        request.headers.get("x-langfuse-sdk-version")
        or request.headers.get("x_langfuse_sdk_version")
        or ""
    )
    major_text = version.split(".", 1)[0]
    if not major_text.isdigit():
        return False
    needed = {"python": 4, "javascript": 5}.get((name or "").lower())
    return needed is not None and int(major_text) >= needed


def _split_rejected(
    mapped: list[MappedSpan], rejection: RejectEvents | None
) -> tuple[list[MappedSpan], list[MappedSpan]]:
    if rejection is None:
        return mapped, []
    kept: list[MappedSpan] = []
    rejected: list[MappedSpan] = []
    for span in mapped:
        view = {
            "spanId": span.span_id,
            "traceId": span.trace_id,
            "type": span.observation_type,
            "body": span.observation_body,
        }
        (rejected if rejection.matches(span.span_id, view) else kept).append(span)
    return kept, rejected


def _target_tables(mode: WriteMode, direct: bool) -> tuple[bool, bool]:
    """Return (write legacy tables, write events table) for an OTLP export."""
    if mode is WriteMode.EVENTS_ONLY:
        return False, True
    if mode is WriteMode.DUAL:
        # Limit: on the real dual path the events table can lag the legacy tables by about
        # ten minutes. Here both become visible after the same ingestion delay.
        return True, True
    # With the direct path (x-langfuse-ingestion-version: 4) a legacy-mode server writes the
    # spans only to the events table, which its v1 read routes never read.
    return not direct, direct


def _span_outcomes(
    kept: list[MappedSpan],
    rejected: list[MappedSpan],
    rejection: RejectEvents | None,
    write_events: bool,
) -> list[EventOutcome]:
    outcomes: list[EventOutcome] = []
    for span in kept:
        # The legacy path re-validates converted spans and drops failures silently.
        dropped = span.legacy_drop_reason is not None and not write_events
        outcomes.append(
            EventOutcome(
                OTLP_TRACES_PATH,
                span.span_id,
                "otel-span",
                span.span_id,
                200,
                accepted=True,
                stored=not dropped,
                reason=span.legacy_drop_reason,
            )
        )
    reason = rejection.error if rejection is not None else None
    for span in rejected:
        outcomes.append(
            EventOutcome(
                OTLP_TRACES_PATH,
                span.span_id,
                "otel-span",
                span.span_id,
                200,
                accepted=False,
                stored=False,
                reason=reason,
            )
        )
    return outcomes


def _queue_job(state: DoubleState, request: Request) -> dict[str, Any]:
    # The server returns the JSON of its internal queue job; clients must treat it as opaque.
    job_id = str(uuid.uuid4())
    return {
        "id": job_id,
        "name": "OtelIngestionJob",
        "data": {
            "id": job_id,
            "timestamp": state.wall_clock().isoformat(),
            "payload": {
                "fileKey": f"otel/{state.config.project_id}/{job_id}.json",
                "publicKey": request.headers.get("x-langfuse-public-key"),
            },
            "authCheck": {"validKey": True, "scope": {"projectId": state.config.project_id}},
        },
        "opts": {"attempts": 6, "backoff": {"type": "exponential", "delay": 5000}},
        "timestamp": int(time.time() * 1000),
    }
