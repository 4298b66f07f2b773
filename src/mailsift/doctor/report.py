"""Print a doctor report: one coloured line per layer and the fixes, or one JSON object."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.text import Text

from mailsift.doctor.model import CheckResult, DoctorReport, Layer, Status

_STYLES = {Status.PASS: "bold green", Status.FAIL: "bold red", Status.SKIPPED: "yellow"}
_VERDICT_WIDTH = max(len(status.value) for status in Status)
_LAYER_WIDTH = max(len(layer.value) for layer in Layer)


def to_json(report: DoctorReport) -> str:
    """Return `{"ok": bool, "checks": [...]}` on one line, layers in check order."""
    document: dict[str, Any] = {
        "ok": report.ok,
        "checks": [_check_json(check) for check in report.checks],
    }
    return json.dumps(document, ensure_ascii=False)


def _check_json(check: CheckResult) -> dict[str, Any]:
    return {
        "layer": check.layer.value,
        "status": check.status.value,
        "detail": check.detail,
        "hint": check.hint,
        "duration_ms": round(check.duration_ms, 1),
    }


def print_report(report: DoctorReport, console: Console) -> None:
    for check in report.checks:
        # Text objects, not markup strings: details quote server messages, which may
        # contain square brackets that rich would read as markup.
        line = Text()
        line.append(check.status.value.ljust(_VERDICT_WIDTH), style=_STYLES[check.status])
        line.append(f"  {check.layer.value.ljust(_LAYER_WIDTH)}  ")
        line.append(check.detail)
        if check.status is not Status.SKIPPED:
            line.append(f" [{check.duration_ms:.0f} ms]", style="dim")
        console.print(line, soft_wrap=True)

    failures = [check for check in report.checks if check.status is Status.FAIL]
    if not failures:
        console.print(Text("\nNo check failed.", style="green"))
        return
    console.print(Text("\nTo fix:", style="bold"))
    for check in failures:
        console.print(Text(f"  {check.layer.value}: {check.hint}"), soft_wrap=True)
