"""What one HTTP request to the LLM server cost and returned, normalised across servers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(slots=True)
class ServerUsage:
    """Token counts and timings as the server reported them.

    Every field the server did not send stays None: a missing count is unknown, not zero,
    and cost reports must be able to tell the two apart.
    """

    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    cached_tokens: int | None = None
    queue_ms: float | None = None
    prefill_ms: float | None = None
    decode_ms: float | None = None
    raw_timings: dict[str, Any] | None = None
    """The server's own timing object as sent: llama.cpp `timings` or vLLM `metrics`."""


@dataclass(slots=True)
class CallRecord:
    """One request/response exchange, successful or not."""

    request_id: str
    server_url: str
    model: str
    purpose: str
    started_at: datetime
    finished_at: datetime
    latency_ms: float
    status: str
    """`succeeded` or `failed`."""
    http_status: int | None = None
    response_id: str | None = None
    error: str | None = None
    usage: ServerUsage = field(default_factory=ServerUsage)
    messages: list[dict[str, str]] = field(default_factory=list)
    parameters: dict[str, Any] = field(default_factory=dict)
    output: str | None = None
