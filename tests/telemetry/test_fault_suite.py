"""The reporter against a misbehaving Langfuse: nothing lost, nothing doubled, all visible.

Each scenario asserts on what the double stored (read-back), on the outbox accounting and
on the log lines an operator would see.
"""

from __future__ import annotations

import gzip
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from mailsift.testing.langfuse.config import OTLP_TRACES_PATH

from .reporter_child import emit

CHILD = Path(__file__).with_name("reporter_child.py")


def _spans_sent(double) -> list[str]:
    """Span ids in every OTLP request the double received, repeats included."""
    sent: list[str] = []
    for request in double.requests(OTLP_TRACES_PATH):
        body = request.body
        if request.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        export = ExportTraceServiceRequest()
        export.ParseFromString(body)
        for resource in export.resource_spans:
            for scope in resource.scope_spans:
                sent.extend(span.span_id.hex() for span in scope.spans)
    return sent


def _stored_ids(double) -> list[str]:
    double.flush_ingestion()
    return [row.id for row in double.event_rows()]


def _assert_all_delivered_once(telemetry, double, expected: int) -> None:
    counts = telemetry.health().counts
    stored = _stored_ids(double)
    assert counts.emitted == counts.exported == expected
    assert counts.pending == counts.quarantined == counts.dropped == 0
    assert counts.balanced
    assert len(stored) == len(set(stored)) == expected


def _warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


def test_server_down_then_up_loses_nothing(langfuse_double, make_telemetry, caplog):
    caplog.set_level(logging.WARNING)
    telemetry = make_telemetry(langfuse_double, breaker_failures=2, breaker_cooldown_s=0.3)
    langfuse_double.go_down()

    emit(telemetry, 50, "down")
    time.sleep(1.5)
    pending_while_down = telemetry.health().counts.pending
    langfuse_double.come_up()
    flushed = telemetry.reporter.force_flush(20_000)

    assert pending_while_down == 50
    assert flushed
    _assert_all_delivered_once(telemetry, langfuse_double, 50)
    changes = [m for m in _warnings(caplog) if "telemetry circuit" in m]
    assert any("closed -> open" in m for m in changes)
    assert any("-> closed" in m for m in changes)
    assert len(changes) <= 8  # one line per state change, not per span


def test_5xx_storm_is_retried_until_accepted(langfuse_double, make_telemetry):
    telemetry = make_telemetry(langfuse_double, breaker_failures=50)
    langfuse_double.fail_next(503, path=OTLP_TRACES_PATH, times=3)
    langfuse_double.fail_next(502, path=OTLP_TRACES_PATH, times=1)

    emit(telemetry, 20, "storm")
    assert telemetry.reporter.force_flush(20_000)

    assert telemetry.health().counts.retried >= 4
    _assert_all_delivered_once(telemetry, langfuse_double, 20)


def test_429_retry_after_is_honoured(langfuse_double, make_telemetry):
    telemetry = make_telemetry(langfuse_double)
    langfuse_double.fail_next(429, path=OTLP_TRACES_PATH, retry_after_s=1)

    emit(telemetry, 5, "limited")
    assert telemetry.reporter.force_flush(20_000)

    times = [r.received_at for r in langfuse_double.requests(OTLP_TRACES_PATH)]
    assert len(times) == 2
    assert (times[1] - times[0]).total_seconds() >= 0.75
    _assert_all_delivered_once(telemetry, langfuse_double, 5)


def test_wrong_keys_keep_spans_until_fixed(langfuse_double, make_telemetry):
    wrong = make_telemetry(langfuse_double, public_key="pk-lf-x", secret_key="sk-lf-x")
    emit(wrong, 10, "keys")
    wrong.reporter.force_flush(1_500)
    wrong.close(timeout_s=0.5)
    kept = wrong.reporter.counts().pending

    fixed = make_telemetry(langfuse_double)
    assert fixed.reporter.force_flush(20_000)

    assert kept == 10
    _assert_all_delivered_once(fixed, langfuse_double, 10)


def test_slow_server_timeouts_do_not_duplicate(langfuse_double, make_telemetry):
    telemetry = make_telemetry(langfuse_double, LANGFUSE_TIMEOUT="0.5", breaker_failures=50)
    langfuse_double.add_latency(1.2, path=OTLP_TRACES_PATH, times=2)

    emit(telemetry, 8, "slow")
    assert telemetry.reporter.force_flush(30_000)

    assert len(_spans_sent(langfuse_double)) > 8  # the timed-out sends were repeated
    assert telemetry.health().counts.retried >= 2
    _assert_all_delivered_once(telemetry, langfuse_double, 8)


def test_lost_acknowledgement_resend_is_deduplicated(langfuse_double, make_telemetry):
    # C21: the server stores the batch but the reply never arrives; the retry reuses ids.
    telemetry = make_telemetry(langfuse_double, breaker_failures=50)
    langfuse_double.drop_connection_next(path=OTLP_TRACES_PATH, process_first=True)

    emit(telemetry, 12, "ack-lost")
    assert telemetry.reporter.force_flush(20_000)

    sent = _spans_sent(langfuse_double)
    assert len(sent) == 24 and len(set(sent)) == 12
    _assert_all_delivered_once(telemetry, langfuse_double, 12)


def _child_environment(double) -> dict[str, str]:
    return {
        **os.environ,
        "LANGFUSE_PUBLIC_KEY": double.config.public_key,
        "LANGFUSE_SECRET_KEY": double.config.secret_key,
        "LANGFUSE_HOST": double.base_url,
    }


def test_sigkill_mid_export_then_restart_sends_once(langfuse_double, make_telemetry, tmp_path):
    outbox = tmp_path / "outbox.db"
    langfuse_double.add_latency(3.0, path=OTLP_TRACES_PATH, times=1)
    child = subprocess.Popen(
        [sys.executable, str(CHILD), str(outbox), "40", "wait"],
        env=_child_environment(langfuse_double),
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "emitted"
    time.sleep(0.5)  # the first export is now in flight, held by the latency
    child.send_signal(signal.SIGKILL)
    child.wait(10)

    restarted = make_telemetry(langfuse_double)
    assert restarted.reporter.force_flush(20_000)

    assert child.returncode == -signal.SIGKILL
    _assert_all_delivered_once(restarted, langfuse_double, 40)


@pytest.mark.parametrize("mode", ["normal", "exit1", "raise", "sigterm"])
def test_exit_paths_flush_the_outbox(langfuse_double, tmp_path, mode):
    # C01: a short-lived process delivers what it emitted however it ends.
    outbox = tmp_path / "outbox.db"
    child_mode = "wait" if mode == "sigterm" else mode
    child = subprocess.Popen(
        [sys.executable, str(CHILD), str(outbox), "25", child_mode],
        env=_child_environment(langfuse_double),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    if mode == "sigterm":
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "emitted"
        child.send_signal(signal.SIGTERM)
    child.wait(60)

    expected_code = {"normal": 0, "exit1": 1, "raise": 1, "sigterm": 143}[mode]
    assert child.returncode == expected_code
    stored = _stored_ids(langfuse_double)
    assert len(stored) == len(set(stored)) == 25


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_fork_after_start_each_process_ships_its_own(langfuse_double, make_telemetry):
    # C02: the child gets its own shipper and never sends the parent's leased rows.
    telemetry = make_telemetry(langfuse_double)
    emit(telemetry, 10, "parent-before")

    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            emit(telemetry, 10, "child")
            code = 0 if telemetry.reporter.force_flush(20_000) else 2
        finally:
            os._exit(code)
    emit(telemetry, 10, "parent-after")
    _, status = os.waitpid(pid, 0)
    assert telemetry.reporter.force_flush(20_000)

    assert os.waitstatus_to_exitcode(status) == 0
    sent = _spans_sent(langfuse_double)
    assert len(sent) == len(set(sent)) == 30
    assert len(set(_stored_ids(langfuse_double))) == 30


def test_flush_before_freeze_leaves_nothing_pending(langfuse_double, make_telemetry):
    # C04: a handler that flushes before returning has its whole trace stored already.
    telemetry = make_telemetry(langfuse_double, schedule_delay_s=30.0)
    emit(telemetry, 7, "handler")

    delivered = telemetry.reporter.force_flush(10_000)

    assert delivered
    assert telemetry.health().counts.pending == 0
    assert len(_stored_ids(langfuse_double)) == 7
