"""The closing summary of a run: what was done, skipped and failed, and what it cost."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from mailsift.pipeline.durations import DurationDigest


@dataclass(frozen=True, slots=True)
class Failure:
    location: str
    identity: str | None
    reason: str


@dataclass(slots=True)
class RunSummary:
    processed: int = 0
    skipped: int = 0
    failures: list[Failure] = field(default_factory=list)
    by_type: Counter[str] = field(default_factory=Counter)
    by_provenance: Counter[str] = field(default_factory=Counter)
    wall_s: float = 0.0
    llm_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    llm_ms: float = 0.0
    """Sum of client-side LLM latencies; with concurrency it exceeds wall time."""
    prepare_ms: DurationDigest = field(default_factory=DurationDigest)
    """Per email: decode, markup and HTML-to-text time."""
    store_ms: DurationDigest = field(default_factory=DurationDigest)
    model: str | None = None
    telemetry: str = "off"

    @property
    def failed(self) -> int:
        return len(self.failures)

    @property
    def exit_code(self) -> int:
        return 1 if self.failures else 0
