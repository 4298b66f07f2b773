"""What every mail source yields."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RawMessage:
    """One message exactly as stored, with where it came from.

    `location` is stable across runs for the same source (a file path, or an mbox file plus
    the message's index), so failures can be traced back to the input.
    """

    raw: bytes
    location: str
    gmail_message_id: str | None = None
    gmail_thread_id: str | None = None
