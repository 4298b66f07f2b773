"""Read routes, visibility delay, upserts and per-mode availability of the double."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from mailsift.testing.langfuse import (
    INGESTION_PATH,
    OBSERVATIONS_PATH,
    OBSERVATIONS_V2_PATH,
    TRACES_PATH,
    DoubleConfig,
    LangfuseDouble,
    WriteMode,
)
from mailsift.testing.langfuse.fixtures import DoubleFactory

NOW = "2026-03-01T10:00:00.000Z"
LATER = "2026-03-01T10:00:05.000Z"
TRACE_ID = "5b8efff798038103d269b633813fc60c"
SPAN_ID = "eee19b7ec3c1b174"


class FakeClock:
    """Monotonic seconds that only move when a test advances them."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def event(
    event_id: str, event_type: str, body: dict[str, Any], timestamp: str = NOW
) -> dict[str, Any]:
    return {"id": event_id, "timestamp": timestamp, "type": event_type, "body": body}


def post_batch(double: LangfuseDouble, batch: list[dict[str, Any]]) -> httpx.Response:
    return httpx.post(
        double.base_url + INGESTION_PATH, json={"batch": batch}, headers=double.basic_auth_header()
    )


def get(double: LangfuseDouble, path: str, **params: str) -> httpx.Response:
    return httpx.get(double.base_url + path, params=params, headers=double.basic_auth_header())


def otlp_span(start_ns: int, attributes: list[dict[str, Any]] | None = None) -> bytes:
    span = {
        "traceId": TRACE_ID,
        "spanId": SPAN_ID,
        "name": "extract",
        "startTimeUnixNano": str(start_ns),
        "endTimeUnixNano": str(start_ns + 10**9),
        "attributes": attributes or [],
    }
    body = {"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}
    return json.dumps(body).encode()


def post_otlp(double: LangfuseDouble, content: bytes) -> httpx.Response:
    headers = {**double.basic_auth_header(), "Content-Type": "application/json"}
    return httpx.post(double.otlp_traces_url, content=content, headers=headers)


def test_delay_hides_batch_writes_until_it_passes() -> None:
    clock = FakeClock()
    config = DoubleConfig(mode=WriteMode.LEGACY, ingestion_delay_s=5.0)
    with LangfuseDouble(config, clock=clock) as double:
        post_batch(double, [event("ev-1", "trace-create", {"id": "trace-1", "name": "parse"})])

        before = get(double, f"{TRACES_PATH}/trace-1")
        clock.now += 4.9
        still_hidden = get(double, f"{TRACES_PATH}/trace-1")
        clock.now += 0.1
        after = get(double, f"{TRACES_PATH}/trace-1")

    assert before.status_code == 404
    assert before.json() == {
        "message": "Trace trace-1 not found within authorized project",
        "error": "LangfuseNotFoundError",
    }
    assert still_hidden.status_code == 404
    assert after.status_code == 200
    assert after.json()["name"] == "parse"


def test_delay_hides_otlp_writes_until_it_passes() -> None:
    clock = FakeClock()
    with LangfuseDouble(DoubleConfig(ingestion_delay_s=2.0), clock=clock) as double:
        post_otlp(double, otlp_span(1_767_225_600_000_000_000))

        before = get(double, OBSERVATIONS_V2_PATH).json()["data"]
        clock.now += 2.0
        after = get(double, OBSERVATIONS_V2_PATH).json()["data"]

    assert before == []
    assert [row["id"] for row in after] == [SPAN_ID]


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("legacy", {"trace": 404, "traces": 200, "observations": 200, "v2": 404}),
        ("dual", {"trace": 404, "traces": 200, "observations": 200, "v2": 200}),
        ("events_only", {"trace": 404, "traces": 404, "observations": 404, "v2": 200}),
    ],
)
def test_read_route_availability_by_mode(
    langfuse_double_factory: DoubleFactory, mode: str, expected: dict[str, int]
) -> None:
    double = langfuse_double_factory(mode=mode)

    statuses = {
        "trace": get(double, f"{TRACES_PATH}/missing").status_code,
        "traces": get(double, TRACES_PATH).status_code,
        "observations": get(double, OBSERVATIONS_PATH).status_code,
        "v2": get(double, OBSERVATIONS_V2_PATH).status_code,
    }

    assert statuses == expected


def test_events_only_v1_404_comes_before_auth(langfuse_double: LangfuseDouble) -> None:
    response = httpx.get(f"{langfuse_double.base_url}{TRACES_PATH}/any")

    assert response.status_code == 404
    assert response.json() == {
        "message": (
            "This endpoint is not available on deployments running in Langfuse v4 events_only "
            "mode. Learn more about Langfuse v4 at: https://langfuse.com/docs/v4"
        )
    }


def test_legacy_v2_route_needs_preview_opt_in(langfuse_double_factory: DoubleFactory) -> None:
    plain = langfuse_double_factory(mode="legacy")
    opted_in = langfuse_double_factory(mode="legacy", allow_preview_opt_in=True)

    refused = get(plain, OBSERVATIONS_V2_PATH)

    assert refused.status_code == 404
    assert refused.json()["message"].startswith(
        "The observations v2 API is only available in a Langfuse v4 write mode."
    )
    assert get(opted_in, OBSERVATIONS_V2_PATH).status_code == 200


@pytest.mark.parametrize(
    ("settings", "version"),
    [
        ({"mode": "legacy"}, "3.225.4"),
        ({"mode": "dual"}, "4.16.0"),
        ({}, "4.16.0"),
        ({"version": "v4.2.1"}, "4.2.1"),
    ],
)
def test_health_reports_version(
    langfuse_double_factory: DoubleFactory, settings: dict[str, str], version: str
) -> None:
    double = langfuse_double_factory(**settings)

    response = httpx.post(double.base_url + "/api/public/health")

    assert response.status_code == 200
    assert response.json() == {"status": "OK", "version": version}


def test_health_can_require_recent_events(langfuse_double: LangfuseDouble) -> None:
    empty = httpx.get(
        langfuse_double.base_url + "/api/public/health", params={"failIfNoRecentEvents": "true"}
    )
    post_otlp(langfuse_double, otlp_span(1_767_225_600_000_000_000))
    fed = httpx.get(
        langfuse_double.base_url + "/api/public/health", params={"failIfNoRecentEvents": "true"}
    )

    assert empty.status_code == 503
    assert empty.json() == {"status": "No events within the last 3 minutes", "version": "4.16.0"}
    assert fed.status_code == 200


@pytest.mark.parametrize("langfuse_double", [{"mode": "legacy"}], indirect=True)
def test_trace_upsert_merges_without_duplicates(langfuse_double: LangfuseDouble) -> None:
    first = [
        event(
            "ev-1",
            "trace-create",
            {
                "id": "t1",
                "name": "parse",
                "tags": ["b"],
                "public": True,
                "input": "42",
                "metadata": {"a": {"x": 1}},
            },
        ),
        event("ev-g1", "generation-create", {"id": "g1", "traceId": "t1", "name": "extract"}),
    ]
    second = [
        event(
            "ev-2",
            "trace-create",
            {"id": "t1", "userId": "u1", "tags": ["a"], "input": "", "metadata": {"a": {"y": 2}}},
            timestamp=LATER,
        ),
        event(
            "ev-g2",
            "generation-update",
            {"id": "g1", "traceId": "t1", "output": {"ok": True}},
            timestamp=LATER,
        ),
    ]

    post_batch(langfuse_double, first)
    post_batch(langfuse_double, second)
    post_batch(langfuse_double, second)
    body = get(langfuse_double, f"{TRACES_PATH}/t1").json()
    listing = get(langfuse_double, TRACES_PATH).json()

    assert listing["meta"]["totalItems"] == 1
    assert body["name"] == "parse"
    assert body["userId"] == "u1"
    assert body["tags"] == ["a", "b"]
    assert body["public"] is False
    assert body["input"] == 42
    assert body["metadata"] == {"a": {"x": 1, "y": 2}}
    assert len(body["observations"]) == 1
    assert body["observations"][0]["output"] == {"ok": True}
    assert body["observations"][0]["name"] == "extract"


def test_otlp_reexport_replaces_row_unless_start_changes(langfuse_double: LangfuseDouble) -> None:
    start = 1_767_225_600_000_000_000
    usage = [
        {
            "key": "langfuse.observation.usage_details",
            "value": {"stringValue": '{"input": 10, "output": 2}'},
        }
    ]

    post_otlp(langfuse_double, otlp_span(start, usage))
    post_otlp(langfuse_double, otlp_span(start, usage))
    same_start = get(langfuse_double, OBSERVATIONS_V2_PATH, fields="usage").json()["data"]
    post_otlp(langfuse_double, otlp_span(start + 5_000_000, usage))
    new_start = get(langfuse_double, OBSERVATIONS_V2_PATH, fields="usage").json()["data"]

    assert len(same_start) == 1
    assert same_start[0]["usageDetails"] == {"input": 10, "output": 2, "total": 12}
    assert len(new_start) == 2
    assert {row["id"] for row in new_start} == {SPAN_ID}


@pytest.mark.parametrize("langfuse_double", [{"mode": "dual"}], indirect=True)
def test_v1_decodes_io_while_v2_keeps_text(langfuse_double: LangfuseDouble) -> None:
    long_note = "n" * 300
    body = {
        "id": "g1",
        "traceId": "t1",
        "input": "42",
        "output": {"total": 12.5},
        "metadata": {"count": 3, "note": long_note},
    }
    post_batch(
        langfuse_double,
        [
            event("ev-t", "trace-create", {"id": "t1", "userId": "u9"}),
            event("ev-g", "generation-create", body),
        ],
    )

    v1 = get(langfuse_double, OBSERVATIONS_PATH, traceId="t1").json()["data"][0]
    v2 = get(
        langfuse_double, OBSERVATIONS_V2_PATH, traceId="t1", fields="basic,io,metadata"
    ).json()["data"][0]
    expanded = get(
        langfuse_double,
        OBSERVATIONS_V2_PATH,
        traceId="t1",
        fields="metadata",
        expandMetadata="note",
    ).json()["data"][0]

    assert v1["input"] == 42
    assert v1["output"] == {"total": 12.5}
    assert v1["metadata"] == {"count": 3, "note": long_note}
    assert v2["input"] == "42"
    assert v2["output"] == '{"total":12.5}'
    assert v2["metadata"] == {"count": "3", "note": "n" * 200}
    assert v2["userId"] == "u9"
    assert expanded["metadata"]["note"] == long_note


@pytest.mark.parametrize("langfuse_double", [{"mode": "legacy"}], indirect=True)
def test_trace_list_filters(langfuse_double: LangfuseDouble) -> None:
    post_batch(
        langfuse_double,
        [
            event("e1", "trace-create", {"id": "t1", "userId": "u1", "tags": ["x", "y"]}),
            event("e2", "trace-create", {"id": "t2", "userId": "u2", "sessionId": "s2"}),
            event("e3", "trace-create", {"id": "t3", "userId": "u1", "tags": ["y"]}),
        ],
    )

    by_user = get(langfuse_double, TRACES_PATH, userId="u1").json()
    by_tag = httpx.get(
        langfuse_double.base_url + TRACES_PATH,
        params=[("tags", "x"), ("tags", "y")],
        headers=langfuse_double.basic_auth_header(),
    ).json()
    by_session = get(langfuse_double, TRACES_PATH, sessionId="s2").json()

    assert sorted(trace["id"] for trace in by_user["data"]) == ["t1", "t3"]
    assert [trace["id"] for trace in by_tag["data"]] == ["t1"]
    assert [trace["id"] for trace in by_session["data"]] == ["t2"]


def test_v2_rejects_parse_io_as_json(langfuse_double: LangfuseDouble) -> None:
    response = get(langfuse_double, OBSERVATIONS_V2_PATH, parseIoAsJson="true")

    assert response.status_code == 400


def test_v2_cursor_pages_through_rows(langfuse_double: LangfuseDouble) -> None:
    for offset in range(3):
        post_otlp(langfuse_double, otlp_span(1_767_225_600_000_000_000 + offset * 10**9))

    first = get(langfuse_double, OBSERVATIONS_V2_PATH, limit="2").json()
    second = get(
        langfuse_double, OBSERVATIONS_V2_PATH, limit="2", cursor=first["meta"]["cursor"]
    ).json()

    assert len(first["data"]) == 2
    assert len(second["data"]) == 1
    assert second["meta"] == {}


@pytest.mark.parametrize("langfuse_double", [{"mode": "legacy"}], indirect=True)
def test_v1_metrics_from_times_and_costs(langfuse_double: LangfuseDouble) -> None:
    generation = {
        "id": "g1",
        "traceId": "t1",
        "startTime": "2026-03-01T10:00:00.000Z",
        "completionStartTime": "2026-03-01T10:00:00.250+00:00",
        "endTime": "2026-03-01T12:00:02.000+0200",
        "costDetails": {"input": 0.5, "output": 0.25},
    }
    post_batch(
        langfuse_double,
        [
            event("ev-t", "trace-create", {"id": "t1"}),
            event("ev-g", "generation-create", generation),
        ],
    )

    body = get(langfuse_double, f"{TRACES_PATH}/t1").json()
    no_metrics = get(langfuse_double, f"{TRACES_PATH}/t1", fields="core,io").json()

    observation = body["observations"][0]
    assert observation["latency"] == 2.0
    assert observation["timeToFirstToken"] == 0.25
    assert observation["endTime"] == "2026-03-01T10:00:02.000Z"
    assert observation["costDetails"] == {"input": 0.5, "output": 0.25, "total": 0.75}
    assert body["latency"] == 2.0
    assert body["totalCost"] == 0.75
    assert no_metrics["latency"] == -1.0
    assert no_metrics["observations"] == []
