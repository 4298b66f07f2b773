"""The result of one doctor check, and the layers in the order they are checked."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Status(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    SKIPPED = "skipped"
    """Not run: turned off, not applicable, or a layer it depends on failed."""


class Layer(StrEnum):
    """Checked layers, in order. Each Langfuse layer depends on every one before it."""

    CONFIGURATION = "configuration"
    DNS = "dns"
    TCP = "tcp"
    TLS = "tls"
    AUTH = "auth"
    WRITE_PATH = "write_path"
    CANARY = "canary"
    LLM = "llm"


LANGFUSE_LAYERS = (
    Layer.CONFIGURATION,
    Layer.DNS,
    Layer.TCP,
    Layer.TLS,
    Layer.AUTH,
    Layer.WRITE_PATH,
    Layer.CANARY,
)


@dataclass(frozen=True, slots=True)
class CheckResult:
    layer: Layer
    status: Status
    detail: str
    """Findings of the check, or for a skipped layer, the reason it did not run."""
    hint: str | None = None
    """One-line fix, set for failures."""
    duration_ms: float = 0.0

    @classmethod
    def passed(cls, layer: Layer, detail: str) -> CheckResult:
        return cls(layer, Status.PASS, detail)

    @classmethod
    def failed(cls, layer: Layer, detail: str, hint: str) -> CheckResult:
        return cls(layer, Status.FAIL, detail, hint)

    @classmethod
    def skipped(cls, layer: Layer, reason: str) -> CheckResult:
        return cls(layer, Status.SKIPPED, reason)


@dataclass(frozen=True, slots=True)
class DoctorReport:
    checks: list[CheckResult]

    @property
    def ok(self) -> bool:
        """True when no layer failed."""
        return all(check.status is not Status.FAIL for check in self.checks)
