"""The sample mail reported to the Langfuse double, read back as a user of Langfuse would.

v3 in legacy mode gets the batch-ingestion exporter and is read through
`/api/public/traces/{id}`; v4 in events_only mode gets OTLP and is read through
`/api/public/v2/observations`. Both are chosen automatically from the server's version.
"""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from mailsift.store.tables import Email, LLMCall, Sync
from mailsift.telemetry.ids import trace_id_for

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
SAMPLE_COUNT = len(list(SAMPLES.glob("*.eml")))


def _report_samples(double, run_pipeline, llm_server_double, make_telemetry, **extra: str):
    telemetry = make_telemetry(double, **extra)
    summary = run_pipeline([SAMPLES], llm_server_double.base_url, telemetry=telemetry)
    telemetry.close()
    double.flush_ingestion()
    return summary, telemetry


def _all_delivered(telemetry) -> None:
    counts = telemetry.health().counts
    assert counts.emitted == counts.exported == telemetry.stats.ended > 0
    assert counts.pending == counts.quarantined == counts.dropped == 0
    assert telemetry.health().balanced


def _read(double, path: str, **params) -> httpx.Response:
    auth = (double.config.public_key, double.config.secret_key)
    return httpx.get(f"{double.base_url}{path}", params=params, auth=auth, timeout=10)


def _stored(engine):
    with Session(engine) as session:
        emails = session.scalars(select(Email)).all()
        calls = session.scalars(select(LLMCall)).all()
        syncs = {sync.id: sync for sync in session.scalars(select(Sync))}
    return emails, calls, syncs


@pytest.mark.parametrize("langfuse_double", [{"mode": "legacy"}], indirect=True)
def test_v3_legacy_mode_reads_back_every_trace(
    langfuse_double, run_pipeline, llm_server_double, make_telemetry, engine
):
    summary, telemetry = _report_samples(
        langfuse_double, run_pipeline, llm_server_double, make_telemetry
    )

    assert telemetry.stats.path == "legacy"
    _all_delivered(telemetry)
    assert langfuse_double.rejected_events() == []
    emails, calls, _ = _stored(engine)
    assert len(emails) == SAMPLE_COUNT == summary.processed
    for email in emails:
        response = _read(
            langfuse_double, f"/api/public/traces/{trace_id_for(email.external_id):032x}"
        )
        assert response.status_code == 200, response.text
        trace = response.json()
        assert trace["userId"]
        assert trace["sessionId"] == f"sync-{email.sync_id}"
        assert trace["metadata"]["email_id"] == email.id
        assert trace["metadata"]["sender_domain"] == email.sender_domain
        assert trace["metadata"]["subject"] == email.subject
        assert f"type:{email.email_type}" in trace["tags"]
        assert trace["output"], "the extracted fields are the trace output"
        generations = [o for o in trace["observations"] if o["type"] == "GENERATION"]
        own_calls = [c for c in calls if c.email_id == email.id]
        assert len(generations) == len(own_calls)
        by_request = {c.request_id: c for c in own_calls}
        for generation in generations:
            call = by_request[generation["metadata"]["request_id"]]
            assert generation["usageDetails"]["input"] == call.prompt_tokens
            assert generation["usageDetails"]["output"] == call.completion_tokens
            assert generation["usageDetails"]["total"] == call.total_tokens
            assert generation["model"] == call.model
            assert generation["promptName"] == call.prompt_name
            assert generation["promptVersion"] == int(call.prompt_version)


def test_v4_events_only_reads_back_through_v2_observations(
    langfuse_double, run_pipeline, llm_server_double, make_telemetry, engine
):
    summary, telemetry = _report_samples(
        langfuse_double, run_pipeline, llm_server_double, make_telemetry
    )

    assert telemetry.stats.path == "otlp"
    _all_delivered(telemetry)
    assert langfuse_double.rejected_events() == []
    emails, calls, _ = _stored(engine)
    assert summary.processed == SAMPLE_COUNT
    for email in emails:
        trace_id = f"{trace_id_for(email.external_id):032x}"
        response = _read(
            langfuse_double,
            "/api/public/v2/observations",
            traceId=trace_id,
            fields="core,basic,usage,model,prompt,metadata,trace_context",
            limit=100,
        )
        assert response.status_code == 200, response.text
        observations = response.json()["data"]
        assert observations
        for observation in observations:
            assert observation["userId"]
            assert observation["sessionId"] == f"sync-{email.sync_id}"
            assert f"type:{email.email_type}" in observation["tags"]
        generations = [o for o in observations if o["type"] == "GENERATION"]
        own_calls = {c.request_id: c for c in calls if c.email_id == email.id}
        assert len(generations) == len(own_calls)
        for generation in generations:
            call = own_calls[generation["metadata"]["request_id"]]
            assert generation["usageDetails"]["input"] == call.prompt_tokens
            assert generation["usageDetails"]["output"] == call.completion_tokens
            assert generation["providedModelName"] == call.model


@pytest.mark.parametrize(
    "langfuse_double", [{"mode": "events_only", "version": "3.999.0"}], indirect=True
)
def test_refused_legacy_write_switches_to_otlp_once(
    langfuse_double, run_pipeline, llm_server_double, make_telemetry, caplog
):
    caplog.set_level(logging.WARNING, logger="mailsift.telemetry")
    summary, telemetry = _report_samples(
        langfuse_double, run_pipeline, llm_server_double, make_telemetry
    )

    switches = [r for r in caplog.records if "switching to OTLP" in r.getMessage()]
    assert len(switches) == 1
    assert "Event type not accepted" in switches[0].getMessage()
    assert telemetry.stats.path == "otlp"
    _all_delivered(telemetry)
    assert summary.processed == SAMPLE_COUNT
    rows = langfuse_double.event_rows()
    assert len({row.trace_id for row in rows}) == SAMPLE_COUNT
