"""Known ways telemetry gets lost or wrong, each reproduced against the Langfuse double.

Each test covers a whole kind of failure: the reply is read, the failure is counted and
logged with the server's reason, once, and the email pipeline never notices.
"""

from __future__ import annotations

import gzip
import logging
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from mailsift.llm.wire import parse_usage
from mailsift.telemetry import attributes as attr
from mailsift.testing.langfuse.config import INGESTION_PATH, OTLP_TRACES_PATH

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
SAMPLE_COUNT = len(list(SAMPLES.glob("*.eml")))


def _run(double, run_pipeline, llm_server_double, make_telemetry, **extra):
    telemetry = make_telemetry(double, **extra)
    summary = run_pipeline([SAMPLES], llm_server_double.base_url, telemetry=telemetry)
    telemetry.close(timeout_s=5)
    double.flush_ingestion()
    return summary, telemetry


def _errors(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


# C05: a 207 whose body lists rejected events must not count as success.
@pytest.mark.parametrize("langfuse_double", [{"mode": "legacy"}], indirect=True)
def test_c05_rejected_events_in_207_are_counted_and_logged(
    langfuse_double, run_pipeline, llm_server_double, make_telemetry, caplog
):
    caplog.set_level(logging.ERROR)
    langfuse_double.reject_events_next(
        predicate=lambda event: event.get("type") == "generation-create",
        message="Invalid request data",
        error="usageDetails: scripted rejection",
        times=1000,
    )

    summary, telemetry = _run(langfuse_double, run_pipeline, llm_server_double, make_telemetry)

    rejected_ids = {o.event_id for o in langfuse_double.rejected_events()}
    counts = telemetry.health().counts
    assert rejected_ids
    assert telemetry.stats.rejected == counts.quarantined == len(rejected_ids)
    assert counts.exported + counts.quarantined == counts.emitted
    reasons = [row["reason"] for row in telemetry.reporter.outbox.quarantined_rows()]
    assert all("scripted rejection" in reason for reason in reasons)
    logged = " ".join(_errors(caplog))
    for event_id in rejected_ids:
        assert event_id in logged
    assert "scripted rejection" in logged
    # Rejected events are not retried blindly: one request carried them.
    assert langfuse_double.request_count(INGESTION_PATH) >= 1
    assert summary.processed == SAMPLE_COUNT


# C06: a batch too large for the server or a proxy is split, never dropped whole.
@pytest.mark.parametrize(
    "langfuse_double", [{"mode": "legacy", "max_body_bytes": 16_000}], indirect=True
)
def test_c06_too_large_batches_are_split_until_they_fit(
    langfuse_double, run_pipeline, llm_server_double, make_telemetry, caplog
):
    caplog.set_level(logging.WARNING)

    summary, telemetry = _run(langfuse_double, run_pipeline, llm_server_double, make_telemetry)

    counts = telemetry.health().counts
    assert counts.pending == counts.quarantined == 0
    assert counts.exported == counts.emitted
    assert langfuse_double.request_count(INGESTION_PATH) > 2
    assert any("splitting" in r.getMessage() for r in caplog.records)
    assert not any("JSONDecodeError" in r.getMessage() for r in caplog.records)
    assert len(langfuse_double.traces()) == SAMPLE_COUNT == summary.processed


# C11 and C12: usage in every server's shape becomes integer input/output/total, cached
# tokens are split out once, and nothing else is subtracted.
@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (
            {"usage": {"prompt_tokens": 2244, "completion_tokens": 21, "total_tokens": 2265}},
            {"input": 2244, "output": 21, "total": 2265},
        ),
        (
            {
                "usage": {
                    "prompt_tokens": 100,
                    "completion_tokens": 10,
                    "total_tokens": 110,
                    "prompt_tokens_details": {"cached_tokens": 60},
                }
            },
            {"input": 40, "input_cached_tokens": 60, "output": 10, "total": 110},
        ),
        (
            {
                "usage": {"prompt_tokens": 30, "completion_tokens": 5, "total_tokens": 35},
                "timings": {"prompt_ms": 3.0, "predicted_ms": 9.0, "cache_n": 12},
            },
            {"input": 18, "input_cached_tokens": 12, "output": 5, "total": 35},
        ),
        ({"usage": {"prompt_tokens": 7, "completion_tokens": 3}}, {"input": 7, "output": 3}),
    ],
)
def test_c11_c12_usage_mapped_per_server_shape(reply, expected):
    usage = parse_usage(reply)

    details, problems = attr.usage_details(
        input_tokens=usage.prompt_tokens,
        output_tokens=usage.completion_tokens,
        total_tokens=usage.total_tokens,
        cached_tokens=usage.cached_tokens,
    )

    assert details == expected
    assert problems == []


def test_c12_inconsistent_usage_is_sent_as_reported_with_a_problem():
    details, problems = attr.usage_details(
        input_tokens=2244, output_tokens=2265, total_tokens=2265, cached_tokens=None
    )

    assert details == {"input": 2244, "output": 2265, "total": 2265}
    assert problems and "total" in problems[0]


def test_c11_unusable_usage_is_flagged():
    details, problems = attr.usage_details(
        input_tokens=None, output_tokens=None, total_tokens=None, cached_tokens=None
    )

    assert details == {}
    assert problems == []  # nothing reported; the trace builder warns for succeeded calls


# C22: a wrong URL answers 404 with an HTML page: one readable ERROR, every span counted.
def test_c22_wrong_endpoint_is_one_readable_error(
    langfuse_double, run_pipeline, llm_server_double, make_telemetry, caplog
):
    caplog.set_level(logging.ERROR)
    page = "<html><body><h1>404</h1>This page could not be found.</body></html>"
    langfuse_double.reply_next(
        404, page, path=OTLP_TRACES_PATH, content_type="text/html", times=1000
    )

    summary, telemetry = _run(langfuse_double, run_pipeline, llm_server_double, make_telemetry)

    errors = [m for m in _errors(caplog) if "kept in the outbox" in m]
    assert len(errors) == 1
    assert "404" in errors[0] and "could not be found" in errors[0]
    counts = telemetry.health().counts
    assert counts.pending == counts.emitted == telemetry.stats.ended
    assert summary.processed == SAMPLE_COUNT


# C23: wrong keys. One ERROR naming the 401, not one per batch; the pipeline is unaffected.
def test_c23_wrong_keys_fail_loudly_once(
    langfuse_double, run_pipeline, llm_server_double, make_telemetry, caplog
):
    caplog.set_level(logging.ERROR)

    summary, telemetry = _run(
        langfuse_double,
        run_pipeline,
        llm_server_double,
        make_telemetry,
        public_key="pk-lf-wrong",
        secret_key="sk-lf-wrong",
    )

    failures = [m for m in _errors(caplog) if "kept in the outbox" in m]
    assert len(failures) == 1
    assert "401" in failures[0]
    assert "sk-lf-wrong" not in " ".join(_errors(caplog))
    counts = telemetry.health().counts
    assert counts.pending == counts.emitted
    assert telemetry.stats.last_error is not None
    assert telemetry.stats.last_error.status == 401
    assert summary.processed == SAMPLE_COUNT
    assert summary.failed == 0


# C26: an OTLP reply with partial success is read; rejected spans are counted, not retried.
def test_c26_otlp_partial_success_is_counted(
    langfuse_double, run_pipeline, llm_server_double, make_telemetry, caplog
):
    caplog.set_level(logging.ERROR)
    langfuse_double.reject_events_next(
        predicate=lambda span: span.get("type") == "GENERATION",
        path=OTLP_TRACES_PATH,
        message="generation rejected by a scripted fault",
        times=1000,
    )

    _, telemetry = _run(langfuse_double, run_pipeline, llm_server_double, make_telemetry)

    generations = sum(
        1 for o in langfuse_double.rejected_events() if o.event_type.upper() == "GENERATION"
    )
    assert telemetry.stats.path == "otlp"
    assert telemetry.stats.unidentified_rejections > 0
    assert telemetry.stats.unidentified_rejections == generations or generations == 0
    assert any("rejected" in m for m in _errors(caplog))
    # Every span reached the server exactly once: nothing was retried.
    sent = 0
    for request in langfuse_double.requests(OTLP_TRACES_PATH):
        export = ExportTraceServiceRequest()
        export.ParseFromString(gzip.decompress(request.body))
        sent += sum(len(s.spans) for r in export.resource_spans for s in r.scope_spans)
    assert sent == telemetry.health().counts.emitted
