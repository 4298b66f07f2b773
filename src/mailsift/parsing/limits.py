"""Hard limits applied before and during MIME parsing.

CPython's `email` parser recurses once per nesting level and raises RecursionError near
1,000 levels; a message with thousands of parts costs memory in proportion. These limits
keep one hostile or broken message from stalling or crashing a whole run.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ParseLimits:
    max_message_bytes: int = 25 * 1024 * 1024
    """Messages larger than this are rejected unparsed (25 MiB is the common provider cap)."""

    max_mime_depth: int = 30
    """Nesting deeper than this is not walked; the cut is recorded as a defect."""

    max_parts: int = 500
    """Parts beyond this count are not walked; the cut is recorded as a defect."""

    timeout_s: float = 10.0
    """Wall-clock budget for decoding one message, enforced by the pipeline's worker pool."""

    def __post_init__(self) -> None:
        for name in ("max_message_bytes", "max_mime_depth", "max_parts"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, got {self.timeout_s}")
