"""`mailsift doctor` against Langfuse doubles: passing set-ups and one failure per layer."""

from __future__ import annotations

import json
import re

import pytest

from mailsift.testing.langfuse import OBSERVATIONS_V2_PATH, OTLP_TRACES_PATH, LangfuseDouble

from .helpers import LAYERS, checks_by_layer, langfuse_env

KEYS_HINT = "check LANGFUSE_PUBLIC_KEY/SECRET_KEY belong to this project"
WRONG_SECRET = "sk-lf-wrong-secret-4711"


def _visible_after_s(detail: str) -> float:
    match = re.search(r"visible after ([0-9.]+) s", detail)
    assert match, detail
    return float(match.group(1))


@pytest.mark.parametrize("langfuse_double", [{"mode": "legacy"}], indirect=True)
def test_legacy_double_passes(doctor, langfuse_double, llm_server_double):
    env = langfuse_env(langfuse_double, MAILSIFT_LLM_URL=llm_server_double.base_url)

    result = doctor(env, "--json")

    assert result.exit_code == 0, result.output
    checks = checks_by_layer(result)
    assert [checks[layer]["status"] for layer in LAYERS] == [
        "pass", "pass", "pass", "skipped", "pass", "pass", "pass", "pass",
    ]  # fmt: skip
    assert checks["tls"]["detail"] == "plain http"
    assert "trace not found" in checks["auth"]["detail"]
    assert "Langfuse 3.225.4" in checks["write_path"]["detail"]
    assert "mailsift will use legacy" in checks["write_path"]["detail"]
    canary = checks["canary"]["detail"]
    assert "sent over legacy" in canary
    assert "GET /api/public/traces/" in canary
    trace_id = re.search(r"trace ([0-9a-f]{32})", canary)
    assert trace_id is not None
    stored = langfuse_double.get_trace(trace_id.group(1))
    assert stored is not None
    assert stored.name == "mailsift-doctor-canary"
    assert stored.user_id == "mailsift-doctor"
    assert stored.session_id == "mailsift-doctor"


@pytest.mark.parametrize("langfuse_double", [{"ingestion_delay_s": 1.0}], indirect=True)
def test_events_only_double_passes_after_delay(doctor, langfuse_double, llm_server_double):
    env = langfuse_env(langfuse_double, MAILSIFT_LLM_URL=llm_server_double.base_url)

    result = doctor(env, "--json")

    assert result.exit_code == 0, result.output
    checks = checks_by_layer(result)
    assert all(checks[layer]["status"] == "pass" for layer in LAYERS if layer != "tls")
    assert "v2/observations" in checks["auth"]["detail"]
    assert "write mode events_only" in checks["write_path"]["detail"]
    assert "mailsift will use otlp" in checks["write_path"]["detail"]
    canary = checks["canary"]
    assert "sent over otlp" in canary["detail"]
    assert f"GET {OBSERVATIONS_V2_PATH}?traceId=" in canary["detail"]
    assert 1.0 <= _visible_after_s(canary["detail"]) < 5.0
    assert canary["duration_ms"] >= 1000
    rows = langfuse_double.event_rows()
    assert len(rows) == 1
    assert rows[0].name == "mailsift-doctor-canary"


@pytest.mark.parametrize("langfuse_double", [{"mode": "legacy"}, {}], indirect=True)
def test_wrong_secret_fails_auth(doctor, langfuse_double):
    env = langfuse_env(langfuse_double, LANGFUSE_SECRET_KEY=WRONG_SECRET)

    human = doctor(env, "--skip-llm")
    machine = doctor(env, "--skip-llm", "--json")

    assert human.exit_code == 1
    assert machine.exit_code == 1
    checks = checks_by_layer(machine)
    assert checks["auth"]["status"] == "fail"
    assert "401" in checks["auth"]["detail"]
    assert checks["auth"]["hint"] == KEYS_HINT
    for layer in ("write_path", "canary"):
        assert checks[layer]["status"] == "skipped"
        assert checks[layer]["detail"] == "auth failed"
    assert KEYS_HINT in human.output
    assert WRONG_SECRET not in human.output
    assert WRONG_SECRET not in machine.output


def test_auth_403_reports_server_message(doctor, langfuse_double):
    message = "Access denied - insufficient permissions for this endpoint"
    langfuse_double.reply_next(403, json.dumps({"message": message}), path=OBSERVATIONS_V2_PATH)

    result = doctor(langfuse_env(langfuse_double), "--skip-llm", "--json")

    assert result.exit_code == 1
    auth = checks_by_layer(result)["auth"]
    assert auth["status"] == "fail"
    assert f"answered 403: {message}" in auth["detail"]
    assert message in auth["hint"]


def test_stopped_server_fails_tcp(doctor, langfuse_double_factory):
    double = langfuse_double_factory()
    double.stop()

    result = doctor(langfuse_env(double), "--skip-llm", "--json")

    assert result.exit_code == 1
    checks = checks_by_layer(result)
    assert checks["dns"]["status"] == "pass"
    assert checks["tcp"]["status"] == "fail"
    assert "refused" in checks["tcp"]["detail"]
    assert checks["tcp"]["hint"] == "start the Langfuse server, or fix the port in LANGFUSE_HOST"
    for layer in ("tls", "auth", "write_path", "canary"):
        assert checks[layer] == {**checks[layer], "status": "skipped", "detail": "tcp failed"}


@pytest.mark.parametrize("variable", ["LANGFUSE_HOST", "LANGFUSE_BASE_URL"])
def test_unresolvable_host_fails_dns(doctor, variable):
    env = {
        "LANGFUSE_PUBLIC_KEY": "pk-lf-doctor",
        "LANGFUSE_SECRET_KEY": "sk-lf-doctor",
        variable: "http://mailsift-doctor.invalid:3000",
    }

    result = doctor(env, "--skip-llm", "--json")

    assert result.exit_code == 1
    checks = checks_by_layer(result)
    assert checks["configuration"]["status"] == "pass"
    assert checks["dns"]["status"] == "fail"
    assert "cannot resolve mailsift-doctor.invalid" in checks["dns"]["detail"]
    assert variable in checks["dns"]["hint"]
    assert checks["tcp"]["detail"] == "dns failed"


def test_legacy_setting_fails_on_events_only(doctor, langfuse_double):
    env = langfuse_env(langfuse_double, LANGFUSE_INGESTION="legacy")

    result = doctor(env, "--skip-llm", "--json")

    assert result.exit_code == 1
    checks = checks_by_layer(result)
    write_path = checks["write_path"]
    assert write_path["status"] == "fail"
    assert "LANGFUSE_INGESTION=legacy cannot work" in write_path["detail"]
    assert write_path["hint"] == "set LANGFUSE_INGESTION=otlp or auto"
    assert checks["canary"]["detail"] == "write_path failed"
    assert langfuse_double.request_count(OTLP_TRACES_PATH) == 0


@pytest.mark.parametrize(
    "langfuse_double", [{"mode": "legacy", "version": "3.21.0"}], indirect=True
)
def test_otlp_setting_fails_before_3_22(doctor, langfuse_double):
    env = langfuse_env(langfuse_double, LANGFUSE_INGESTION="otlp")

    result = doctor(env, "--skip-llm", "--json")

    write_path = checks_by_layer(result)["write_path"]
    assert result.exit_code == 1
    assert write_path["status"] == "fail"
    assert "before 3.22.0 have no OTLP route" in write_path["detail"]
    assert "LANGFUSE_INGESTION=legacy or auto" in write_path["hint"]


def test_swapped_keys_fail_configuration(doctor):
    env = {
        "LANGFUSE_PUBLIC_KEY": "sk-lf-secret-value-123",
        "LANGFUSE_SECRET_KEY": "pk-lf-public-value-123",
        "LANGFUSE_HOST": "http://127.0.0.1:9",
    }

    result = doctor(env, "--skip-llm", "--json")

    assert result.exit_code == 1
    checks = checks_by_layer(result)
    assert checks["configuration"]["status"] == "fail"
    assert "swapped" in checks["configuration"]["detail"]
    assert checks["configuration"]["hint"] == (
        "swap the values of LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY"
    )
    for layer in ("dns", "tcp", "tls", "auth", "write_path", "canary"):
        assert checks[layer]["status"] == "skipped"
        assert checks[layer]["detail"] == "configuration failed"
    assert "sk-lf-secret-value-123" not in result.output


def test_missing_public_key_fails_configuration(doctor):
    result = doctor({"LANGFUSE_SECRET_KEY": "sk-lf-only"}, "--skip-llm", "--json")

    configuration = checks_by_layer(result)["configuration"]
    assert result.exit_code == 1
    assert "LANGFUSE_PUBLIC_KEY is missing" in configuration["detail"]
    assert configuration["hint"].startswith("set both LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY")


def test_canary_export_error_fails_with_server_message(doctor, langfuse_double):
    langfuse_double.fail_next(503, path=OTLP_TRACES_PATH)

    result = doctor(langfuse_env(langfuse_double), "--skip-llm", "--json")

    canary = checks_by_layer(result)["canary"]
    assert result.exit_code == 1
    assert canary["status"] == "fail"
    assert "answered 503: Service Unavailable" in canary["detail"]
    assert "overloaded" in canary["hint"]


@pytest.mark.parametrize("langfuse_double", [{"mode": "legacy"}], indirect=True)
def test_canary_rejection_fails_with_server_message(doctor, langfuse_double: LangfuseDouble):
    # Two requests reach the batch route: the write-mode probe, then the canary.
    langfuse_double.reject_events_next(
        predicate=lambda event: (
            event.get("type") == "trace-create"
            and event.get("body", {}).get("name") == "mailsift-doctor-canary"
        ),
        times=2,
        error="scripted rejection of the canary",
    )

    result = doctor(langfuse_env(langfuse_double), "--skip-llm", "--json")

    canary = checks_by_layer(result)["canary"]
    assert result.exit_code == 1
    assert canary["status"] == "fail"
    assert "rejected 1 canary event(s)" in canary["detail"]
    assert "scripted rejection of the canary" in canary["detail"]


@pytest.mark.parametrize("langfuse_double", [{"ingestion_delay_s": 30.0}], indirect=True)
def test_canary_not_visible_before_timeout(doctor, langfuse_double):
    result = doctor(langfuse_env(langfuse_double), "--skip-llm", "--json", "--canary-timeout", "1")

    canary = checks_by_layer(result)["canary"]
    assert result.exit_code == 1
    assert canary["status"] == "fail"
    assert "not visible after 1 s" in canary["detail"]
    assert "with no rows" in canary["detail"]
    assert "--canary-timeout" in canary["hint"]
    assert 1000 <= canary["duration_ms"] < 5000


@pytest.mark.parametrize("langfuse_double", [{"mode": "legacy"}], indirect=True)
def test_otlp_setting_on_v3_sends_no_v4_header(doctor, langfuse_double):
    # With the path forced to OTLP, `mailsift run` still reads the version and sends no v4
    # ingestion header to a v3 server, so the spans reach the tables v3 reads from.
    env = langfuse_env(langfuse_double, LANGFUSE_INGESTION="otlp")

    result = doctor(env, "--skip-llm", "--json", "--canary-timeout", "5")

    canary = checks_by_layer(result)["canary"]
    assert result.exit_code == 0, result.output
    assert canary["status"] == "pass"
    assert "GET /api/public/traces/" in canary["detail"]
    headers = [r.headers for r in langfuse_double.requests("/api/public/otel/v1/traces")]
    assert headers and all("x-langfuse-ingestion-version" not in h for h in headers)
