"""Scripted faults: what the double does to the next chat completion requests.

A test pushes faults with `LLMServerDouble.script(...)`; each chat completion request takes
the oldest one (first in, first out). Requests to other endpoints never take a fault.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from enum import StrEnum
from http import HTTPStatus


class FaultKind(StrEnum):
    """Effect of a scripted fault on the request that takes it."""

    STATUS = "status"  # respond with an error status and an error body
    INVALID_JSON = "invalid_json"  # respond 200 with content that is not valid JSON
    SCHEMA_VIOLATION = "schema_violation"  # respond 200 with JSON that breaks the schema
    DELAY = "delay"  # wait, then answer normally
    CLOSE_CONNECTION = "close_connection"  # drop the connection without any response


@dataclass(frozen=True)
class Fault:
    """One scripted fault; build it with the class methods, not the constructor."""

    kind: FaultKind
    status_code: int | None = None
    message: str | None = None
    error_type: str | None = None
    param: str | None = None
    retry_after_s: int | None = None
    content: str | None = None
    delay_s: float = 0.0

    @classmethod
    def status(
        cls,
        status_code: int,
        message: str | None = None,
        *,
        error_type: str | None = None,
        param: str | None = None,
        retry_after_s: int | None = None,
    ) -> Fault:
        """Answer with an HTTP error in the flavour's error shape.

        For vLLM the body is {"error": {"message", "type", "param", "code"}}; `error_type`
        defaults to the status phrase in vLLM's style (400 gives "BadRequestError").
        `retry_after_s` adds a Retry-After header.
        """
        if not 400 <= status_code <= 599:
            raise ValueError(
                f"status_code must be an HTTP error status (400-599), got {status_code}"
            )
        if retry_after_s is not None and retry_after_s < 0:
            raise ValueError(f"retry_after_s must be >= 0, got {retry_after_s}")

        return cls(
            FaultKind.STATUS,
            status_code=status_code,
            message=message or f"{HTTPStatus(status_code).phrase} (scripted by the test)",
            error_type=error_type,
            param=param,
            retry_after_s=retry_after_s,
        )

    @classmethod
    def invalid_json(cls, content: str | None = None) -> Fault:
        """Answer 200 with content that does not parse as JSON.

        The default content is cut off mid-string and the finish_reason is "length", which is
        how invalid JSON usually reaches a client: the reply ran into max_tokens.
        """
        return cls(FaultKind.INVALID_JSON, content=content)

    @classmethod
    def schema_violation(cls) -> Fault:
        """Answer 200 with JSON that parses but is invalid against the request's schema."""
        return cls(FaultKind.SCHEMA_VIOLATION)

    @classmethod
    def delay(cls, seconds: float) -> Fault:
        """Wait `seconds` before handling the request normally (the wait counts as in flight)."""
        if seconds < 0:
            raise ValueError(f"delay seconds must be >= 0, got {seconds}")
        return cls(FaultKind.DELAY, delay_s=seconds)

    @classmethod
    def close_connection(cls) -> Fault:
        """Drop the TCP connection without sending a status line (a crashed or killed server)."""
        return cls(FaultKind.CLOSE_CONNECTION)


class FaultScript:
    """A thread-safe FIFO of faults: tests push from their thread, the server pops from its own."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: deque[Fault] = deque()

    def push(self, *faults: Fault) -> None:
        """Append faults; the oldest is used first."""
        with self._lock:
            self._faults.extend(faults)

    def pop(self) -> Fault | None:
        """Remove and return the oldest fault, or None when the script is empty."""
        with self._lock:
            return self._faults.popleft() if self._faults else None

    def pending(self) -> list[Fault]:
        """Return the faults not yet used, oldest first."""
        with self._lock:
            return list(self._faults)

    def clear(self) -> None:
        """Drop every pending fault."""
        with self._lock:
            self._faults.clear()
