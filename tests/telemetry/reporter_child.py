"""A child process that reports spans, for exit, signal, kill and fork tests.

Usage: python reporter_child.py OUTBOX COUNT MODE
MODE: normal | exit1 | raise | wait (prints "emitted" and sleeps until signalled)
Langfuse settings come from the environment.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from mailsift.telemetry import load_langfuse_config, start_telemetry
from mailsift.telemetry.lifecycle import exit_on_sigterm
from mailsift.telemetry.reporter import ReporterSettings


def emit(telemetry, count: int, prefix: str) -> None:
    tracer = telemetry.provider.get_tracer("child")
    for index in range(count):
        span = tracer.start_span(
            f"{prefix}-{index}",
            attributes={
                "user.id": "child",
                "session.id": prefix,
                "langfuse.trace.name": "child",
                "langfuse.observation.type": "span",
            },
        )
        span.end()


def main() -> None:
    outbox, count, mode = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    config = load_langfuse_config()
    assert config is not None
    settings = ReporterSettings(
        outbox_path=outbox, schedule_delay_s=0.05, export_deadline_s=5.0, shutdown_timeout_s=10.0
    )
    telemetry = start_telemetry(config, outbox_path=outbox, settings=settings)
    exit_on_sigterm()
    emit(telemetry, count, mode)

    if mode == "exit1":
        sys.exit(1)
    if mode == "raise":
        raise RuntimeError("the application failed after emitting")
    if mode == "wait":
        print("emitted", flush=True)
        time.sleep(120)


if __name__ == "__main__":
    main()
