"""Per-event handling of `POST /api/public/ingestion`, after transport and auth checks.

The server returns 207 whenever the envelope `{batch: [...], metadata?}` is valid, even if
every event failed, so failures appear only in the body. This module reproduces the
details a client must cope with:
- results are not in request order;
- `sdk-log` events appear in neither list;
- events without a usable id are reported as "unknown";
- in `events_only` mode every trace or observation event is rejected before schema
  validation.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from mailsift.testing.langfuse.config import INGESTION_PATH, WriteMode
from mailsift.testing.langfuse.faults import RejectEvents
from mailsift.testing.langfuse.journal import EventOutcome
from mailsift.testing.langfuse.legacy_bodies import (
    BODY_FIELDS,
    DATASET_RUN_ITEM_TYPE,
    KNOWN_EVENT_TYPES,
    ValidatedEvent,
    validate_body,
)
from mailsift.testing.langfuse.schema import (
    MISSING,
    Issues,
    entity_id,
    required,
    strict_datetime,
)

logger = logging.getLogger(__name__)

INVALID_REQUEST_DATA = "Invalid request data"
EVENT_TYPE_NOT_ACCEPTED = "Event type not accepted"
# Event types that a v4 events_only server still takes on the batch route.
EVENTS_ONLY_ALLOWED_TYPES = frozenset({"score-create", "sdk-log"})
SCORES_ONLY_ALLOWED_TYPES = frozenset({"score-create", "sdk-log"})
# Entities whose body.id is optional in the schema: without it the server replies 201 and
# then never queues the event, so nothing is stored.
_DROPPED_WITHOUT_BODY_ID = frozenset(
    {"trace-create", "score-create", "observation-create", "observation-update"}
)


@dataclass
class BatchResult:
    """The 207 body, the events to store, and one outcome per event for the journal."""

    successes: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    to_store: list[ValidatedEvent] = field(default_factory=list)
    outcomes: list[EventOutcome] = field(default_factory=list)

    def response_body(self) -> dict[str, Any]:
        return {"successes": self.successes, "errors": self.errors}


def events_only_rejection_text(event_type: str) -> str:
    """Return the per-event `error` text of a v4 events_only server.

    The first sentence matches the server. The advice after it is worded here, so clients
    should match on the first sentence only.
    """
    return (
        f'Event type "{event_type}" is not accepted by /api/public/ingestion when '
        "LANGFUSE_MIGRATION_V4_WRITE_MODE is events_only. Send traces and observations with "
        "a Langfuse v4 SDK or to the OpenTelemetry endpoint /api/public/otel/v1/traces, or "
        "set LANGFUSE_MIGRATION_V4_WRITE_MODE=dual as a temporary measure. See "
        "https://langfuse.com/self-hosting/upgrade/upgrade-guides/upgrade-v3-to-v4"
    )


def process_batch(
    batch: list[Any], *, mode: WriteMode, scores_only: bool, rejection: RejectEvents | None
) -> BatchResult:
    """Validate every event of a batch and decide which ones to store."""
    result = BatchResult()
    schema_errors: list[dict[str, Any]] = []
    scope_errors: list[dict[str, Any]] = []
    mode_errors: list[dict[str, Any]] = []
    valid: list[ValidatedEvent] = []

    for raw in batch:
        event_type = raw.get("type") if isinstance(raw, dict) else None
        event_id = _reported_id(raw)

        if mode is WriteMode.EVENTS_ONLY and event_type not in EVENTS_ONLY_ALLOWED_TYPES:
            type_text = event_type if isinstance(event_type, str) else "undefined"
            error = events_only_rejection_text(type_text)
            mode_errors.append(_error(event_id, 400, EVENT_TYPE_NOT_ACCEPTED, error))
            result.outcomes.append(_rejected(event_id, raw, 400, EVENT_TYPE_NOT_ACCEPTED))
            continue

        issues = Issues()
        event = _validate_event(raw, issues)
        if event is None:
            schema_errors.append(
                _error(event_id, 400, INVALID_REQUEST_DATA, issues.to_error_text())
            )
            result.outcomes.append(_rejected(event_id, raw, 400, issues.to_error_text()))
            continue

        if event.event_type == DATASET_RUN_ITEM_TYPE:
            message = "Dataset run item creation is only allowed for internal usage"
            scope_errors.append(_error(event_id, 400, message, message))
            result.outcomes.append(_rejected(event_id, raw, 400, message))
            continue
        if scores_only and event.event_type not in SCORES_ONLY_ALLOWED_TYPES:
            scope_errors.append(
                _error(event_id, 401, "Authentication error", "Access Scope Denied")
            )
            result.outcomes.append(_rejected(event_id, raw, 401, "Access Scope Denied"))
            continue
        if rejection is not None and rejection.matches(event.event_id, raw):
            scope_errors.append(
                _error(event_id, rejection.status, rejection.message, rejection.error)
            )
            result.outcomes.append(_rejected(event_id, raw, rejection.status, rejection.error))
            continue
        valid.append(event)

    result.errors = schema_errors + scope_errors + mode_errors
    _accept(valid, result)
    return result


def _accept(valid: list[ValidatedEvent], result: BatchResult) -> None:
    # The server reports creates before updates, each group ordered by envelope timestamp.
    ordered = sorted(
        valid, key=lambda event: (event.event_type.endswith("-update"), event.timestamp)
    )
    for event in ordered:
        if event.event_type == "sdk-log":
            # Logged server-side only; it appears in neither successes nor errors.
            logger.debug("sdk-log event %s: %s", event.event_id, event.body.get("log"))
            result.outcomes.append(_accepted(event, stored=False, reason="sdk-log is only logged"))
            continue

        result.successes.append({"id": event.event_id, "status": 201})
        if event.entity_id is None and event.event_type in _DROPPED_WITHOUT_BODY_ID:
            reason = "accepted with 201 but discarded: body.id is missing"
            result.outcomes.append(_accepted(event, stored=False, reason=reason))
            continue
        result.to_store.append(event)
        result.outcomes.append(_accepted(event, stored=True))


def _validate_event(raw: Any, issues: Issues) -> ValidatedEvent | None:
    if not isinstance(raw, dict):
        issues.invalid_type((), "object", raw)
        return None

    event_id = required(entity_id())(raw.get("id", MISSING), ("id",), issues)
    timestamp = required(strict_datetime())(raw.get("timestamp", MISSING), ("timestamp",), issues)
    event_type = raw.get("type", MISSING)
    if event_type not in KNOWN_EVENT_TYPES:
        issues.add(("type",), "invalid_union", "Invalid input", note="No matching discriminator")
        return None

    body: dict[str, Any] = {}
    if event_type in BODY_FIELDS:
        body = validate_body(event_type, raw.get("body", MISSING), issues)
    elif not isinstance(raw.get("body"), dict):
        issues.invalid_type(("body",), "object", raw.get("body", MISSING))
    if issues:
        return None
    return ValidatedEvent(event_id=event_id, event_type=event_type, timestamp=timestamp, body=body)


def _reported_id(raw: Any) -> str:
    if isinstance(raw, dict) and isinstance(raw.get("id"), str):
        return str(raw["id"])
    return "unknown"


def _error(event_id: str, status: int, message: str, error: str) -> dict[str, Any]:
    return {"id": event_id, "status": status, "message": message, "error": error}


def _rejected(event_id: str, raw: Any, status: int, reason: str) -> EventOutcome:
    event_type = raw.get("type") if isinstance(raw, dict) else None
    body = raw.get("body") if isinstance(raw, dict) else None
    body_id = body.get("id") if isinstance(body, dict) else None
    return EventOutcome(
        route=INGESTION_PATH,
        event_id=event_id,
        event_type=event_type if isinstance(event_type, str) else "unknown",
        entity_id=body_id if isinstance(body_id, str) else None,
        status=status,
        accepted=False,
        stored=False,
        reason=reason,
    )


def _accepted(event: ValidatedEvent, *, stored: bool, reason: str | None = None) -> EventOutcome:
    return EventOutcome(
        route=INGESTION_PATH,
        event_id=event.event_id,
        event_type=event.event_type,
        entity_id=event.entity_id,
        status=201,
        accepted=True,
        stored=stored,
        reason=reason,
    )
