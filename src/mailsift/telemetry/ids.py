"""Trace and span ids derived from an email's identity.

Reprocessing an email yields the same trace id and the same span ids, so a Langfuse server
that upserts by id (the legacy ingestion path) updates the trace instead of adding a copy.
The OpenTelemetry SDK asks its id generator for ids without saying which span they are for,
so the span being created is named through a context variable set just before each
`start_span` call.
"""

from __future__ import annotations

import hashlib
from contextvars import ContextVar

from opentelemetry.sdk.trace.id_generator import IdGenerator, RandomIdGenerator

_next_key: ContextVar[tuple[str, str] | None] = ContextVar("mailsift_next_span_key", default=None)


def trace_id_for(identity: str) -> int:
    return _nonzero(int.from_bytes(_digest("trace", identity)[:16], "big"))


def span_id_for(identity: str, path: str) -> int:
    return _nonzero(int.from_bytes(_digest("span", f"{identity}\x00{path}")[:8], "big"))


def set_next_span(identity: str, path: str) -> None:
    """Name the span that the next `start_span` call in this context creates."""
    _next_key.set((identity, path))


class DerivedIdGenerator(IdGenerator):
    """Hand out ids from the email identity and span path named by `set_next_span`.

    Spans started without a name set (by code outside mailsift's trace builder) get random
    ids, as with the SDK's default generator.
    """

    def __init__(self) -> None:
        self._random = RandomIdGenerator()

    def generate_trace_id(self) -> int:
        key = _next_key.get()
        return trace_id_for(key[0]) if key else self._random.generate_trace_id()

    def generate_span_id(self) -> int:
        key = _next_key.get()
        if key is None:
            return self._random.generate_span_id()
        _next_key.set(None)
        return span_id_for(*key)


def _digest(kind: str, value: str) -> bytes:
    return hashlib.sha256(f"mailsift:{kind}:{value}".encode()).digest()


def _nonzero(value: int) -> int:
    # An all-zero id is invalid in OpenTelemetry; the odds are negligible but the fix is free.
    return value or 1
