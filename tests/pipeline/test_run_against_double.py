"""The whole pipeline over the sample mail, against the OpenAI-compatible server double."""

from __future__ import annotations

import shutil
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailsift.store.tables import Email, EmailRaw, Extraction, LLMCall
from mailsift.testing.llm import Fault, LLMServerDouble, TimingModel
from mailsift.testing.llm.protocol import count_tokens, prompt_text

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
SAMPLE_COUNT = len(list(SAMPLES.glob("*.eml")))


def _count(engine, model) -> int:
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def _one_sample(tmp_path: Path, name: str) -> Path:
    folder = tmp_path / "mail"
    folder.mkdir(exist_ok=True)
    shutil.copy(SAMPLES / name, folder / name)
    return folder


def test_samples_extracted_and_stored(run_pipeline, engine, llm_server_double):
    summary = run_pipeline([SAMPLES], llm_server_double.base_url)

    assert summary.failed == 0, summary.failures
    assert summary.processed == SAMPLE_COUNT
    assert summary.by_provenance["schema.org"] == 1
    assert _count(engine, Email) == SAMPLE_COUNT
    assert _count(engine, EmailRaw) == SAMPLE_COUNT
    with Session(engine) as session:
        calls = session.scalars(select(LLMCall)).all()
        markup = session.scalars(
            select(Extraction).where(Extraction.provenance == "schema.org")
        ).one()
    assert calls and all(call.prompt_tokens and call.prompt_tokens > 0 for call in calls)
    assert markup.gpu_spent is False
    assert markup.fields["reference"] == "HV7731Q"
    # The schema.org email never reached the server: one classify + one extract per other email.
    assert len(llm_server_double.chat_requests) == 2 * (SAMPLE_COUNT - 1)


def test_rerun_skips_everything_and_reprocess_redoes_it(run_pipeline, engine, llm_server_double):
    run_pipeline([SAMPLES], llm_server_double.base_url)
    requests_after_first = len(llm_server_double.chat_requests)

    again = run_pipeline([SAMPLES], llm_server_double.base_url)

    assert again.skipped == SAMPLE_COUNT
    assert again.processed == 0
    assert len(llm_server_double.chat_requests) == requests_after_first

    redone = run_pipeline([SAMPLES], llm_server_double.base_url, reprocess=True)

    assert redone.processed == SAMPLE_COUNT
    assert _count(engine, Email) == SAMPLE_COUNT
    assert _count(engine, Extraction) == SAMPLE_COUNT


def test_invalid_reply_repaired_with_validation_error(
    run_pipeline, engine, llm_server_double, tmp_path
):
    source = _one_sample(tmp_path, "03-receipt.eml")
    # classify succeeds, the extract reply is not JSON, the repair reply is valid
    llm_server_double.script(Fault.delay(0), Fault.invalid_json())

    summary = run_pipeline([source], llm_server_double.base_url)

    assert summary.processed == 1
    repair_request = llm_server_double.chat_requests[-1].body
    assert "Validation error" in repair_request["messages"][-1]["content"]
    with Session(engine) as session:
        extraction = session.scalars(select(Extraction)).one()
        purposes = [c.purpose for c in session.scalars(select(LLMCall).order_by(LLMCall.id))]
    assert extraction.valid
    assert extraction.repaired
    assert purposes == ["classify", "extract", "repair"]


def test_server_ignoring_schema_is_recorded_as_failure(run_pipeline, engine, tmp_path):
    source = _one_sample(tmp_path, "03-receipt.eml")
    with LLMServerDouble(ignore_schema=True) as server:
        summary = run_pipeline([source], server.base_url)

    assert summary.processed == 0
    assert summary.failed == 1
    assert "invalid after one repair attempt" in summary.failures[0].reason
    with Session(engine) as session:
        email = session.scalars(select(Email)).one()
    assert email.status == "failed"
    assert "invalid after one repair attempt" in (email.error or "")


def test_server_errors_recorded_and_run_continues(
    run_pipeline, engine, llm_server_double, tmp_path
):
    source = _one_sample(tmp_path, "03-receipt.eml")
    shutil.copy(SAMPLES / "08-security-alert.eml", source)
    llm_server_double.script(Fault.status(503, "queue is full"))

    summary = run_pipeline([source], llm_server_double.base_url, concurrency=1)

    assert summary.processed == 1
    assert summary.failed == 1
    reason = summary.failures[0].reason
    assert "503" in reason and "queue is full" in reason and "email mid:" in reason
    with Session(engine) as session:
        failed_calls = session.scalars(select(LLMCall).where(LLMCall.status == "failed")).all()
    assert [call.http_status for call in failed_calls] == [503]
    assert failed_calls[0].prompt_tokens is None


def test_concurrency_bounds_requests_in_flight(run_pipeline, tmp_path):
    timing = TimingModel(decode_step_s=0.01, completion_tokens=4)
    with LLMServerDouble(timing=timing) as server:
        summary = run_pipeline([SAMPLES], server.base_url, concurrency=2)
        max_in_flight = server.max_in_flight

    assert summary.failed == 0
    assert max_in_flight == 2


def test_usage_stored_matches_server_report(run_pipeline, engine, llm_server_double, tmp_path):
    source = _one_sample(tmp_path, "08-security-alert.eml")

    run_pipeline([source], llm_server_double.base_url)

    with Session(engine) as session:
        calls = session.scalars(select(LLMCall).order_by(LLMCall.id)).all()
    requests = llm_server_double.chat_requests
    assert len(calls) == len(requests) == 2
    for call, request in zip(calls, requests, strict=True):
        expected_prompt = count_tokens(prompt_text(request.body["messages"]))
        assert call.prompt_tokens == expected_prompt
        assert call.total_tokens == call.prompt_tokens + call.completion_tokens
        assert call.request_id == request.body["request_id"]
        assert call.queue_ms is None  # the double sends no metrics unless asked
