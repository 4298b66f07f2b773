"""The OTLP route: encodings, compression, whole-export rejection and the span mapping."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Status, StatusCode

from mailsift.testing.langfuse import OBSERVATIONS_V2_PATH, OTLP_TRACES_PATH, LangfuseDouble

TRACE_ID = "5b8efff798038103d269b633813fc60c"
ROOT_ID = "eee19b7ec3c1b174"
CHILD_ID = "eee19b7ec3c1b173"
START_NS = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z


def string_attribute(key: str, value: str) -> dict[str, Any]:
    return {"key": key, "value": {"stringValue": value}}


def json_export(spans: list[dict[str, Any]]) -> dict[str, Any]:
    resource = {"attributes": [string_attribute("service.name", "mailsift")]}
    return {
        "resourceSpans": [
            {"resource": resource, "scopeSpans": [{"scope": {"name": "mailsift"}, "spans": spans}]}
        ]
    }


def json_span(
    span_id: str, name: str, attributes: list[dict[str, Any]], parent: str | None = None
) -> dict[str, Any]:
    span = {
        "traceId": TRACE_ID,
        "spanId": span_id,
        "name": name,
        "startTimeUnixNano": str(START_NS),
        "endTimeUnixNano": str(START_NS + 1_500_000_000),
        "attributes": attributes,
    }
    if parent is not None:
        span["parentSpanId"] = parent
    return span


def post_otlp(
    double: LangfuseDouble,
    content: bytes,
    content_type: str,
    extra_headers: dict[str, str] | None = None,
) -> httpx.Response:
    headers = {**double.basic_auth_header(), "Content-Type": content_type, **(extra_headers or {})}
    return httpx.post(double.otlp_traces_url, content=content, headers=headers)


def read_v2(double: LangfuseDouble, **params: str) -> list[dict[str, Any]]:
    response = httpx.get(
        double.base_url + OBSERVATIONS_V2_PATH, params=params, headers=double.basic_auth_header()
    )
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


@pytest.fixture
def tracer_provider(langfuse_double: LangfuseDouble) -> Iterator[TracerProvider]:
    provider = TracerProvider(resource=Resource.create({"service.name": "mailsift"}))
    yield provider
    provider.shutdown()


def add_exporter(
    provider: TracerProvider, double: LangfuseDouble, compression: Compression
) -> None:
    headers = {**double.basic_auth_header(), "x-langfuse-ingestion-version": "4"}
    exporter = OTLPSpanExporter(
        endpoint=double.otlp_traces_url, headers=headers, compression=compression
    )
    provider.add_span_processor(SimpleSpanProcessor(exporter))


@pytest.mark.parametrize("compression", [Compression.NoCompression, Compression.Gzip])
def test_sdk_protobuf_export_reads_back(
    langfuse_double: LangfuseDouble, tracer_provider: TracerProvider, compression: Compression
) -> None:
    add_exporter(tracer_provider, langfuse_double, compression)
    tracer = tracer_provider.get_tracer("mailsift")
    root_attributes: dict[str, Any] = {
        "user.id": "user-7",
        "session.id": "mailbox-3",
        "langfuse.trace.tags": ["invoice", "de"],
        "langfuse.environment": "Staging",
    }
    with tracer.start_as_current_span("parse-email", attributes=root_attributes) as root:
        llm_attributes: dict[str, Any] = {
            "gen_ai.request.model": "qwen2.5-7b",
            "gen_ai.usage.input_tokens": 120,
            "gen_ai.usage.output_tokens": 30,
            "gen_ai.request.temperature": 0.0,
            "langfuse.observation.input": json.dumps([{"role": "user", "content": "Invoice?"}]),
            "langfuse.observation.output": '{"total": "12.50"}',
        }
        with tracer.start_as_current_span("extract", attributes=llm_attributes) as child:
            child.set_status(Status(StatusCode.ERROR, "schema mismatch"))

    trace_id = format(root.get_span_context().trace_id, "032x")
    rows = {
        row["name"]: row
        for row in read_v2(
            langfuse_double, traceId=trace_id, fields="basic,io,model,usage,trace_context"
        )
    }

    assert langfuse_double.request_count(OTLP_TRACES_PATH) == 2
    assert set(rows) == {"parse-email", "extract"}
    extract = rows["extract"]
    assert extract["type"] == "GENERATION"
    assert extract["providedModelName"] == "qwen2.5-7b"
    assert extract["modelParameters"] == {"temperature": 0.0}
    assert extract["usageDetails"] == {"input": 120, "output": 30, "total": 150}
    assert extract["input"] == '[{"role": "user", "content": "Invoice?"}]'
    assert extract["output"] == '{"total": "12.50"}'
    assert extract["level"] == "ERROR"
    assert extract["statusMessage"] == "schema mismatch"
    assert extract["parentObservationId"] == rows["parse-email"]["id"]
    assert extract["userId"] is None
    root_row = rows["parse-email"]
    assert root_row["type"] == "SPAN"
    assert root_row["userId"] == "user-7"
    assert root_row["sessionId"] == "mailbox-3"
    assert root_row["tags"] == ["invoice", "de"]
    assert root_row["environment"] == "staging"
    assert root_row["isRootObservation"] is True


@pytest.mark.parametrize("gzipped", [False, True])
def test_json_export_reads_back(langfuse_double: LangfuseDouble, gzipped: bool) -> None:
    spans = [
        json_span(ROOT_ID, "parse-email", [string_attribute("langfuse.trace.name", "email")]),
        json_span(
            CHILD_ID,
            "classify",
            [string_attribute("langfuse.observation.type", "tool")],
            parent=ROOT_ID,
        ),
    ]
    content = json.dumps(json_export(spans)).encode()
    headers = {"Content-Encoding": "gzip"} if gzipped else {}

    response = post_otlp(
        langfuse_double, gzip.compress(content) if gzipped else content, "application/json", headers
    )

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    rows = {row["id"]: row for row in read_v2(langfuse_double, fields="basic,time,trace_context")}
    assert rows[CHILD_ID]["type"] == "TOOL"
    assert rows[ROOT_ID]["traceName"] == "email"
    assert rows[ROOT_ID]["startTime"] == "2026-01-01T00:00:00.000Z"
    assert rows[ROOT_ID]["endTime"] == "2026-01-01T00:00:01.500Z"


def test_protobuf_request_gets_json_reply(langfuse_double: LangfuseDouble) -> None:
    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add()
    span.trace_id = bytes.fromhex(TRACE_ID)
    span.span_id = bytes.fromhex(ROOT_ID)
    span.name = "parse-email"
    span.start_time_unix_nano = START_NS
    span.attributes.append(KeyValue(key="model", value=AnyValue(string_value="local")))

    response = post_otlp(langfuse_double, request.SerializeToString(), "application/x-protobuf")

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert isinstance(response.json(), dict)
    rows = read_v2(langfuse_double, traceId=TRACE_ID)
    assert [row["id"] for row in rows] == [ROOT_ID]


def test_plain_attribute_names_change_meaning(langfuse_double: LangfuseDouble) -> None:
    attributes = [
        string_attribute("model", "invoice-v2"),
        string_attribute("input", "app-level input"),
        string_attribute("gen_ai.input.messages", '[{"role":"user","content":"real prompt"}]'),
        string_attribute("gen_ai.output.messages", '[{"role":"assistant","content":"answer"}]'),
        string_attribute("langfuse.observation.type", "EVENT"),
    ]
    content = json.dumps(json_export([json_span(ROOT_ID, "lookup", attributes)])).encode()

    post_otlp(langfuse_double, content, "application/json")

    row = read_v2(langfuse_double, fields="basic,io,model")[0]
    assert row["type"] == "GENERATION"
    assert row["providedModelName"] == "invoice-v2"
    assert row["input"] == "app-level input"
    assert row["output"] is None


def test_bad_span_id_rejects_whole_export(langfuse_double: LangfuseDouble) -> None:
    spans = [json_span(ROOT_ID, "fine", []), json_span(CHILD_ID, "broken", [])]
    spans[1]["spanId"] = 12345
    del spans[0]["traceId"]

    response = post_otlp(
        langfuse_double, json.dumps(json_export(spans)).encode(), "application/json"
    )
    langfuse_double.flush_ingestion()

    assert response.status_code == 400
    error = response.json()["error"]
    assert error.startswith("Invalid OTLP trace export: 2 of 2 span(s) cannot be processed;")
    assert "traceId:absent" in error
    assert "spanId:not_an_id" in error
    assert langfuse_double.event_rows() == []


def test_snake_case_json_is_silent_no_op(langfuse_double: LangfuseDouble) -> None:
    body = {"resource_spans": json_export([json_span(ROOT_ID, "lost", [])])["resourceSpans"]}

    response = post_otlp(langfuse_double, json.dumps(body).encode(), "application/json")

    assert response.status_code == 200
    assert response.json() == {}
    assert langfuse_double.event_rows() == []


@pytest.mark.parametrize(
    ("content_type", "encoding", "expected"),
    [
        ("text/plain", "", "Invalid content type"),
        ("application/json", "gzip", "Failed to decompress request body"),
        ("application/json", "", "Failed to parse OTel JSON Trace"),
        ("application/json", "deflate", "Failed to parse OTel JSON Trace"),
    ],
)
def test_transport_errors_use_error_key(
    langfuse_double: LangfuseDouble, content_type: str, encoding: str, expected: str
) -> None:
    headers = {"Content-Encoding": encoding} if encoding else {}

    response = post_otlp(langfuse_double, b"\x78\x9c not json", content_type, headers)

    assert response.status_code == 400
    assert response.json() == {"error": expected}


def test_ingestion_version_header_above_4(langfuse_double: LangfuseDouble) -> None:
    response = post_otlp(
        langfuse_double, b"{}", "application/json", {"x-langfuse-ingestion-version": "5"}
    )

    assert response.status_code == 400
    assert response.json() == {
        "error": 'Unsupported x-langfuse-ingestion-version: "5". Maximum supported: "4".'
    }


def test_otlp_auth_errors(langfuse_double: LangfuseDouble) -> None:
    url = langfuse_double.otlp_traces_url
    content_type = {"Content-Type": "application/json"}

    missing = httpx.post(url, content=b"{}", headers=content_type)
    bearer = httpx.post(
        url,
        content=b"{}",
        headers={**content_type, "Authorization": f"Bearer {langfuse_double.config.public_key}"},
    )

    assert missing.status_code == 401
    assert missing.json() == {"message": "No authorization header"}
    assert bearer.status_code == 403
    assert bearer.json() == {
        "message": "Access denied - insufficient permissions for this endpoint"
    }


@pytest.mark.parametrize("langfuse_double", [{"mode": "legacy"}], indirect=True)
@pytest.mark.parametrize(("version_header", "visible_in_v1"), [(None, True), ("4", False)])
def test_legacy_mode_version_header_picks_table(
    langfuse_double: LangfuseDouble, version_header: str | None, visible_in_v1: bool
) -> None:
    content = json.dumps(json_export([json_span(ROOT_ID, "parse", [])])).encode()
    headers = {"x-langfuse-ingestion-version": version_header} if version_header else {}

    post_otlp(langfuse_double, content, "application/json", headers)
    trace = httpx.get(
        f"{langfuse_double.base_url}/api/public/traces/{TRACE_ID}",
        headers=langfuse_double.basic_auth_header(),
    )

    assert (trace.status_code == 200) is visible_in_v1
    assert len(langfuse_double.event_rows()) == (0 if visible_in_v1 else 1)


@pytest.mark.parametrize("langfuse_double", [{"mode": "legacy"}], indirect=True)
def test_legacy_path_drops_prompt_without_version(langfuse_double: LangfuseDouble) -> None:
    attributes = [
        string_attribute("langfuse.observation.type", "generation"),
        string_attribute("langfuse.observation.prompt.name", "extract-invoice"),
    ]
    content = json.dumps(json_export([json_span(ROOT_ID, "llm", attributes)])).encode()

    response = post_otlp(langfuse_double, content, "application/json")

    assert response.status_code == 200
    assert langfuse_double.observations() == []
    outcome = langfuse_double.outcomes()[0]
    assert outcome.accepted is True
    assert outcome.stored is False
    assert outcome.reason == "prompt name and prompt version must be given together"
