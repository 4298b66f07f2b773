"""What an export attempt returns, shared by both exporters."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import httpx
from opentelemetry.sdk.trace import ReadableSpan

from mailsift.telemetry.config import LangfuseConfig

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class Rejection:
    """One event or span the server refused, with the server's own reason."""

    event_id: str
    span_id: str | None
    status: int
    message: str


@dataclass(slots=True)
class ExportResult:
    sent: int
    """Spans in the attempt."""
    delivered: int = 0
    """Spans the server acknowledged. For OTLP this means accepted for processing only."""
    rejected: list[Rejection] = field(default_factory=list)
    error: str | None = None
    """Whole-request failure, with the server's message when it sent one."""
    status: int | None = None
    retryable: bool = False
    retry_after_s: float | None = None
    events_only_refusal: bool = False
    """The server is in v4 events_only mode and refused legacy trace writes."""

    @property
    def ok(self) -> bool:
        return self.error is None and not self.rejected


class SpanExporter(Protocol):
    name: str

    def export(self, spans: Sequence[ReadableSpan]) -> ExportResult: ...

    def close(self) -> None: ...


def basic_auth(config: LangfuseConfig) -> str:
    token = base64.b64encode(f"{config.public_key}:{config.secret_key}".encode()).decode()
    return f"Basic {token}"


def make_http_client(config: LangfuseConfig, transport: httpx.BaseTransport | None) -> httpx.Client:
    """One pooled client per exporter, with explicit timeouts and no global default."""
    return httpx.Client(
        base_url=config.host,
        headers={"Authorization": basic_auth(config), "User-Agent": "mailsift"},
        timeout=httpx.Timeout(
            connect=config.connect_timeout_s,
            read=config.read_timeout_s,
            write=config.read_timeout_s,
            pool=config.connect_timeout_s,
        ),
        limits=httpx.Limits(max_connections=4, max_keepalive_connections=2),
        transport=transport,
    )


def server_message(response: httpx.Response) -> str:
    """Pull the error text out of any of Langfuse's error shapes, or the plain-text body."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:500] or response.reason_phrase
    if isinstance(body, dict):
        parts = [str(body[key]) for key in ("message", "error") if body.get(key)]
        if isinstance(body.get("errors"), list):
            parts.append("; ".join(str(item) for item in body["errors"]))
        if parts:
            return ": ".join(parts)[:500]
    return str(body)[:500]


def retry_after_s(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def transport_failure(spans: int, url: str, exc: httpx.HTTPError) -> ExportResult:
    kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "failed"
    return ExportResult(
        sent=spans,
        error=f"request to {url} {kind}: {type(exc).__name__}: {exc}",
        retryable=True,
    )
