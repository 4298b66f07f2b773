"""The reporter's own health: one snapshot, as JSON for machines and as Prometheus text."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from mailsift.telemetry.outbox import OutboxCounts


@dataclass(frozen=True, slots=True)
class HealthSnapshot:
    outbox_path: str
    counts: OutboxCounts
    path: str | None
    breaker: str | None
    last_error: str | None
    write_failures: int = 0
    unidentified_rejections: int = 0

    @property
    def balanced(self) -> bool:
        return self.counts.balanced and self.write_failures == 0

    def to_dict(self) -> dict[str, Any]:
        counts = asdict(self.counts)
        return {
            "outbox": self.outbox_path,
            "ingestion_path": self.path,
            "breaker": self.breaker,
            "last_error": self.last_error,
            "balanced": self.balanced,
            "write_failures": self.write_failures,
            "unidentified_rejections": self.unidentified_rejections,
            **counts,
        }


def prometheus_text(snapshot: HealthSnapshot) -> str:
    """Render the snapshot in the Prometheus text exposition format (version 0.0.4)."""
    counts = snapshot.counts
    lines: list[str] = []

    def metric(name: str, kind: str, help_text: str, value: float) -> None:
        lines.append(f"# HELP mailsift_telemetry_{name} {help_text}")
        lines.append(f"# TYPE mailsift_telemetry_{name} {kind}")
        lines.append(f"mailsift_telemetry_{name} {value}")

    metric("spans_emitted_total", "counter", "Spans written to the outbox.", counts.emitted)
    metric("spans_exported_total", "counter", "Spans the server accepted.", counts.exported)
    metric("spans_quarantined", "gauge", "Spans the server rejected for good.", counts.quarantined)
    metric(
        "spans_dropped_total",
        "counter",
        "Spans dropped for the byte budget or purged.",
        counts.dropped,
    )
    metric("export_retries_total", "counter", "Export attempts retried.", counts.retried)
    metric("spans_pending", "gauge", "Spans waiting in the outbox.", counts.pending)
    metric("pending_bytes", "gauge", "Bytes waiting in the outbox.", counts.pending_bytes)
    metric(
        "oldest_pending_age_seconds",
        "gauge",
        "Age of the oldest pending span.",
        counts.oldest_pending_age_s or 0.0,
    )
    metric(
        "attributes_cut_total",
        "counter",
        "Oversized attributes cut to the limit.",
        counts.truncated,
    )
    metric(
        "accounting_balanced",
        "gauge",
        "1 when emitted = exported + pending + quarantined + dropped.",
        1 if snapshot.balanced else 0,
    )
    for state in ("closed", "open", "half_open"):
        lines.append(
            f'mailsift_telemetry_breaker_state{{state="{state}"}} '
            f"{1 if snapshot.breaker == state else 0}"
        )
    return "\n".join(lines) + "\n"
