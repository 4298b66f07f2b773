"""Scripted faults and request recording, observed by an httpx client."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import jsonschema
import pytest

from mailsift.testing.llm import Fault, Flavour, LLMServerDouble

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"invoice_number": {"type": "string"}, "total": {"type": "number"}},
    "required": ["invoice_number", "total"],
}
REQUEST_BODY = {
    "messages": [{"role": "user", "content": "Extract the invoice."}],
    "response_format": {"type": "json_schema", "json_schema": {"name": "i", "schema": SCHEMA}},
}
CONTEXT_MESSAGE = (
    "This model's maximum context length is 2048 tokens. However, you requested 2100 tokens "
    "(2000 in the messages, 100 in the completion). Please reduce the length of the messages "
    "or completion."
)


def post_chat(server: LLMServerDouble, timeout_s: float = 10) -> httpx.Response:
    return httpx.post(f"{server.base_url}/chat/completions", json=REQUEST_BODY, timeout=timeout_s)


def test_status_503_with_retry_after(llm_server_double: LLMServerDouble) -> None:
    llm_server_double.script(Fault.status(503, "engine overloaded", retry_after_s=2))

    response = post_chat(llm_server_double)

    assert response.status_code == 503
    assert response.headers["retry-after"] == "2"
    assert response.json() == {
        "error": {
            "message": "engine overloaded",
            "type": "ServiceUnavailableError",
            "param": None,
            "code": 503,
        }
    }


def test_status_400_context_message(llm_server_double: LLMServerDouble) -> None:
    llm_server_double.script(Fault.status(400, CONTEXT_MESSAGE))

    response = post_chat(llm_server_double)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "BadRequestError"
    assert error["code"] == 400
    assert "maximum context length is 2048 tokens" in error["message"]


def test_status_shape_for_llama_cpp() -> None:
    with LLMServerDouble(flavour=Flavour.LLAMA_CPP) as server:
        server.script(Fault.status(503))
        response = post_chat(server)

    assert response.status_code == 503
    assert response.json()["error"]["type"] == "unavailable_error"
    assert response.json()["error"]["code"] == 503


def test_status_rejects_success_codes() -> None:
    with pytest.raises(ValueError, match="400-599"):
        Fault.status(200)


def test_invalid_json_content(llm_server_double: LLMServerDouble) -> None:
    llm_server_double.script(Fault.invalid_json())

    response = post_chat(llm_server_double)

    assert response.status_code == 200
    choice = response.json()["choices"][0]
    assert choice["finish_reason"] == "length"
    with pytest.raises(json.JSONDecodeError):
        json.loads(choice["message"]["content"])


def test_invalid_json_custom_content(llm_server_double: LLMServerDouble) -> None:
    llm_server_double.script(Fault.invalid_json("```json\n{}\n```"))

    response = post_chat(llm_server_double)

    assert response.json()["choices"][0]["message"]["content"] == "```json\n{}\n```"


def test_schema_violation_content(llm_server_double: LLMServerDouble) -> None:
    llm_server_double.script(Fault.schema_violation())

    response = post_chat(llm_server_double)

    document = json.loads(response.json()["choices"][0]["message"]["content"])
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, SCHEMA)


def test_close_connection_raises_protocol_error(llm_server_double: LLMServerDouble) -> None:
    llm_server_double.script(Fault.close_connection())

    with pytest.raises(httpx.RemoteProtocolError):
        post_chat(llm_server_double)

    assert llm_server_double.in_flight == 0
    assert post_chat(llm_server_double).status_code == 200
    assert len(llm_server_double.chat_requests) == 2


def test_delay_holds_response(llm_server_double: LLMServerDouble) -> None:
    llm_server_double.script(Fault.delay(0.3))

    started = time.monotonic()
    response = post_chat(llm_server_double)
    elapsed_s = time.monotonic() - started

    assert response.status_code == 200
    assert elapsed_s >= 0.3


def test_faults_apply_in_order(llm_server_double: LLMServerDouble) -> None:
    llm_server_double.script(Fault.status(503), Fault.status(429), Fault.invalid_json())

    statuses = [post_chat(llm_server_double).status_code for _ in range(4)]

    assert statuses == [503, 429, 200, 200]
    assert llm_server_double.pending_faults == []


def test_faults_skip_other_endpoints(llm_server_double: LLMServerDouble) -> None:
    llm_server_double.script(Fault.status(503))

    assert httpx.get(f"{llm_server_double.base_url}/models").status_code == 200
    assert httpx.get(f"{llm_server_double.url}/health").status_code == 200

    assert post_chat(llm_server_double).status_code == 503


def test_requests_recorded_with_headers(llm_server_double: LLMServerDouble) -> None:
    httpx.get(f"{llm_server_double.url}/health")
    httpx.post(
        f"{llm_server_double.base_url}/chat/completions",
        json=REQUEST_BODY,
        headers={"Authorization": "Bearer test-key", "X-Request-Id": "abc"},
    )

    health, chat = llm_server_double.requests
    assert (health.method, health.path, health.body) == ("GET", "/health", None)
    assert (chat.method, chat.path) == ("POST", "/v1/chat/completions")
    assert chat.body == REQUEST_BODY
    assert chat.headers["authorization"] == "Bearer test-key"
    assert chat.headers["x-request-id"] == "abc"
    assert llm_server_double.chat_requests == [chat]


def test_reset_forgets_requests_and_faults(llm_server_double: LLMServerDouble) -> None:
    post_chat(llm_server_double)
    llm_server_double.script(Fault.status(500))

    llm_server_double.reset()

    assert llm_server_double.requests == []
    assert llm_server_double.pending_faults == []
    assert llm_server_double.max_in_flight == 0


async def post_concurrently(base_url: str, count: int) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        calls = [client.post("/chat/completions", json=REQUEST_BODY) for _ in range(count)]
        return await asyncio.gather(*calls)


def test_max_in_flight_counts_concurrency(llm_server_double: LLMServerDouble) -> None:
    llm_server_double.script(*[Fault.delay(0.5) for _ in range(8)])

    responses = asyncio.run(post_concurrently(llm_server_double.base_url, 8))

    assert [response.status_code for response in responses] == [200] * 8
    assert llm_server_double.max_in_flight == 8
    assert llm_server_double.in_flight == 0


def test_max_in_flight_sequential_is_one(llm_server_double: LLMServerDouble) -> None:
    llm_server_double.script(Fault.delay(0.05), Fault.delay(0.05))

    post_chat(llm_server_double)
    post_chat(llm_server_double)

    assert llm_server_double.max_in_flight == 1
