"""Scripted failures for the Langfuse double, shared between the test thread and the server.

Tests queue faults per route path; each request to that path takes the next queued fault,
if any. Faults are consumed in order, so "503, then 503, then normal" is three pushes of
which the last is simply absent. Every method takes the same lock, because tests call them
from the pytest thread while the server's event loop thread reads them.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from mailsift.testing.langfuse.config import INGESTION_PATH, OTLP_TRACES_PATH

EventPredicate = Callable[[Mapping[str, Any]], bool]

# Error page of a reverse proxy in front of the server: HTML, not JSON.
_PROXY_PAGE = (
    "<html><head><title>{code} {phrase}</title></head>"
    "<body><center><h1>{code} {phrase}</h1></center></body></html>\n"
)


@dataclass(frozen=True)
class ScriptedReply:
    """Reply sent with this status and body instead of handling the request."""

    status: int
    body: bytes
    content_type: str
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class RejectEvents:
    """Rule that handles the request but reports the matching events or spans as failed.

    Matching items are not stored. On the batch route they appear in the 207's `errors`.
    On the OTLP route the double responds with an OTLP partial success that counts the
    rejected spans. The real Langfuse server never does that, but other OTLP backends do.
    """

    event_ids: frozenset[str] = frozenset()
    predicate: EventPredicate | None = None
    status: int = 400
    message: str = "Invalid request data"
    error: str = "Rejected by a scripted fault of the Langfuse double"

    def matches(self, event_id: str | None, item: Mapping[str, Any]) -> bool:
        if event_id is not None and event_id in self.event_ids:
            return True
        return self.predicate is not None and self.predicate(item)


@dataclass(frozen=True)
class DropConnection:
    """Read the whole body, optionally process it, then close the socket without a reply."""

    process_first: bool = False


Fault = ScriptedReply | RejectEvents | DropConnection


@dataclass
class _Latency:
    path: str | None
    seconds: float
    remaining: int | None


@dataclass
class FaultInjector:
    """Thread-safe queues of scripted faults and latency rules, keyed by route path."""

    _lock: threading.Lock = field(default_factory=threading.Lock)
    _queues: dict[str, deque[Fault]] = field(default_factory=dict)
    _latencies: list[_Latency] = field(default_factory=list)

    def push(self, path: str, fault: Fault, times: int = 1) -> None:
        if times < 1:
            raise ValueError(f"times: must be >= 1, got {times}")
        with self._lock:
            self._queues.setdefault(path, deque()).extend([fault] * times)

    def take(self, path: str) -> Fault | None:
        """Remove and return the next fault queued for `path`."""
        with self._lock:
            queue = self._queues.get(path)
            return queue.popleft() if queue else None

    def pending(self, path: str) -> int:
        with self._lock:
            return len(self._queues.get(path, ()))

    def add_latency(self, seconds: float, path: str | None, times: int | None) -> None:
        if seconds < 0:
            raise ValueError(f"seconds: must be >= 0, got {seconds}")
        with self._lock:
            self._latencies.append(_Latency(path, seconds, times))

    def take_latency_s(self, path: str) -> float:
        """Sum the latency rules that apply to one request on `path`, counting them down."""
        total = 0.0
        with self._lock:
            for rule in self._latencies:
                if rule.path not in (None, path):
                    continue
                if rule.remaining is not None:
                    if rule.remaining <= 0:
                        continue
                    rule.remaining -= 1
                total += rule.seconds
        return total

    def clear(self) -> None:
        with self._lock:
            self._queues.clear()
            self._latencies.clear()


def reply_for_status(
    path: str, status: int, *, retry_after_s: int | None = None, reset_at: str | None = None
) -> ScriptedReply:
    """Build the reply the real server, or a proxy in front of it, sends with `status`."""
    phrase = HTTPStatus(status).phrase
    headers: list[tuple[str, str]] = []
    if retry_after_s is not None:
        headers.append(("Retry-After", str(retry_after_s)))

    if status == 413 and path == INGESTION_PATH:
        return ScriptedReply(
            413, b"Body exceeded 4.5mb limit", "text/plain; charset=utf-8", tuple(headers)
        )
    if status in (502, 504) or (status == 413 and path != INGESTION_PATH):
        page = _PROXY_PAGE.format(code=status, phrase=phrase)
        return ScriptedReply(status, page.encode(), "text/html", tuple(headers))
    if status == 429:
        return _rate_limited(retry_after_s if retry_after_s is not None else 1, reset_at)

    body = _json_error_body(path, status, phrase)
    return ScriptedReply(status, json.dumps(body).encode(), "application/json", tuple(headers))


def _json_error_body(path: str, status: int, phrase: str) -> dict[str, Any]:
    otlp = path == OTLP_TRACES_PATH
    if status == 401:
        message = "Invalid credentials. Confirm that you've configured the correct host."
        return {"message": message} if otlp else {"error": "UnauthorizedError", "message": message}
    if status == 403:
        message = "Ingestion suspended: Usage threshold exceeded. Please upgrade your plan."
        return {"message": message, "error": "ForbiddenError"}
    if status == 500:
        if otlp:
            return {"message": "Internal Server Error", "error": "An unknown error occurred"}
        return {"error": "Internal Server Error"}
    if status == 503:
        return {"message": "Service Unavailable"}
    return {"message": phrase}


def _rate_limited(retry_after_s: int, reset_at: str | None) -> ScriptedReply:
    # Langfuse Cloud's rate limiter; X-RateLimit-Reset is a JavaScript Date.toString() text.
    reset_text = reset_at or "Thu Jan 01 2026 00:00:00 GMT+0000 (Coordinated Universal Time)"
    body = {
        "message": "Rate limit exceeded",
        "code": "rate_limited",
        "details": {
            "retryAfterSeconds": retry_after_s,
            "limit": 1000,
            "remaining": 0,
            "resetAt": "2026-01-01T00:00:00.000Z",
        },
    }
    headers = (
        ("Retry-After", str(retry_after_s)),
        ("X-RateLimit-Limit", "1000"),
        ("X-RateLimit-Remaining", "0"),
        ("X-RateLimit-Reset", reset_text),
    )
    return ScriptedReply(429, json.dumps(body).encode(), "application/json", headers)
