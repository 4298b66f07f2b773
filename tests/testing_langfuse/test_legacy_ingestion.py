"""The batch route /api/public/ingestion: 207 bodies, per-event validation, auth, limits."""

from __future__ import annotations

import base64
import gzip
import json
from typing import Any

import httpx
import pytest

from mailsift.testing.langfuse import INGESTION_PATH, LangfuseDouble

NOW = "2026-03-01T10:00:00.000Z"
LATER = "2026-03-01T10:00:05.000Z"


def event(
    event_id: str, event_type: str, body: dict[str, Any], timestamp: str = NOW
) -> dict[str, Any]:
    return {"id": event_id, "timestamp": timestamp, "type": event_type, "body": body}


def post_batch(double: LangfuseDouble, batch: list[Any], **kwargs: Any) -> httpx.Response:
    headers = kwargs.pop("headers", double.basic_auth_header())
    return httpx.post(
        double.base_url + INGESTION_PATH, json={"batch": batch}, headers=headers, **kwargs
    )


def errors_by_id(response: httpx.Response) -> dict[str, dict[str, Any]]:
    return {error["id"]: error for error in response.json()["errors"]}


LEGACY = pytest.mark.parametrize("langfuse_double", [{"mode": "legacy"}], indirect=True)


@LEGACY
def test_batch_mixed_events_returns_207(langfuse_double: LangfuseDouble) -> None:
    batch = [
        event("ev-trace", "trace-create", {"id": "trace-1", "name": "parse"}),
        event(
            "ev-gen", "generation-create", {"id": "gen-1", "traceId": "trace-1", "level": "info"}
        ),
        event("ev-span", "span-create", {"traceId": "trace-1"}),
    ]

    response = post_batch(langfuse_double, batch)

    assert response.status_code == 207
    assert response.json()["successes"] == [{"id": "ev-trace", "status": 201}]
    errors = errors_by_id(response)
    assert set(errors) == {"ev-gen", "ev-span"}
    assert errors["ev-gen"]["status"] == 400
    assert errors["ev-gen"]["message"] == "Invalid request data"
    level_issues = json.loads(errors["ev-gen"]["error"])
    assert level_issues[0]["path"] == ["body", "level"]
    assert level_issues[0]["code"] == "invalid_value"
    span_issues = json.loads(errors["ev-span"]["error"])
    assert span_issues[0]["path"] == ["body", "id"]
    assert span_issues[0]["message"] == "Invalid input: expected string, received undefined"


@LEGACY
def test_envelope_without_id_or_timestamp(langfuse_double: LangfuseDouble) -> None:
    batch = [
        {"timestamp": NOW, "type": "trace-create", "body": {"id": "t-no-id"}},
        {"id": "ev-no-ts", "type": "trace-create", "body": {"id": "t-no-ts"}},
        event("ev-naive", "trace-create", {"id": "t-naive"}, timestamp="2026-03-01T10:00:00"),
        event("ev-space", "trace-create", {"id": "t-space"}, timestamp="2026-03-01 10:00:00Z"),
    ]

    response = post_batch(langfuse_double, batch)

    assert response.status_code == 207
    assert response.json()["successes"] == []
    errors = errors_by_id(response)
    assert set(errors) == {"unknown", "ev-no-ts", "ev-naive", "ev-space"}
    assert json.loads(errors["unknown"]["error"])[0]["path"] == ["id"]
    assert json.loads(errors["ev-no-ts"]["error"])[0]["path"] == ["timestamp"]
    assert json.loads(errors["ev-naive"]["error"])[0]["message"] == "Invalid ISO datetime"
    assert json.loads(errors["ev-space"]["error"])[0]["message"] == "Invalid ISO datetime"
    langfuse_double.flush_ingestion()
    assert langfuse_double.traces() == []
    assert len(langfuse_double.rejected_events()) == 4


@LEGACY
def test_result_order_and_sdk_log_omission(langfuse_double: LangfuseDouble) -> None:
    batch = [
        event("ev-update", "span-update", {"id": "span-1", "traceId": "t"}, timestamp=NOW),
        event("ev-late", "span-create", {"id": "span-2", "traceId": "t"}, timestamp=LATER),
        event("ev-early", "span-create", {"id": "span-1", "traceId": "t"}, timestamp=NOW),
        event("ev-log", "sdk-log", {"log": {"note": "debug"}}),
    ]

    response = post_batch(langfuse_double, batch)

    ids = [success["id"] for success in response.json()["successes"]]
    assert ids == ["ev-early", "ev-late", "ev-update"]
    assert response.json()["errors"] == []


@LEGACY
def test_coercions_match_the_server(langfuse_double: LangfuseDouble) -> None:
    batch = [
        event(
            "ev-t",
            "trace-create",
            {"id": "t1", "environment": "Langfuse-Staging", "sessionID": "typo-is-stripped"},
        ),
        event(
            "ev-g",
            "generation-create",
            {
                "id": "g1",
                "traceId": "t1",
                "environment": "prod/eu",
                "usageDetails": {"input": 10, "output": 2.5, "cached": -1, "reasoning": "7.9"},
                "costDetails": {"total": 0.25, "refund": -1.0},
            },
        ),
        event(
            "ev-u",
            "generation-create",
            {"id": "g2", "traceId": "t1", "usage": {"prompt_tokens": 3}},
        ),
    ]

    response = post_batch(langfuse_double, batch)
    langfuse_double.flush_ingestion()

    assert len(response.json()["successes"]) == 3
    trace = langfuse_double.get_trace("t1")
    assert trace is not None
    assert trace.environment == "staging"
    assert trace.session_id is None
    generations = {row.id: row for row in langfuse_double.observations("t1")}
    assert generations["g1"].environment == "default"
    assert generations["g1"].usage_details == {"input": 10, "reasoning": 7, "total": 17}
    assert generations["g1"].cost_details == {"total": 0.25}
    assert generations["g2"].usage_details == {}


@LEGACY
def test_trace_without_body_id_is_acknowledged_then_lost(langfuse_double: LangfuseDouble) -> None:
    response = post_batch(langfuse_double, [event("ev-1", "trace-create", {"name": "no id"})])
    langfuse_double.flush_ingestion()

    assert response.json() == {"successes": [{"id": "ev-1", "status": 201}], "errors": []}
    assert langfuse_double.traces() == []
    outcome = langfuse_double.outcomes()[0]
    assert outcome.accepted is True
    assert outcome.stored is False
    assert outcome.reason == "accepted with 201 but discarded: body.id is missing"


@LEGACY
def test_prompt_name_without_version_fails(langfuse_double: LangfuseDouble) -> None:
    body = {"id": "g1", "traceId": "t1", "promptName": "extract"}

    response = post_batch(langfuse_double, [event("ev-p", "generation-create", body)])

    issues = json.loads(errors_by_id(response)["ev-p"]["error"])
    assert issues[0]["code"] == "custom"
    assert "promptName and promptVersion" in issues[0]["message"]


def test_wrong_secret_key_gets_401(langfuse_double: LangfuseDouble) -> None:
    wrong = base64.b64encode(f"{langfuse_double.config.public_key}:sk-lf-wrong".encode()).decode()

    response = post_batch(langfuse_double, [], headers={"Authorization": f"Basic {wrong}"})
    missing = post_batch(langfuse_double, [], headers={})

    assert response.status_code == 401
    assert response.json() == {
        "error": "UnauthorizedError",
        "message": "Invalid credentials. Confirm that you've configured the correct host.",
    }
    assert missing.status_code == 401
    assert missing.json()["message"] == "No authorization header"


def test_wrong_public_key_is_accepted_like_the_server(langfuse_double: LangfuseDouble) -> None:
    pair = base64.b64encode(f"pk-lf-other:{langfuse_double.config.secret_key}".encode()).decode()

    response = post_batch(langfuse_double, [], headers={"Authorization": f"Basic {pair}"})

    assert response.status_code == 207


@pytest.mark.parametrize(
    "langfuse_double",
    [{"mode": "legacy", "organization_keys": [{"public_key": "pk-org", "secret_key": "sk-org"}]}],
    indirect=True,
)
def test_organization_key_gets_401(langfuse_double: LangfuseDouble) -> None:
    pair = base64.b64encode(b"pk-org:sk-org").decode()

    response = post_batch(langfuse_double, [], headers={"Authorization": f"Basic {pair}"})

    assert response.status_code == 401
    assert response.json()["message"] == (
        "Missing projectId in scope. Are you using an organization key?"
    )


@LEGACY
def test_bearer_key_may_only_send_scores(langfuse_double: LangfuseDouble) -> None:
    headers = {"Authorization": f"Bearer {langfuse_double.config.public_key}"}
    batch = [
        event("ev-t", "trace-create", {"id": "t1"}),
        event("ev-s", "score-create", {"id": "s1", "traceId": "t1", "name": "ok", "value": 1}),
    ]

    response = post_batch(langfuse_double, batch, headers=headers)

    assert response.json()["successes"] == [{"id": "ev-s", "status": 201}]
    assert response.json()["errors"] == [
        {
            "id": "ev-t",
            "status": 401,
            "message": "Authentication error",
            "error": "Access Scope Denied",
        }
    ]


def test_body_over_limit_gets_plain_text_413(langfuse_double: LangfuseDouble) -> None:
    big = "x" * (4_718_592 + 10)

    response = httpx.post(
        langfuse_double.base_url + INGESTION_PATH,
        content=big.encode(),
        headers={"Content-Type": "application/json"},
    )

    assert response.status_code == 413
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text == "Body exceeded 4.5mb limit"


@pytest.mark.parametrize("langfuse_double", [{"max_body_bytes": 1024}], indirect=True)
def test_configured_limit_appears_in_413_text(langfuse_double: LangfuseDouble) -> None:
    response = post_batch(langfuse_double, [event("e", "sdk-log", {"log": "x" * 2000})])

    assert response.status_code == 413
    assert response.text == "Body exceeded 1kb limit"


def test_malformed_and_gzipped_json_get_invalid_json(langfuse_double: LangfuseDouble) -> None:
    url = langfuse_double.base_url + INGESTION_PATH
    headers = {**langfuse_double.basic_auth_header(), "Content-Type": "application/json"}

    broken = httpx.post(url, content=b'{"batch": [', headers=headers)
    zipped = httpx.post(
        url,
        content=gzip.compress(b'{"batch": []}'),
        headers={**headers, "Content-Encoding": "gzip"},
    )

    assert broken.status_code == 400
    assert broken.text == "Invalid JSON"
    assert zipped.status_code == 400
    assert zipped.text == "Invalid JSON"


def test_body_without_batch_gets_400(langfuse_double: LangfuseDouble) -> None:
    response = httpx.post(
        langfuse_double.base_url + INGESTION_PATH,
        json={"events": []},
        headers=langfuse_double.basic_auth_header(),
    )

    assert response.status_code == 400
    assert response.json() == {
        "message": "Invalid request data",
        "errors": ["Invalid input: expected array, received undefined"],
    }


def test_get_on_ingestion_gets_405(langfuse_double: LangfuseDouble) -> None:
    response = httpx.get(langfuse_double.base_url + INGESTION_PATH)

    assert response.status_code == 405
    assert response.json() == {"error": "MethodNotAllowedError", "message": "Method not allowed"}


def test_events_only_rejects_trace_events(langfuse_double: LangfuseDouble) -> None:
    batch = [
        event("ev-t", "trace-create", {"id": "t1"}),
        event("ev-bad", "trace-create", {"id": "t2"}, timestamp="not a time"),
        event(
            "ev-s", "score-create", {"id": "s1", "traceId": "t1", "name": "quality", "value": 0.9}
        ),
    ]

    response = post_batch(langfuse_double, batch)
    langfuse_double.flush_ingestion()

    assert response.status_code == 207
    assert response.json()["successes"] == [{"id": "ev-s", "status": 201}]
    errors = errors_by_id(response)
    assert set(errors) == {"ev-t", "ev-bad"}
    for error in errors.values():
        assert error["status"] == 400
        assert error["message"] == "Event type not accepted"
        assert error["error"].startswith(
            'Event type "trace-create" is not accepted by /api/public/ingestion when '
            "LANGFUSE_MIGRATION_V4_WRITE_MODE is events_only."
        )
    assert langfuse_double.traces() == []
    assert [score.id for score in langfuse_double.scores()] == ["s1"]


@pytest.mark.parametrize("langfuse_double", [{"mode": "dual"}], indirect=True)
def test_dual_mode_accepts_and_mirrors_legacy_writes(langfuse_double: LangfuseDouble) -> None:
    batch = [
        event("ev-t", "trace-create", {"id": "t1", "userId": "u1"}),
        event("ev-g", "generation-create", {"id": "g1", "traceId": "t1", "model": "qwen"}),
    ]

    response = post_batch(langfuse_double, batch)
    langfuse_double.flush_ingestion()

    assert [s["id"] for s in response.json()["successes"]] == ["ev-t", "ev-g"]
    assert langfuse_double.get_trace("t1") is not None
    assert [row.id for row in langfuse_double.event_rows("t1")] == ["g1"]
