"""OTLP/HTTP protobuf exporter to Langfuse's `/api/public/otel/v1/traces`.

The response is read, not assumed: a non-2xx is a failure carrying the server's message,
and a 2xx counts the spans as delivered to the server's queue, nothing more (Langfuse
converts them later and only logs per-span problems on its side). An OTLP partial-success
field is honoured when present, although Langfuse 4.16 never sends one.
"""

from __future__ import annotations

import gzip
from collections.abc import Sequence

import httpx
from google.protobuf.message import DecodeError
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
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

PATH = "/api/public/otel/v1/traces"
INGESTION_VERSION = "4"


class OtlpExporter:
    name = "otlp"

    def __init__(
        self,
        config: LangfuseConfig,
        *,
        transport: httpx.BaseTransport | None = None,
        send_ingestion_version: bool = True,
    ) -> None:
        self._http = make_http_client(config, transport)
        self._url = f"{config.host}{PATH}"
        # The header selects v4's direct write path. A v3 server in legacy mode would then
        # write only to the v4 events table, which its v1 read endpoints never show.
        self._extra_headers = (
            {"x-langfuse-ingestion-version": INGESTION_VERSION} if send_ingestion_version else {}
        )

    def export(self, spans: Sequence[ReadableSpan]) -> ExportResult:
        if not spans:
            return ExportResult(sent=0)
        body = gzip.compress(encode_spans(spans).SerializeToString(), compresslevel=5)
        try:
            response = self._http.post(
                PATH,
                content=body,
                headers={
                    "Content-Type": "application/x-protobuf",
                    "Content-Encoding": "gzip",
                    **self._extra_headers,
                },
            )
        except httpx.HTTPError as exc:
            return transport_failure(len(spans), self._url, exc)

        if not response.is_success:
            return ExportResult(
                sent=len(spans),
                status=response.status_code,
                error=f"{self._url} answered {response.status_code}: {server_message(response)}",
                retryable=response.status_code in RETRYABLE_STATUSES,
                retry_after_s=retry_after_s(response),
            )
        return _with_partial_success(len(spans), response)

    def close(self) -> None:
        self._http.close()


def _with_partial_success(count: int, response: httpx.Response) -> ExportResult:
    """Count spans as delivered, minus any the reply reports as rejected.

    OTLP/HTTP replies mirror the request's encoding, so both protobuf and JSON bodies are
    read. Langfuse 4.16 always answers JSON without a partial-success field.
    """
    rejected_spans, message = _partial_success(response)
    result = ExportResult(sent=count, delivered=count - rejected_spans, status=response.status_code)
    if rejected_spans:
        # Partial success counts spans without naming them, so the rejection is per batch.
        result.rejected.append(
            Rejection(
                event_id="batch",
                span_id=None,
                status=response.status_code,
                message=f"{rejected_spans} span(s) rejected: {message or 'no reason given'}",
            )
        )
    return result


def _partial_success(response: httpx.Response) -> tuple[int, str]:
    content_type = response.headers.get("content-type", "")
    if "protobuf" in content_type:
        reply = ExportTraceServiceResponse()
        try:
            reply.ParseFromString(response.content)
        except DecodeError:
            return 0, ""
        partial = reply.partial_success
        return int(partial.rejected_spans), partial.error_message

    try:
        body = response.json()
    except ValueError:
        return 0, ""
    section = body.get("partialSuccess") if isinstance(body, dict) else None
    if not isinstance(section, dict):
        return 0, ""
    try:
        rejected = int(section.get("rejectedSpans") or 0)
    except (TypeError, ValueError):
        rejected = 0
    return rejected, str(section.get("errorMessage") or "")
