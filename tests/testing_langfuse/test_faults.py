"""Scripted faults of the double: statuses, latency, dropped connections, outages."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from mailsift.testing.langfuse import INGESTION_PATH, OTLP_TRACES_PATH, LangfuseDouble

NOW = "2026-03-01T10:00:00.000Z"
LEGACY = pytest.mark.parametrize("langfuse_double", [{"mode": "legacy"}], indirect=True)


def trace_event(event_id: str, trace_id: str) -> dict[str, Any]:
    return {"id": event_id, "timestamp": NOW, "type": "trace-create", "body": {"id": trace_id}}


def post_batch(double: LangfuseDouble, batch: list[dict[str, Any]]) -> httpx.Response:
    return httpx.post(
        double.base_url + INGESTION_PATH,
        json={"batch": batch},
        headers=double.basic_auth_header(),
        timeout=5.0,
    )


def otlp_body(span_ids: list[str]) -> bytes:
    spans = [
        {
            "traceId": "5b8efff798038103d269b633813fc60c",
            "spanId": span_id,
            "name": span_id,
            "startTimeUnixNano": "1767225600000000000",
        }
        for span_id in span_ids
    ]
    return json.dumps({"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}).encode()


@LEGACY
def test_scripted_503_then_success(langfuse_double: LangfuseDouble) -> None:
    langfuse_double.fail_next(503, times=2)
    batch = [trace_event("ev-1", "t1")]

    first = post_batch(langfuse_double, batch)
    second = post_batch(langfuse_double, batch)
    third = post_batch(langfuse_double, batch)
    langfuse_double.flush_ingestion()

    assert [first.status_code, second.status_code, third.status_code] == [503, 503, 207]
    assert first.json() == {"message": "Service Unavailable"}
    assert langfuse_double.request_count(INGESTION_PATH) == 3
    assert [trace.id for trace in langfuse_double.traces()] == ["t1"]


def test_429_carries_retry_after(langfuse_double: LangfuseDouble) -> None:
    langfuse_double.fail_next(429, retry_after_s=7)

    response = post_batch(langfuse_double, [])

    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert response.headers["X-RateLimit-Remaining"] == "0"
    assert response.json()["code"] == "rate_limited"
    assert response.json()["details"]["retryAfterSeconds"] == 7


@pytest.mark.parametrize(
    ("status", "content_type", "marker"),
    [
        (401, "application/json", "UnauthorizedError"),
        (403, "application/json", "ForbiddenError"),
        (413, "text/plain", "Body exceeded 4.5mb limit"),
        (500, "application/json", "Internal"),
        (502, "text/html", "502 Bad Gateway"),
        (504, "text/html", "504 Gateway Timeout"),
    ],
)
def test_status_faults_use_realistic_bodies(
    langfuse_double: LangfuseDouble, status: int, content_type: str, marker: str
) -> None:
    langfuse_double.fail_next(status)

    response = post_batch(langfuse_double, [])

    assert response.status_code == status
    assert response.headers["content-type"].startswith(content_type)
    assert marker in response.text


def test_otlp_status_fault(langfuse_double: LangfuseDouble) -> None:
    langfuse_double.fail_next(401, path=OTLP_TRACES_PATH)

    response = httpx.post(
        langfuse_double.otlp_traces_url, content=b"{}", headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 401
    assert response.json() == {
        "message": "Invalid credentials. Confirm that you've configured the correct host."
    }


@LEGACY
def test_connection_dropped_after_body(langfuse_double: LangfuseDouble) -> None:
    langfuse_double.drop_connection_next()

    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        post_batch(langfuse_double, [trace_event("ev-1", "t1")])
    langfuse_double.flush_ingestion()

    assert langfuse_double.request_count(INGESTION_PATH) == 1
    assert langfuse_double.requests(INGESTION_PATH)[0].body.startswith(b'{"batch"')
    assert langfuse_double.traces() == []


@LEGACY
def test_dropped_ack_after_storing_then_retry_upserts(langfuse_double: LangfuseDouble) -> None:
    langfuse_double.drop_connection_next(process_first=True)
    batch = [trace_event("ev-1", "t1")]

    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        post_batch(langfuse_double, batch)
    retry = post_batch(langfuse_double, batch)
    langfuse_double.flush_ingestion()

    assert retry.status_code == 207
    assert [trace.id for trace in langfuse_double.traces()] == ["t1"]


def test_down_then_up_on_same_port(langfuse_double: LangfuseDouble) -> None:
    port = langfuse_double.port
    health = langfuse_double.base_url + "/api/public/health"

    langfuse_double.go_down()
    with pytest.raises(httpx.ConnectError):
        httpx.get(health, timeout=2.0)
    langfuse_double.come_up()
    response = httpx.get(health, timeout=2.0)

    assert langfuse_double.port == port
    assert response.status_code == 200


def test_latency_applies_to_next_requests(langfuse_double: LangfuseDouble) -> None:
    health = langfuse_double.base_url + "/api/public/health"
    langfuse_double.add_latency(0.3, path="/api/public/health", times=1)

    started = time.monotonic()
    httpx.get(health)
    slow_s = time.monotonic() - started
    started = time.monotonic()
    httpx.get(health)
    fast_s = time.monotonic() - started

    assert slow_s >= 0.3
    assert fast_s < 0.3


def test_latency_beyond_client_timeout(langfuse_double: LangfuseDouble) -> None:
    langfuse_double.add_latency(1.0, path=INGESTION_PATH, times=1)

    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            langfuse_double.base_url + INGESTION_PATH,
            json={"batch": []},
            headers=langfuse_double.basic_auth_header(),
            timeout=0.2,
        )


@LEGACY
def test_reject_events_by_id_and_predicate(langfuse_double: LangfuseDouble) -> None:
    langfuse_double.reject_events_next(
        ids=["ev-2"],
        predicate=lambda raw: raw.get("body", {}).get("id") == "t3",
        status=500,
        message="Internal Server Error",
        error="worker failed",
    )
    batch = [trace_event("ev-1", "t1"), trace_event("ev-2", "t2"), trace_event("ev-3", "t3")]

    response = post_batch(langfuse_double, batch)
    langfuse_double.flush_ingestion()

    assert response.status_code == 207
    assert response.json()["successes"] == [{"id": "ev-1", "status": 201}]
    assert sorted(error["id"] for error in response.json()["errors"]) == ["ev-2", "ev-3"]
    assert {error["status"] for error in response.json()["errors"]} == {500}
    assert [trace.id for trace in langfuse_double.traces()] == ["t1"]
    assert sorted(outcome.event_id for outcome in langfuse_double.rejected_events()) == [
        "ev-2",
        "ev-3",
    ]


def test_otlp_partial_success_fault(langfuse_double: LangfuseDouble) -> None:
    langfuse_double.reject_events_next(
        ids=["aaaaaaaaaaaaaaa2"], path=OTLP_TRACES_PATH, error="span too large"
    )
    headers = {**langfuse_double.basic_auth_header(), "Content-Type": "application/json"}

    response = httpx.post(
        langfuse_double.otlp_traces_url,
        content=otlp_body(["aaaaaaaaaaaaaaa1", "aaaaaaaaaaaaaaa2"]),
        headers=headers,
    )
    langfuse_double.flush_ingestion()

    assert response.status_code == 200
    assert response.json() == {
        "partialSuccess": {"rejectedSpans": "1", "errorMessage": "span too large"}
    }
    assert [row.id for row in langfuse_double.event_rows()] == ["aaaaaaaaaaaaaaa1"]


def test_otlp_partial_success_in_protobuf(langfuse_double: LangfuseDouble) -> None:
    langfuse_double.reject_events_next(predicate=lambda span: True, path=OTLP_TRACES_PATH)
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add()
    span.trace_id = bytes(range(16))
    span.span_id = bytes(range(8))
    headers = {**langfuse_double.basic_auth_header(), "Content-Type": "application/x-protobuf"}

    response = httpx.post(
        langfuse_double.otlp_traces_url, content=request.SerializeToString(), headers=headers
    )
    reply = ExportTraceServiceResponse.FromString(response.content)

    assert response.headers["content-type"] == "application/x-protobuf"
    assert reply.partial_success.rejected_spans == 1


def test_ingestion_suspended_gets_403(langfuse_double: LangfuseDouble) -> None:
    langfuse_double.set_ingestion_suspended(True)

    response = post_batch(langfuse_double, [])

    assert response.status_code == 403
    assert response.json() == {
        "error": "ForbiddenError",
        "message": "Ingestion suspended: Usage threshold exceeded. Please upgrade your plan.",
    }


def test_unknown_path_gets_html_404(langfuse_double: LangfuseDouble) -> None:
    response = httpx.post(langfuse_double.base_url + "/v1/traces", content=b"x")

    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert langfuse_double.request_counts()["/v1/traces"] == 1


def test_reply_next_sends_exact_response(langfuse_double: LangfuseDouble) -> None:
    langfuse_double.reply_next(
        404, "<html>Not Found</html>", content_type="text/html", headers={"X-Proxy": "nginx"}
    )

    response = post_batch(langfuse_double, [])
    after = post_batch(langfuse_double, [])

    assert response.status_code == 404
    assert response.text == "<html>Not Found</html>"
    assert response.headers["X-Proxy"] == "nginx"
    assert after.status_code == 207
    assert langfuse_double.pending_faults() == 0


def test_clear_faults_and_reset(langfuse_double: LangfuseDouble) -> None:
    langfuse_double.fail_next(500, times=3)
    langfuse_double.clear_faults()
    score = {"id": "s1", "traceId": "t1", "name": "quality", "value": 1}
    batch = [{"id": "ev-s", "timestamp": NOW, "type": "score-create", "body": score}]

    response = post_batch(langfuse_double, batch)
    accepted = [outcome.event_id for outcome in langfuse_double.accepted_events()]
    langfuse_double.reset()

    assert response.status_code == 207
    assert accepted == ["ev-s"]
    assert langfuse_double.scores() == []
    assert langfuse_double.request_count() == 0
    assert langfuse_double.outcomes() == []
