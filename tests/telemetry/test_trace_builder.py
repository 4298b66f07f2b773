"""The trace of an email: structure, context fields, ids and attribute names."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from mailsift.sources.model import RawMessage
from mailsift.store.tables import Email, LLMCall
from mailsift.telemetry import attributes as attr
from mailsift.telemetry.ids import trace_id_for

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
SAMPLE_COUNT = len(list(SAMPLES.glob("*.eml")))


def test_one_trace_per_email_with_named_steps(sample_spans):
    roots = [span for span in sample_spans if span.parent is None]
    names = Counter(span.name for span in sample_spans)

    assert len(roots) == SAMPLE_COUNT
    assert names["decode"] == names["html_to_text"] == names["store"] == SAMPLE_COUNT
    assert names["validate"] == SAMPLE_COUNT
    assert names["classify"] == names["extract"] == SAMPLE_COUNT - 1  # markup email: no LLM
    assert sum(
        1 for s in sample_spans if s.attributes.get(attr.OBSERVATION_TYPE) == "generation"
    ) == 2 * (SAMPLE_COUNT - 1)


def test_trace_ids_derive_from_identity(sample_spans, engine):
    with Session(engine) as session:
        identities = set(session.scalars(select(Email.external_id)))

    trace_ids = {span.context.trace_id for span in sample_spans}
    assert trace_ids == {trace_id_for(identity) for identity in identities}


def test_generation_usage_matches_stored_calls(sample_spans, engine):
    with Session(engine) as session:
        stored = {call.request_id: call for call in session.scalars(select(LLMCall))}

    generations = [
        s for s in sample_spans if s.attributes.get(attr.OBSERVATION_TYPE) == "generation"
    ]
    assert len(generations) == len(stored)
    for span in generations:
        call = stored[span.attributes[f"{attr.OBSERVATION_METADATA_PREFIX}request_id"]]
        usage = json.loads(span.attributes[attr.USAGE_DETAILS])
        assert usage == {
            "input": call.prompt_tokens,
            "output": call.completion_tokens,
            "total": call.total_tokens,
        }
        assert span.attributes[attr.MODEL_NAME] == call.model
        assert span.attributes[attr.PROMPT_NAME] == call.prompt_name


def test_trace_attributes_on_every_span(sample_spans):
    for span in sample_spans:
        attributes = span.attributes
        assert attributes[attr.USER_ID]
        assert attributes[attr.SESSION_ID].startswith("sync-")
        assert attributes[attr.TRACE_NAME] == "email"
        assert any(tag.startswith("type:") for tag in attributes[attr.TRACE_TAGS])
        assert attributes[f"{attr.TRACE_METADATA_PREFIX}email_id"]


def test_no_attribute_name_changes_span_meaning(sample_spans):
    for span in sample_spans:
        assert not set(span.attributes) & attr.FORBIDDEN_NAMES
        is_generation = span.attributes.get(attr.OBSERVATION_TYPE) == "generation"
        has_model = attr.MODEL_NAME in span.attributes or "gen_ai.request.model" in span.attributes
        assert has_model == is_generation


def test_gmail_id_from_database_reaches_every_span(
    monkeypatch, span_memory, run_pipeline, llm_server_double, engine
):
    # A source that knows Gmail ids, as the IMAP sync will be.
    raw = (SAMPLES / "08-security-alert.eml").read_bytes()
    message = RawMessage(
        raw=raw,
        location="imap://INBOX/7",
        gmail_message_id="1790000000000001",
        gmail_thread_id="1790000000000000",
    )
    monkeypatch.setattr("mailsift.pipeline.runner.open_source", lambda *_: iter([message]))
    builder, exporter = span_memory

    run_pipeline([SAMPLES], llm_server_double.base_url, telemetry=builder)

    with Session(engine) as session:
        stored = session.scalars(select(Email)).one().gmail_message_id
    spans = exporter.get_finished_spans()
    assert stored == "1790000000000001"
    assert spans
    for span in spans:
        assert span.attributes[f"{attr.TRACE_METADATA_PREFIX}gmail_message_id"] == stored


def test_failed_extraction_marks_levels(span_memory, run_pipeline, tmp_path):
    from mailsift.testing.llm import LLMServerDouble

    builder, exporter = span_memory
    source = tmp_path / "mail"
    source.mkdir()
    (source / "a.eml").write_bytes((SAMPLES / "03-receipt.eml").read_bytes())
    with LLMServerDouble(ignore_schema=True) as server:
        run_pipeline([source], server.base_url, telemetry=builder)

    spans = exporter.get_finished_spans()
    root = next(span for span in spans if span.parent is None)
    assert root.attributes[attr.OBSERVATION_LEVEL] == "ERROR"
    assert "invalid after one repair attempt" in root.attributes[attr.OBSERVATION_STATUS_MESSAGE]
