"""The LLM server check: the model is served, and one schema-constrained reply validates.

It goes through `LLMClient`, the client `mailsift run` uses, so the structured-output form,
the API key and the model choice are the ones a run would use.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

import jsonschema

from mailsift.config import resolve_llm
from mailsift.doctor.model import CheckResult, Layer
from mailsift.errors import (
    ConfigError,
    LLMBadResponse,
    LLMContextTooLong,
    LLMError,
    LLMOverloaded,
    LLMUnavailable,
)
from mailsift.llm.client import LLMClient, LLMSettings
from mailsift.llm.concurrency import FixedLimit

logger = logging.getLogger(__name__)

NO_URL = "no LLM URL (the embedded server is started by `mailsift run`)"
PROBE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"ok": {"type": "boolean"}},
    "required": ["ok"],
    "additionalProperties": False,
}
PROBE_MESSAGES = [
    {"role": "system", "content": "You reply with JSON only."},
    {"role": "user", "content": 'Reply with {"ok": true}.'},
]
PROBE_MAX_TOKENS = 32
READ_TIMEOUT_S = 60.0
"""Generous for a 32-token reply, because the first request may load the model."""
URL_HINT = "start the LLM server, or fix --llm-url / MAILSIFT_LLM_URL"
SCHEMA_HINT = (
    "the server ignored the JSON schema; use a server with structured output "
    "(vLLM, or llama.cpp's llama-server) and check its logs for grammar errors"
)


def check_llm(url: str | None, model: str | None) -> CheckResult:
    """Check the server at `url` (or MAILSIFT_LLM_URL / OPENAI_BASE_URL) serving `model`."""
    try:
        llm = resolve_llm(url=url, model=model, concurrency=1, read_timeout_s=READ_TIMEOUT_S)
    except ConfigError as exc:
        return CheckResult.failed(Layer.LLM, str(exc), URL_HINT)
    if llm.url is None:
        return CheckResult.skipped(Layer.LLM, NO_URL)

    try:
        settings = LLMSettings(
            base_url=llm.url,
            model=llm.model,
            api_key=llm.api_key,
            read_timeout_s=READ_TIMEOUT_S,
            # One attempt: the doctor reports what the server does now, not after retries.
            max_attempts=1,
        )
    except ValueError as exc:
        return CheckResult.failed(Layer.LLM, str(exc), URL_HINT)
    return asyncio.run(_probe(settings))


async def _probe(settings: LLMSettings) -> CheckResult:
    async with LLMClient(settings, limit=FixedLimit(1)) as client:
        try:
            await client.discover()
        except LLMError as exc:
            return CheckResult.failed(Layer.LLM, f"GET /models: {exc}", _hint(exc, listing=True))

        started = time.perf_counter()
        try:
            outcome = await client.chat_json(
                PROBE_MESSAGES,
                schema=PROBE_SCHEMA,
                schema_name="mailsift_doctor",
                purpose="doctor",
                max_tokens=PROBE_MAX_TOKENS,
                context="the doctor's test request",
            )
        except LLMError as exc:
            return CheckResult.failed(
                Layer.LLM, f"test completion: {exc}", _hint(exc, listing=False)
            )
        latency_ms = (time.perf_counter() - started) * 1000

    served = f"{client.model} listed by GET /models"
    problem = _reply_problem(outcome.content)
    if problem is not None:
        return CheckResult.failed(Layer.LLM, f"{served}; {problem}", SCHEMA_HINT)

    usage = outcome.records[-1].usage
    if usage.prompt_tokens is None and usage.completion_tokens is None:
        tokens = "the server reported no token usage"
    else:
        tokens = (
            f"usage {_count(usage.prompt_tokens)} prompt + "
            f"{_count(usage.completion_tokens)} completion tokens"
        )
    return CheckResult.passed(
        Layer.LLM,
        f"{served}; reply valid against the schema ({client.structured_output.value}) "
        f"in {latency_ms:.0f} ms; {tokens}",
    )


def _reply_problem(content: str) -> str | None:
    """Describe why the reply does not parse or validate, or return None when it does."""
    try:
        reply = json.loads(content)
    except ValueError:
        return f"the reply is not JSON: {content[:80]!r}"
    errors = sorted(jsonschema.Draft202012Validator(PROBE_SCHEMA).iter_errors(reply), key=str)
    if errors:
        return f"the reply {content[:80]!r} does not match the schema: {errors[0].message}"
    return None


def _hint(error: LLMError, *, listing: bool) -> str:
    if isinstance(error, LLMUnavailable):
        return URL_HINT
    if isinstance(error, LLMOverloaded):
        return "the server is overloaded (503/429); wait and run the doctor again"
    if isinstance(error, LLMContextTooLong):
        return "the model's context is too small even for a tiny prompt; raise it on the server"
    if error.status in (401, 403):
        return "set MAILSIFT_LLM_API_KEY (or OPENAI_API_KEY) to a key the server accepts"
    if listing and error.status == 404:
        return "give the API root ending in /v1, such as http://127.0.0.1:8000/v1"
    if listing and isinstance(error, LLMBadResponse) and error.status is None:
        return "pass --model (or set MAILSIFT_LLM_MODEL) to one of the served models"
    return "check the LLM server's logs"


def _count(value: int | None) -> str:
    return "?" if value is None else str(value)
