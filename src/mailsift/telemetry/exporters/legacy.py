"""Legacy batch-ingestion exporter: `POST /api/public/ingestion` for Langfuse v2/v3.

The server answers 207 even when every event failed, so the reply is parsed per event and
matched by event id (results are not in request order). A v4 server in events_only mode
rejects trace and observation events one by one with "Event type not accepted"; that is
reported as `events_only_refusal` so the caller can switch to OTLP.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

import httpx
from opentelemetry.sdk.trace import ReadableSpan

from mailsift.telemetry.config import LangfuseConfig
from mailsift.telemetry.exporters.base import (
    RETRYABLE_STATUSES,
    ExportResult,
    Rejection,
    make_http_client,
    retry_after_s,
    server_message,
    transport_failure,
)
from mailsift.telemetry.exporters.legacy_events import span_events

logger = logging.getLogger(__name__)

PATH = "/api/public/ingestion"
SERVER_BODY_LIMIT_BYTES = 4_718_592
MAX_BATCH_BYTES = 3_500_000
"""Well under the server's 4.5 MiB limit: proxies in front of it often cap lower."""
MAX_BATCH_EVENTS = 200
"""Some deployments cap the event count per request; small batches also retry cheaply."""
EVENTS_ONLY_MESSAGE = "Event type not accepted"


class LegacyExporter:
    name = "legacy"

    def __init__(
        self,
        config: LangfuseConfig,
        *,
        transport: httpx.BaseTransport | None = None,
        max_batch_bytes: int = MAX_BATCH_BYTES,
    ) -> None:
        self._http = make_http_client(config, transport)
        self._url = f"{config.host}{PATH}"
        self._max_batch_bytes = max_batch_bytes

    def export(self, spans: Sequence[ReadableSpan]) -> ExportResult:
        owners: dict[str, str] = {}
        events: list[dict[str, Any]] = []
        for span in spans:
            span_id = f"{span.context.span_id:016x}" if span.context else "?"
            for event in span_events(span):
                owners[event["id"]] = span_id
                events.append(event)

        total = ExportResult(sent=len(spans))
        failed_spans: set[str] = set()
        for batch in split_batches(events, self._max_batch_bytes, MAX_BATCH_EVENTS):
            outcome = self._post_splitting(batch, owners)
            if outcome.error is not None:
                # Stop at the first whole-request failure: later batches would meet the same.
                total.error, total.status = outcome.error, outcome.status
                total.retryable, total.retry_after_s = outcome.retryable, outcome.retry_after_s
                failed_spans.update(owners[event["id"]] for event in batch)
                break
            total.rejected.extend(outcome.rejected)
            total.events_only_refusal |= outcome.events_only_refusal
            failed_spans.update(r.span_id for r in outcome.rejected if r.span_id)

        if total.error is not None:
            failed_spans.update(owners.values())
        total.delivered = len({owners[e["id"]] for e in events} - failed_spans)
        return total

    def _post_splitting(self, batch: list[dict[str, Any]], owners: dict[str, str]) -> ExportResult:
        """Post a batch; when the server or a proxy finds it too large, send it in halves."""
        outcome = self._post(batch, owners)
        too_large = outcome.status == 413 or (
            outcome.status == 400 and "too large" in (outcome.error or "").lower()
        )
        if not too_large or len(batch) < 2:
            return outcome

        logger.warning("telemetry: %s; splitting %d events in two", outcome.error, len(batch))
        half = len(batch) // 2
        first = self._post_splitting(batch[:half], owners)
        if first.error is not None:
            return first
        second = self._post_splitting(batch[half:], owners)
        second.rejected[:0] = first.rejected
        second.events_only_refusal |= first.events_only_refusal
        return second

    def _post(self, batch: list[dict[str, Any]], owners: dict[str, str]) -> ExportResult:
        try:
            response = self._http.post(
                PATH,
                content=json.dumps({"batch": batch}, ensure_ascii=False).encode(),
                headers={"Content-Type": "application/json"},
            )
        except httpx.HTTPError as exc:
            return transport_failure(len(batch), self._url, exc)

        if response.status_code != 207 and not response.is_success:
            return ExportResult(
                sent=len(batch),
                status=response.status_code,
                error=f"{self._url} answered {response.status_code}: {server_message(response)}",
                retryable=response.status_code in RETRYABLE_STATUSES,
                retry_after_s=retry_after_s(response),
            )
        return parse_multi_status(response, batch, owners)

    def close(self) -> None:
        self._http.close()


def parse_multi_status(
    response: httpx.Response, batch: list[dict[str, Any]], owners: dict[str, str]
) -> ExportResult:
    """Read a 207 reply; every `errors` entry becomes a Rejection with the server's reason."""
    result = ExportResult(sent=len(batch), status=response.status_code)
    try:
        body = response.json()
    except ValueError:
        result.error = f"ingestion reply is not JSON: {response.text[:200]!r}"
        return result
    errors = body.get("errors") if isinstance(body, dict) else None
    for item in errors if isinstance(errors, list) else []:
        if not isinstance(item, dict):
            continue
        event_id = str(item.get("id", "unknown"))
        message = " - ".join(str(item[k]) for k in ("message", "error") if item.get(k))
        status = int(item.get("status") or 0)
        result.rejected.append(
            Rejection(
                event_id=event_id,
                span_id=owners.get(event_id),
                status=status,
                message=message or "no reason given",
            )
        )
        if EVENTS_ONLY_MESSAGE in message:
            result.events_only_refusal = True
    return result


def split_batches(
    events: list[dict[str, Any]], max_bytes: int, max_events: int = MAX_BATCH_EVENTS
) -> list[list[dict[str, Any]]]:
    """Group events into request bodies under `max_bytes` and `max_events`, in order."""
    batches: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] = []
    size = len(b'{"batch":[]}')
    for event in events:
        event_size = len(json.dumps(event, ensure_ascii=False).encode()) + 1
        if current and (size + event_size > max_bytes or len(current) >= max_events):
            batches.append(current)
            current, size = [], len(b'{"batch":[]}')
        current.append(event)
        size += event_size
    if current:
        batches.append(current)
    return batches
