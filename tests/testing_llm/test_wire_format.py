"""Flavour-specific response fields: usage, timings, metrics, models, health and errors."""

from __future__ import annotations

import math
from typing import Any

import httpx
import pytest

from mailsift.testing.llm import Flavour, LLMServerDouble, count_tokens

PROMPT = "Please extract the invoice number from the email below."
MESSAGES = [{"role": "user", "content": PROMPT}]


def post_chat(server: LLMServerDouble, **fields: Any) -> httpx.Response:
    body = {"model": server.config.model, "messages": MESSAGES, **fields}
    return httpx.post(f"{server.base_url}/chat/completions", json=body, timeout=10)


def test_token_counts_follow_characters(llm_server_double: LLMServerDouble) -> None:
    messages = [
        {"role": "system", "content": "You extract data."},
        {"role": "user", "content": [{"type": "text", "text": PROMPT}]},
    ]

    body = post_chat(llm_server_double, messages=messages).json()

    content = body["choices"][0]["message"]["content"]
    usage = body["usage"]
    assert usage["prompt_tokens"] == math.ceil(len("You extract data.\n" + PROMPT) / 4)
    assert usage["completion_tokens"] == count_tokens(content)
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


def test_vllm_usage_and_no_metrics(llm_server_double: LLMServerDouble) -> None:
    body = post_chat(llm_server_double).json()

    assert body["usage"]["prompt_tokens_details"] is None
    assert "metrics" not in body
    assert "timings" not in body
    assert body["choices"][0]["stop_reason"] is None


def test_vllm_per_request_metrics() -> None:
    with LLMServerDouble(per_request_metrics=True) as server:
        body = post_chat(server).json()

    metrics = body["metrics"]
    assert set(metrics) == {
        "queue_time_ms",
        "time_to_first_token_ms",
        "generation_time_ms",
        "mean_itl_ms",
        "tokens_per_second",
    }
    assert metrics["queue_time_ms"] >= 0
    assert metrics["generation_time_ms"] >= 0


def test_llama_cpp_timings_and_cached_tokens() -> None:
    with LLMServerDouble(flavour=Flavour.LLAMA_CPP) as server:
        first = post_chat(server).json()
        second = post_chat(server).json()

    assert first["usage"]["prompt_tokens_details"] == {"cached_tokens": 0}
    prompt_tokens = second["usage"]["prompt_tokens"]
    assert second["usage"]["prompt_tokens_details"] == {"cached_tokens": prompt_tokens - 1}

    timings = second["timings"]
    assert timings["cache_n"] == prompt_tokens - 1
    assert timings["prompt_n"] == 1
    assert timings["predicted_n"] == second["usage"]["completion_tokens"]
    for field in ("prompt_ms", "predicted_ms", "prompt_per_second", "predicted_per_second"):
        assert field in timings
    assert "metrics" not in second


def test_llama_cpp_python_plain_usage() -> None:
    with LLMServerDouble(flavour=Flavour.LLAMA_CPP_PYTHON, per_request_metrics=True) as server:
        body = post_chat(server).json()

    assert set(body["usage"]) == {"prompt_tokens", "completion_tokens", "total_tokens"}
    assert "timings" not in body
    assert "metrics" not in body


@pytest.mark.parametrize(
    ("flavour", "owned_by", "has_max_model_len"),
    [
        (Flavour.VLLM, "vllm", True),
        (Flavour.LLAMA_CPP, "llamacpp", False),
        (Flavour.LLAMA_CPP_PYTHON, "me", False),
    ],
)
def test_models_card_per_flavour(flavour: Flavour, owned_by: str, has_max_model_len: bool) -> None:
    with LLMServerDouble(flavour=flavour, model="qwen-test", max_model_len=2048) as server:
        body = httpx.get(f"{server.base_url}/models").json()

    assert body["object"] == "list"
    [card] = body["data"]
    assert card["id"] == "qwen-test"
    assert card["owned_by"] == owned_by
    assert ("max_model_len" in card) is has_max_model_len
    if has_max_model_len:
        assert card["max_model_len"] == 2048


def test_health_answers_200(llm_server_double: LLMServerDouble) -> None:
    response = httpx.get(f"{llm_server_double.url}/health")

    assert response.status_code == 200
    assert llm_server_double.base_url.endswith("/v1")


def test_vllm_unknown_model_gives_404(llm_server_double: LLMServerDouble) -> None:
    response = post_chat(llm_server_double, model="gpt-4o")

    assert response.status_code == 404
    assert response.json()["error"]["type"] == "NotFoundError"


def test_vllm_context_too_long() -> None:
    with LLMServerDouble(max_model_len=20) as server:
        response = post_chat(server, max_tokens=10)

    assert response.status_code == 400
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "BadRequestError"
    assert error["code"] == 400
    assert "maximum context length is 20 tokens" in error["message"]


def test_llama_cpp_context_too_long() -> None:
    with LLMServerDouble(flavour=Flavour.LLAMA_CPP, max_model_len=10) as server:
        response = post_chat(server)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "exceed_context_size_error"
    assert error["n_ctx"] == 10
    assert error["n_prompt_tokens"] == count_tokens(PROMPT)


def test_max_tokens_truncates_answer(llm_server_double: LLMServerDouble) -> None:
    body = post_chat(llm_server_double, max_completion_tokens=3).json()

    choice = body["choices"][0]
    assert choice["finish_reason"] == "length"
    assert len(choice["message"]["content"]) == 12
    assert body["usage"]["completion_tokens"] == 3


def test_vllm_id_uses_request_id(llm_server_double: LLMServerDouble) -> None:
    response = httpx.post(
        f"{llm_server_double.base_url}/chat/completions",
        json={"messages": MESSAGES},
        headers={"X-Request-Id": "mail-17"},
    )

    assert response.json()["id"] == "chatcmpl-mail-17"


@pytest.mark.parametrize(
    ("raw_body", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b"[]", "must be a JSON object"),
        (b'{"messages": []}', "non-empty list"),
        (b'{"messages": [{"role": "user", "content": "x"}], "max_tokens": 0}', "max_tokens"),
        (b'{"messages": [{"role": "user", "content": "x"}], "n": 2}', "n=2"),
        (b'{"messages": [{"role": "user", "content": "x"}], "tools": [{}]}', "tool calling"),
    ],
)
def test_invalid_request_gives_400(
    llm_server_double: LLMServerDouble, raw_body: bytes, message: str
) -> None:
    response = httpx.post(
        f"{llm_server_double.base_url}/chat/completions",
        content=raw_body,
        headers={"content-type": "application/json"},
    )

    assert response.status_code == 400
    assert message in response.json()["error"]["message"]
