"""Payload hygiene and the remaining failure kinds: sizes, odd values, zones, ids, load."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import os
import random
import string
import time
import uuid
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailsift.llm.records import ServerUsage
from mailsift.store.tables import LLMCall
from mailsift.telemetry import attributes as attr
from mailsift.telemetry.exporters.legacy_events import span_events
from mailsift.telemetry.health import HealthSnapshot
from mailsift.telemetry.lifecycle import MetricsServer
from mailsift.telemetry.payload import CYCLE_MARKER, DEPTH_MARKER, encode_json, to_jsonable
from mailsift.testing.langfuse.config import OTLP_TRACES_PATH

from .reporter_child import emit

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


# C07: an oversized input is cut with a marker carrying its size and hash; ids stay intact.
def test_c07_oversized_input_cut_small_kept(langfuse_double, make_telemetry, caplog):
    caplog.set_level(logging.WARNING)
    telemetry = make_telemetry(langfuse_double)
    tracer = telemetry.provider.get_tracer("test")
    huge = "a" * 5_000_000
    small = "b" * 50_000
    for name, text in (("huge", huge), ("small", small)):
        span = tracer.start_span(name, attributes={attr.OBSERVATION_INPUT: text})
        span.end()
    assert telemetry.reporter.force_flush(20_000)

    langfuse_double.flush_ingestion()
    rows = {row.name: row for row in langfuse_double.event_rows()}
    assert set(rows) == {"huge", "small"}
    assert rows["small"].input == small
    assert "cut by mailsift" in rows["huge"].input
    assert "5000000 characters" in rows["huge"].input
    assert "sha256" in rows["huge"].input
    assert telemetry.health().counts.truncated == 1
    assert sum("over the size limit were cut" in r.getMessage() for r in caplog.records) == 1


# C08: one span too large for the receiver is isolated; the others in its batch get through.
@pytest.mark.parametrize("langfuse_double", [{"max_otlp_body_bytes": 30_000}], indirect=True)
def test_c08_one_oversized_span_does_not_sink_the_batch(langfuse_double, make_telemetry, caplog):
    caplog.set_level(logging.ERROR)
    telemetry = make_telemetry(langfuse_double)
    tracer = telemetry.provider.get_tracer("test")
    noise = "".join(random.Random(7).choices(string.ascii_letters, k=60_000))
    big = tracer.start_span("big", attributes={attr.OBSERVATION_OUTPUT: noise})
    big.end()
    emit(telemetry, 99, "small")

    telemetry.reporter.force_flush(30_000)

    counts = telemetry.health().counts
    big_id = f"{big.get_span_context().span_id:016x}"
    assert counts.exported == 99
    assert counts.quarantined == 1
    assert telemetry.reporter.outbox.quarantined_rows()[0]["span_id"] == big_id
    assert any(big_id in r.getMessage() for r in caplog.records)
    assert counts.balanced


# C09: naive datetimes never leave the process; every timestamp carries a zone.
def test_c09_naive_datetimes_become_utc_in_any_zone(monkeypatch, sample_spans):
    for zone in ("Asia/Shanghai", "America/Los_Angeles", "UTC"):
        monkeypatch.setenv("TZ", zone)
        time.tzset()
        naive = dt.datetime(2026, 12, 4, 0, 30, 0)

        encoded = to_jsonable({"at": naive})

        assert encoded["at"] == "2026-12-04T00:30:00+00:00"
        events = [event for span in sample_spans[:10] for event in span_events(span)]
        stamps = [event["timestamp"] for event in events]
        stamps += [event["body"].get("startTime", "Z") for event in events]
        assert all(stamp.endswith("Z") for stamp in stamps)
    monkeypatch.delenv("TZ")
    time.tzset()


# C14: a reply without usage is reported as missing, never as zero tokens.
def test_c14_missing_usage_is_flagged_not_zero(
    monkeypatch, span_memory, run_pipeline, llm_server_double, engine, tmp_path, caplog
):
    caplog.set_level(logging.WARNING)
    monkeypatch.setattr("mailsift.llm.client.parse_usage", lambda body: ServerUsage())
    builder, exporter = span_memory
    source = tmp_path / "mail"
    source.mkdir()
    (source / "a.eml").write_bytes((SAMPLES / "08-security-alert.eml").read_bytes())

    run_pipeline([source], llm_server_double.base_url, telemetry=builder)

    generations = [
        s
        for s in exporter.get_finished_spans()
        if s.attributes.get(attr.OBSERVATION_TYPE) == "generation"
    ]
    assert generations
    for span in generations:
        assert json.loads(span.attributes[attr.USAGE_DETAILS]) == {}
        assert "no usage" in span.attributes[f"{attr.OBSERVATION_METADATA_PREFIX}usage_problems"]
    with Session(engine) as session:
        tokens = session.scalars(select(LLMCall.prompt_tokens)).all()
    assert tokens and all(value is None for value in tokens)
    assert any("reported no usage" in r.getMessage() for r in caplog.records)


@dataclasses.dataclass
class _Node:
    name: str
    parent: _Node | None = None
    children: list[_Node] = dataclasses.field(default_factory=list)


# C15: values JSON cannot encode are converted deterministically, never dropped.
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC), "2026-01-02T03:04:05+00:00"),
        (dt.date(2026, 1, 2), "2026-01-02"),
        (Decimal("12.50"), "12.50"),
        (uuid.UUID(int=1), "00000000-0000-0000-0000-000000000001"),
        ({3, 1, 2}, [1, 2, 3]),
        (b"\x00\x01", {"bytes": 2, "base64": "AAE=", "complete": True}),
        (ValueError("bad charset"), {"type": "ValueError", "message": "bad charset"}),
        ("lone \ud800 surrogate", "lone \ufffd surrogate"),
        (float("nan"), "nan"),
    ],
)
def test_c15_odd_values_encode_deterministically(value, expected):
    first = to_jsonable(value)

    assert first == expected
    assert encode_json(value) == encode_json(value)
    json.loads(encode_json({"v": value}))


def test_c15_models_dataclasses_cycles_and_depth():
    from pydantic import BaseModel

    class Total(BaseModel):
        amount: Decimal
        when: dt.date

    root = _Node("root")
    root.children.append(_Node("child", parent=root))
    deep: list = []
    cursor = deep
    for _ in range(50):
        cursor.append([])
        cursor = cursor[0]

    encoded = to_jsonable(
        {
            "model": Total(amount=Decimal("3.10"), when=dt.date(2026, 1, 1)),
            "tree": root,
            "deep": deep,
        }
    )

    assert encoded["model"] == {"amount": "3.10", "when": "2026-01-01"}
    assert encoded["tree"]["children"][0]["parent"] == CYCLE_MARKER
    assert DEPTH_MARKER in json.dumps(encoded["deep"])


def test_c15_numpy_scalars_when_available():
    numpy = pytest.importorskip("numpy")

    assert to_jsonable({"n": numpy.int64(3), "f": numpy.float32(0.5)}) == {"n": 3, "f": 0.5}


# C18: concurrent processing never produces orphans: every parent is in the same trace.
def test_c18_every_parent_is_in_its_trace(sample_spans):
    by_trace: dict[int, set[int]] = {}
    for span in sample_spans:
        by_trace.setdefault(span.context.trace_id, set()).add(span.context.span_id)

    for span in sample_spans:
        if span.parent is not None:
            assert span.parent.trace_id == span.context.trace_id
            assert span.parent.span_id in by_trace[span.context.trace_id]


# C20: distinct emails get distinct trace ids, even when they reuse one Message-ID.
def test_c20_reused_message_id_gets_its_own_trace(
    span_memory, run_pipeline, llm_server_double, tmp_path
):
    builder, exporter = span_memory
    source = tmp_path / "mail"
    source.mkdir()
    template = (SAMPLES / "08-security-alert.eml").read_bytes()
    (source / "a.eml").write_bytes(template)
    (source / "b.eml").write_bytes(template.replace(b"482915", b"771204"))

    run_pipeline([source], llm_server_double.base_url, telemetry=builder)

    roots = [s for s in exporter.get_finished_spans() if s.parent is None]
    assert len(roots) == 2
    assert roots[0].context.trace_id != roots[1].context.trace_id


# C25: under load against a slow server nothing is dropped silently.
def test_c25_backlog_against_slow_server_is_accounted(langfuse_double, make_telemetry):
    telemetry = make_telemetry(langfuse_double, batch_spans=500)
    langfuse_double.add_latency(0.3, path=OTLP_TRACES_PATH)

    emit(telemetry, 3000, "load")
    midway = telemetry.health().counts
    assert telemetry.reporter.force_flush(60_000)

    final = telemetry.health().counts
    assert midway.balanced
    assert midway.emitted == 3000
    assert final.exported == 3000
    assert final.dropped == 0
    langfuse_double.flush_ingestion()
    assert len({row.id for row in langfuse_double.event_rows()}) == 3000


# C28: usage accounting does not depend on telemetry being on.
def test_c28_usage_totals_same_with_and_without_telemetry(tmp_path, llm_server_double, span_memory):
    from mailsift.store.database import create_db_engine, upgrade

    from ..conftest import make_run_pipeline

    totals = []
    for name, telemetry in (("off", None), ("on", span_memory[0])):
        engine = create_db_engine(f"sqlite:///{tmp_path / name}.db")
        upgrade(engine)
        make_run_pipeline(engine)([SAMPLES], llm_server_double.base_url, telemetry=telemetry)
        with Session(engine) as session:
            totals.append(session.scalar(select(func.sum(LLMCall.total_tokens))))
    assert totals[0] == totals[1] > 0


def test_accounting_mismatch_is_an_error(langfuse_double, make_telemetry, caplog, monkeypatch):
    caplog.set_level(logging.ERROR)
    telemetry = make_telemetry(langfuse_double)
    monkeypatch.setattr(
        telemetry.reporter.outbox, "add", lambda *args: (_ for _ in ()).throw(OSError("disk full"))
    )

    emit(telemetry, 3, "lost")

    assert not telemetry.reporter.check_balance()
    assert telemetry.stats.write_failures == 3
    assert any("accounting mismatch" in r.getMessage() for r in caplog.records)
    assert any("disk full" in r.getMessage() for r in caplog.records)


def test_metrics_endpoint_serves_prometheus_text(langfuse_double, make_telemetry):
    telemetry = make_telemetry(langfuse_double)
    emit(telemetry, 4, "metrics")
    telemetry.reporter.force_flush(10_000)
    server = MetricsServer(telemetry.health, port=0).start()
    try:
        text = httpx.get(f"http://127.0.0.1:{server.port}/metrics", timeout=5).text
        health = httpx.get(f"http://127.0.0.1:{server.port}/health", timeout=5).json()
    finally:
        server.stop()

    assert "mailsift_telemetry_spans_exported_total 4" in text
    assert 'mailsift_telemetry_breaker_state{state="closed"} 1' in text
    assert "mailsift_telemetry_accounting_balanced 1" in text
    assert health["exported"] == 4 and health["balanced"] is True
    assert isinstance(telemetry.health(), HealthSnapshot)


def test_metrics_server_refuses_non_loopback():
    with pytest.raises(ValueError, match="loopback"):
        MetricsServer(lambda: None, port=0, host="0.0.0.0")  # type: ignore[arg-type]


def test_sigterm_handler_only_in_main_thread():
    import threading

    from mailsift.telemetry.lifecycle import exit_on_sigterm

    results = []
    thread = threading.Thread(target=lambda: results.append(exit_on_sigterm()))
    thread.start()
    thread.join()

    assert results == [False]
    assert os.getpid()
