"""The doctor's output: JSON shape and order, human lines and hints, exit codes."""

from __future__ import annotations

import json

import pytest

from mailsift.doctor.langfuse_checks import TELEMETRY_OFF

from .helpers import LAYERS, langfuse_env


def test_json_lists_every_layer_in_order(doctor, langfuse_double):
    result = doctor(langfuse_env(langfuse_double), "--json")

    document = json.loads(result.stdout)
    assert result.exit_code == 0, result.output
    assert document["ok"] is True
    assert [check["layer"] for check in document["checks"]] == LAYERS
    for check in document["checks"]:
        assert set(check) == {"layer", "status", "detail", "hint", "duration_ms"}
        assert check["status"] in {"pass", "fail", "skipped"}
        assert isinstance(check["duration_ms"], int | float)
        assert check["hint"] is None


def test_json_reports_failure_as_not_ok(doctor, langfuse_double_factory):
    double = langfuse_double_factory()
    double.stop()

    result = doctor(langfuse_env(double), "--json")

    document = json.loads(result.stdout)
    assert result.exit_code == 1
    assert document["ok"] is False
    failed = [check for check in document["checks"] if check["status"] == "fail"]
    assert [check["layer"] for check in failed] == ["tcp"]
    assert failed[0]["hint"]


def test_human_output_has_one_line_per_layer(doctor, langfuse_double_factory):
    double = langfuse_double_factory()
    double.stop()

    result = doctor(langfuse_env(double))

    lines = result.stdout.splitlines()
    assert result.exit_code == 1
    layer_lines = lines[: len(LAYERS)]
    assert [line.split()[1] for line in layer_lines] == LAYERS
    assert [line.split()[0] for line in layer_lines] == [
        "pass", "pass", "fail", "skipped", "skipped", "skipped", "skipped", "skipped",
    ]  # fmt: skip
    assert "To fix:" in lines
    assert "  tcp: start the Langfuse server, or fix the port in LANGFUSE_HOST" in lines


def test_human_output_keeps_brackets_of_server_messages(doctor, langfuse_double):
    langfuse_double.reply_next(
        401, json.dumps({"message": "[bold]not markup[/bold]"}), path="/api/public/v2/observations"
    )

    result = doctor(langfuse_env(langfuse_double), "--skip-llm")

    assert "[bold]not markup[/bold]" in result.stdout


def test_telemetry_off_is_not_a_failure(doctor):
    result = doctor({}, "--json")

    checks = json.loads(result.stdout)["checks"]
    assert result.exit_code == 0
    assert checks[0] == {**checks[0], "status": "skipped", "detail": TELEMETRY_OFF}
    for check in checks[1:7]:
        assert check["status"] == "skipped"
        assert check["detail"] == "telemetry off"


def test_skip_langfuse_sends_nothing(doctor, langfuse_double):
    result = doctor(langfuse_env(langfuse_double), "--json", "--skip-langfuse")

    checks = json.loads(result.stdout)["checks"]
    assert result.exit_code == 0
    assert all(check["detail"] == "--skip-langfuse" for check in checks[:7])
    assert langfuse_double.request_count() == 0


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf"])
def test_bad_canary_timeout_is_usage_error(doctor, value):
    result = doctor({}, "--canary-timeout", value)

    assert result.exit_code == 2
    assert "--canary-timeout must be a positive number of seconds" in result.output


def test_unknown_option_is_usage_error(doctor):
    result = doctor({}, "--no-such-option")

    assert result.exit_code == 2


def test_human_output_without_failures(doctor):
    result = doctor({})

    lines = result.stdout.splitlines()
    assert result.exit_code == 0
    assert lines[0].split()[:2] == ["skipped", "configuration"]
    assert lines[-1] == "No check failed."
    assert "To fix:" not in lines


def test_unexpected_error_fails_one_layer(doctor, langfuse_double, monkeypatch):
    def broken(endpoint):
        raise RuntimeError("resolver exploded")

    monkeypatch.setattr("mailsift.doctor.runner.check_dns", broken)

    result = doctor(langfuse_env(langfuse_double), "--json")

    checks = {check["layer"]: check for check in json.loads(result.stdout)["checks"]}
    assert result.exit_code == 1
    assert checks["dns"]["status"] == "fail"
    assert checks["dns"]["detail"] == "unexpected error RuntimeError: resolver exploded"
    assert "bug in mailsift doctor" in checks["dns"]["hint"]
    assert checks["tcp"]["detail"] == "dns failed"
    assert checks["llm"]["status"] == "skipped"
