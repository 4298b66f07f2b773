"""The doctor's LLM check against the LLM server double."""

from __future__ import annotations

import re

from mailsift.doctor.llm_checks import NO_URL, SCHEMA_HINT, URL_HINT
from mailsift.testing.llm import LLMServerDouble

from .helpers import checks_by_layer


def test_llm_check_passes_with_usage(doctor, llm_server_double):
    result = doctor({"MAILSIFT_LLM_URL": llm_server_double.base_url}, "--json")

    assert result.exit_code == 0, result.output
    llm = checks_by_layer(result)["llm"]
    assert llm["status"] == "pass"
    assert "mailsift-test-model listed by GET /models" in llm["detail"]
    assert "reply valid against the schema (json_schema)" in llm["detail"]
    usage = re.search(r"usage (\d+) prompt \+ (\d+) completion tokens", llm["detail"])
    assert usage is not None
    assert int(usage.group(1)) > 0
    assert int(usage.group(2)) > 0
    chat = llm_server_double.chat_requests
    assert len(chat) == 1
    schema = chat[0].body["response_format"]["json_schema"]["schema"]
    assert schema["required"] == ["ok"]


def test_llm_url_option_beats_environment(doctor, llm_server_double):
    env = {"MAILSIFT_LLM_URL": "http://127.0.0.1:9/v1"}

    result = doctor(env, "--json", "--llm-url", llm_server_double.base_url)

    assert checks_by_layer(result)["llm"]["status"] == "pass"


def test_reply_ignoring_schema_fails(doctor):
    with LLMServerDouble(ignore_schema=True) as server:
        result = doctor({}, "--json", "--skip-langfuse", "--llm-url", server.base_url)

    assert result.exit_code == 1
    llm = checks_by_layer(result)["llm"]
    assert llm["status"] == "fail"
    assert "the reply is not JSON" in llm["detail"]
    assert llm["hint"] == SCHEMA_HINT


def test_unknown_model_fails_with_model_hint(doctor, llm_server_double):
    result = doctor({}, "--json", "--llm-url", llm_server_double.base_url, "--model", "nope")

    llm = checks_by_layer(result)["llm"]
    assert result.exit_code == 1
    assert "does not serve model 'nope'" in llm["detail"]
    assert "mailsift-test-model" in llm["detail"]
    assert "--model" in llm["hint"]


def test_stopped_llm_server_fails_with_url_hint(doctor):
    server = LLMServerDouble().start()
    url = server.base_url
    server.stop()

    result = doctor({}, "--json", "--llm-url", url)

    llm = checks_by_layer(result)["llm"]
    assert result.exit_code == 1
    assert "refused the connection" in llm["detail"]
    assert llm["hint"] == URL_HINT


def test_invalid_llm_url_fails_the_layer(doctor):
    result = doctor({"MAILSIFT_LLM_URL": "localhost:8000"}, "--json")

    llm = checks_by_layer(result)["llm"]
    assert result.exit_code == 1
    assert "invalid LLM URL 'localhost:8000'" in llm["detail"]
    assert llm["hint"] == URL_HINT


def test_no_llm_url_is_skipped(doctor):
    result = doctor({}, "--json")

    llm = checks_by_layer(result)["llm"]
    assert result.exit_code == 0
    assert llm == {**llm, "status": "skipped", "detail": NO_URL, "hint": None}


def test_skip_llm_sends_nothing(doctor, llm_server_double):
    env = {"MAILSIFT_LLM_URL": llm_server_double.base_url}

    result = doctor(env, "--json", "--skip-llm")

    assert checks_by_layer(result)["llm"]["detail"] == "--skip-llm"
    assert llm_server_double.requests == []
