"""Error translation of the LLM client, with httpx's mock transport standing in for servers."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from mailsift.errors import LLMBadResponse, LLMContextTooLong, LLMOverloaded, LLMUnavailable
from mailsift.llm.client import LLMClient, LLMSettings

SCHEMA = {"type": "object"}
MESSAGES = [{"role": "user", "content": "hello"}]


def _client(handler, **settings) -> LLMClient:
    base = {"base_url": "http://llm.test/v1", "model": "m", "max_attempts": 2}
    base.update(settings)
    return LLMClient(LLMSettings(**base), transport=httpx.MockTransport(handler))


def _call(client: LLMClient):
    async def go():
        async with client:
            return await client.chat_json(
                MESSAGES,
                schema=SCHEMA,
                schema_name="s",
                purpose="extract",
                max_tokens=8,
                context="email mid:x@y",
            )

    return asyncio.run(go())


def test_context_too_long_is_not_retried():
    calls = []

    def handler(request):
        calls.append(request)
        return httpx.Response(
            400,
            json={
                "error": {
                    "message": "This model's maximum context length is 2048 tokens. However, you "
                    "requested 3000 tokens",
                    "type": "BadRequestError",
                }
            },
        )

    with pytest.raises(LLMContextTooLong) as caught:
        _call(_client(handler))

    assert len(calls) == 1
    assert "email mid:x@y" in str(caught.value)
    assert "http://llm.test/v1" in str(caught.value)
    assert len(caught.value.records) == 1
    assert caught.value.records[0].http_status == 400


def test_overload_is_retried_then_reported(monkeypatch):
    monkeypatch.setattr("mailsift.llm.client._backoff_s", lambda attempt, retry_after: 0.0)
    calls = []

    def handler(request):
        calls.append(request)
        return httpx.Response(503, json={"error": {"message": "queue full"}})

    with pytest.raises(LLMOverloaded) as caught:
        _call(_client(handler))

    assert len(calls) == 2
    assert [r.status for r in caught.value.records] == ["failed", "failed"]


def test_connection_refused_names_server():
    def handler(request):
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(LLMUnavailable) as caught:
        _call(_client(handler, max_attempts=1))

    assert "refused the connection" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_other_status_is_bad_response():
    def handler(request):
        return httpx.Response(500, text="engine dead")

    with pytest.raises(LLMBadResponse) as caught:
        _call(_client(handler))

    assert "500" in str(caught.value)
    assert "engine dead" in str(caught.value)


def test_success_records_usage_and_request_id():
    seen = {}

    def handler(request):
        seen["body"] = json.loads(request.content)
        seen["header"] = request.headers.get("x-request-id")
        return httpx.Response(
            200,
            json={
                "id": "chatcmpl-1",
                "choices": [{"message": {"role": "assistant", "content": '{"a": 1}'}}],
                "usage": {"prompt_tokens": 7, "completion_tokens": 4, "total_tokens": 11},
            },
        )

    outcome = _call(_client(handler))

    record = outcome.records[0]
    assert outcome.content == '{"a": 1}'
    assert record.usage.prompt_tokens == 7
    assert record.usage.cached_tokens is None
    assert record.response_id == "chatcmpl-1"
    assert seen["header"] == seen["body"]["request_id"] == record.request_id
    assert record.latency_ms > 0
