"""The OpenAI-compatible chat-completions wire format, and how servers differ on it.

Structured output is where servers diverge silently:
- vLLM (since 0.12) and llama.cpp's `llama-server` constrain on
  `response_format: {"type": "json_schema", "json_schema": {...}}`; vLLM ignores its removed
  `guided_json` field without an error, so it is never sent.
- llama-cpp-python's server constrains only on `{"type": "json_object", "schema": {...}}`.
Whichever is used, the reply is validated afterwards, because a server that ignores the
constraint still answers 200.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from mailsift.llm.records import ServerUsage


class StructuredOutput(StrEnum):
    JSON_SCHEMA = "json_schema"
    """OpenAI's `response_format` json_schema: vLLM, llama.cpp llama-server, OpenAI."""
    JSON_OBJECT_SCHEMA = "json_object"
    """`response_format` json_object with a `schema` key: llama-cpp-python's server."""


def structured_output_for_owner(owned_by: str | None) -> StructuredOutput:
    """Choose the structured-output form from `/v1/models`' `owned_by` field.

    vLLM reports "vllm" and llama.cpp's server "llamacpp"; llama-cpp-python reports "me".
    Unknown servers get json_schema, the OpenAI form most servers implement.
    """
    if owned_by == "me":
        return StructuredOutput.JSON_OBJECT_SCHEMA
    return StructuredOutput.JSON_SCHEMA


def build_chat_request(
    *,
    model: str,
    messages: list[dict[str, str]],
    schema: dict[str, Any],
    schema_name: str,
    structured_output: StructuredOutput,
    max_tokens: int,
    temperature: float,
    request_id: str,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": model,
        "messages": messages,
        "temperature": temperature,
        "max_tokens": max_tokens,
        "stream": False,
        # vLLM uses this as the id in its own logs, so server and client logs correlate.
        "request_id": request_id,
    }
    if structured_output is StructuredOutput.JSON_SCHEMA:
        body["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": schema_name, "schema": schema, "strict": True},
        }
    else:
        body["response_format"] = {"type": "json_object", "schema": schema}
    return body


def parse_usage(body: dict[str, Any]) -> ServerUsage:
    """Read token counts and server timings from a chat completion, None where absent."""
    usage = body.get("usage") if isinstance(body.get("usage"), dict) else {}
    assert isinstance(usage, dict)
    details = usage.get("prompt_tokens_details")
    cached = _int_or_none(details.get("cached_tokens")) if isinstance(details, dict) else None

    result = ServerUsage(
        prompt_tokens=_int_or_none(usage.get("prompt_tokens")),
        completion_tokens=_int_or_none(usage.get("completion_tokens")),
        total_tokens=_int_or_none(usage.get("total_tokens")),
        cached_tokens=cached,
    )

    timings = body.get("timings")
    metrics = body.get("metrics")
    if isinstance(timings, dict):
        # llama.cpp: prompt_ms is prefill, predicted_ms is decode; there is no queue time.
        result.prefill_ms = _float_or_none(timings.get("prompt_ms"))
        result.decode_ms = _float_or_none(timings.get("predicted_ms"))
        if result.cached_tokens is None:
            result.cached_tokens = _int_or_none(timings.get("cache_n"))
        result.raw_timings = timings
    elif isinstance(metrics, dict):
        # vLLM per-request metrics: time_to_first_token_ms counts from scheduling, so it
        # is the prefill time and excludes the queue.
        result.queue_ms = _float_or_none(metrics.get("queue_time_ms"))
        result.prefill_ms = _float_or_none(metrics.get("time_to_first_token_ms"))
        result.decode_ms = _float_or_none(metrics.get("generation_time_ms"))
        result.raw_timings = metrics
    return result


def parse_content(body: dict[str, Any]) -> str | None:
    """Return the first choice's message content, or None if the body has no such thing."""
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return None
    message = choices[0].get("message")
    if not isinstance(message, dict):
        return None
    content = message.get("content")
    return content if isinstance(content, str) else None


def error_message(body: Any, fallback: str) -> str:
    """Pull the server's error text from vLLM's current or older error shapes."""
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])
        if isinstance(error, str):
            return error
        if isinstance(body.get("message"), str):
            return str(body["message"])
        if isinstance(body.get("detail"), str):
            return str(body["detail"])
    return fallback


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _float_or_none(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)
