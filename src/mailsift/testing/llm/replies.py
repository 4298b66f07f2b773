"""Response bodies in each flavour's wire format: completions, usage, timings, errors, models.

Field sets follow vLLM's OpenAI-compatible server (mid-2026 sources), llama.cpp's
llama-server and llama-cpp-python's server. Values that a real server would compute from
the GPU come from the double's batching model.
"""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from mailsift.testing.llm.protocol import Flavour
from mailsift.testing.llm.timing import RequestTiming

# llama-server's error "type" per status; other statuses fall back by class.
_LLAMA_CPP_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    500: "server_error",
    501: "not_supported_error",
    503: "unavailable_error",
}


@dataclass(frozen=True)
class TokenUsage:
    """Token counts of one completion; `cached_tokens` is part of `prompt_tokens`."""

    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int


def default_error_type(flavour: Flavour, status_code: int) -> str:
    """Return the error "type" a flavour sends for a status, e.g. "BadRequestError" for vLLM."""
    if flavour is Flavour.VLLM:
        # vLLM names types after the status phrase, e.g. ServiceUnavailableError for 503.
        words = HTTPStatus(status_code).phrase.replace("-", " ").split()
        if words[-1] == "Error":
            words = words[:-1]
        return "".join(word[:1].upper() + word[1:] for word in words) + "Error"

    if flavour is Flavour.LLAMA_CPP:
        fallback = "server_error" if status_code >= 500 else "invalid_request_error"
        return _LLAMA_CPP_ERROR_TYPES.get(status_code, fallback)

    return "server_error" if status_code >= 500 else "invalid_request_error"


def error_body(
    flavour: Flavour,
    status_code: int,
    message: str,
    *,
    error_type: str | None = None,
    param: str | None = None,
    code: str | int | None = None,
) -> dict[str, Any]:
    """Build an error body: OpenAI's {"error": {...}} envelope with the flavour's fields."""
    resolved_type = error_type or default_error_type(flavour, status_code)

    if flavour is Flavour.LLAMA_CPP:
        return {"error": {"code": status_code, "message": message, "type": resolved_type}}

    # vLLM puts the HTTP status in "code"; llama-cpp-python uses an OpenAI-style string or null.
    resolved_code = status_code if flavour is Flavour.VLLM else code
    return {
        "error": {"message": message, "type": resolved_type, "param": param, "code": resolved_code}
    }


def context_overflow_body(
    flavour: Flavour, *, max_model_len: int, prompt_tokens: int, max_tokens: int | None
) -> dict[str, Any] | None:
    """Return the 400 body a flavour sends when the prompt does not fit, or None when it fits.

    llama-server only checks the prompt against its context; vLLM and llama-cpp-python add the
    requested completion tokens (at least one token when max_tokens is not sent).
    """
    if flavour is Flavour.LLAMA_CPP:
        if prompt_tokens < max_model_len:
            return None
        body = error_body(
            flavour,
            400,
            f"request ({prompt_tokens} tokens) exceeds the available context size "
            f"({max_model_len} tokens), try increasing it",
            error_type="exceed_context_size_error",
        )
        body["error"].update({"n_prompt_tokens": prompt_tokens, "n_ctx": max_model_len})
        return body

    completion = max_tokens if max_tokens is not None else 1
    requested = prompt_tokens + completion
    if requested <= max_model_len:
        return None

    message = (
        f"This model's maximum context length is {max_model_len} tokens. However, you requested "
        f"{requested} tokens ({prompt_tokens} in the messages, {completion} in the completion). "
        "Please reduce the length of the messages or completion."
    )
    if flavour is Flavour.VLLM:
        return error_body(flavour, 400, message)
    return error_body(flavour, 400, message, param="messages", code="context_length_exceeded")


def chat_completion_body(
    *,
    flavour: Flavour,
    completion_id: str,
    created: int,
    model: str,
    content: str,
    finish_reason: str,
    usage: TokenUsage,
    timing: RequestTiming,
    per_request_metrics: bool,
) -> dict[str, Any]:
    """Build a non-streaming chat.completion body with the flavour's extra fields."""
    message: dict[str, Any] = {"role": "assistant", "content": content}
    choice: dict[str, Any] = {"index": 0, "message": message, "logprobs": None}
    choice["finish_reason"] = finish_reason

    body: dict[str, Any] = {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [choice],
        "usage": _usage(flavour, usage),
    }

    if flavour is Flavour.VLLM:
        message["tool_calls"] = []
        choice["stop_reason"] = None
        body["system_fingerprint"] = None
        if per_request_metrics:
            body["metrics"] = _vllm_metrics(timing)

    if flavour is Flavour.LLAMA_CPP:
        body["system_fingerprint"] = "b0000-mailsift-double"
        body["timings"] = _llama_cpp_timings(usage, timing)

    return body


def models_body(flavour: Flavour, model: str, max_model_len: int, created: int) -> dict[str, Any]:
    """Build the /v1/models list with one card in the flavour's shape.

    Only vLLM reports `max_model_len`. llama-server's card carries the training context as
    meta.n_ctx_train (set to max_model_len here), and llama-cpp-python's card has neither.
    """
    card: dict[str, Any] = {"id": model, "object": "model", "created": created}

    if flavour is Flavour.VLLM:
        card.update(owned_by="vllm", root=model, parent=None, max_model_len=max_model_len)
    elif flavour is Flavour.LLAMA_CPP:
        card.update(owned_by="llamacpp", meta={"n_ctx_train": max_model_len})
    else:
        card.update(owned_by="me", permissions=[])

    return {"object": "list", "data": [card]}


def _usage(flavour: Flavour, usage: TokenUsage) -> dict[str, Any]:
    counts: dict[str, Any] = {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.prompt_tokens + usage.completion_tokens,
    }
    if flavour is Flavour.VLLM:
        # Null unless vLLM runs with --enable-prompt-tokens-details (off by default).
        counts["prompt_tokens_details"] = None
    elif flavour is Flavour.LLAMA_CPP:
        counts["prompt_tokens_details"] = {"cached_tokens": usage.cached_tokens}
    return counts


def _vllm_metrics(timing: RequestTiming) -> dict[str, Any]:
    tokens = timing.completion_tokens
    generation_ms = timing.decode_s * 1000
    scheduled_to_last_s = timing.prefill_s + timing.decode_s

    return {
        "queue_time_ms": timing.queue_s * 1000,
        "time_to_first_token_ms": timing.prefill_s * 1000,
        "generation_time_ms": generation_ms,
        "mean_itl_ms": generation_ms / (tokens - 1) if tokens > 1 else None,
        "tokens_per_second": tokens / scheduled_to_last_s if scheduled_to_last_s > 0 else None,
    }


def _llama_cpp_timings(usage: TokenUsage, timing: RequestTiming) -> dict[str, Any]:
    prompt_n = usage.prompt_tokens - usage.cached_tokens
    prompt_ms = timing.prefill_s * 1000
    predicted_n = usage.completion_tokens
    predicted_ms = timing.decode_s * 1000

    # Rates over a zero duration are null rather than infinite, which JSON cannot carry.
    return {
        "cache_n": usage.cached_tokens,
        "prompt_n": prompt_n,
        "prompt_ms": prompt_ms,
        "prompt_per_token_ms": prompt_ms / prompt_n if prompt_n else None,
        "prompt_per_second": 1000 * prompt_n / prompt_ms if prompt_ms > 0 else None,
        "predicted_n": predicted_n,
        "predicted_ms": predicted_ms,
        "predicted_per_token_ms": predicted_ms / predicted_n if predicted_n else None,
        "predicted_per_second": 1000 * predicted_n / predicted_ms if predicted_ms > 0 else None,
    }
