"""`mailsift telemetry status|replay|purge` on a real outbox file."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from mailsift.cli import app
from mailsift.cli.app import register_commands
from mailsift.telemetry.outbox import Outbox
from mailsift.telemetry.outbox.codec import PRIORITY_STEP

register_commands()


def _outbox_with(tmp_path, pending: int, quarantined: int) -> Outbox:
    box = Outbox(tmp_path / "telemetry-outbox.db")
    ids = [
        box.add("a" * 32, f"{i:016x}", PRIORITY_STEP, b"{}") for i in range(pending + quarantined)
    ]
    box.lease("me", limit=len(ids), lease_s=60)
    box.quarantine(
        "me", {row_id: (400, "400 Invalid request data") for row_id in ids[:quarantined]}
    )
    box.release("me", ids[quarantined:], "503 Service Unavailable")
    return box


def test_status_json_reports_counts(tmp_path):
    _outbox_with(tmp_path, pending=3, quarantined=2)

    result = CliRunner().invoke(app, ["telemetry", "status", "--json", "--data-dir", str(tmp_path)])

    status = json.loads(result.stdout)
    assert result.exit_code == 0
    assert (status["pending"], status["quarantined"], status["emitted"]) == (3, 2, 5)
    assert status["balanced"] is True
    assert status["recent_quarantined"][0]["reason"] == "400 Invalid request data"


def test_status_without_outbox_is_usage_error(tmp_path):
    result = CliRunner().invoke(app, ["telemetry", "status", "--data-dir", str(tmp_path)])

    assert result.exit_code == 2
    assert "no telemetry outbox" in result.output


def test_purge_asks_and_counts_dropped(tmp_path):
    box = _outbox_with(tmp_path, pending=4, quarantined=0)

    declined = CliRunner().invoke(
        app, ["telemetry", "purge", "--data-dir", str(tmp_path)], input="n\n"
    )
    accepted = CliRunner().invoke(
        app, ["telemetry", "purge", "--data-dir", str(tmp_path)], input="y\n"
    )

    counts = box.counts()
    assert declined.exit_code == 1
    assert accepted.exit_code == 0
    assert "deleted 4 pending" in accepted.output
    assert (counts.pending, counts.dropped) == (0, 4)
    assert counts.balanced


def test_replay_quarantined_delivers_after_fix(tmp_path, langfuse_double):
    from opentelemetry.sdk.trace import TracerProvider

    from mailsift.telemetry.outbox.codec import encode_span

    provider = TracerProvider()
    span = provider.get_tracer("t").start_span("fixed", attributes={"user.id": "u"})
    span.end()
    payload, _ = encode_span(span)
    box = Outbox(tmp_path / "telemetry-outbox.db")
    row = box.add(f"{span.context.trace_id:032x}", f"{span.context.span_id:016x}", 0, payload)
    box.lease("me", limit=1, lease_s=60)
    box.quarantine("me", {row: (400, "rejected before the fix")})
    environment = {
        "LANGFUSE_PUBLIC_KEY": langfuse_double.config.public_key,
        "LANGFUSE_SECRET_KEY": langfuse_double.config.secret_key,
        "LANGFUSE_HOST": langfuse_double.base_url,
    }

    result = CliRunner().invoke(
        app,
        ["telemetry", "replay", "--quarantined", "--timeout", "20", "--data-dir", str(tmp_path)],
        env=environment,
    )

    langfuse_double.flush_ingestion()
    assert result.exit_code == 0, result.output
    assert "1 from quarantine" in result.output
    assert [r.name for r in langfuse_double.event_rows()] == ["fixed"]
    assert box.counts().quarantined == 0
