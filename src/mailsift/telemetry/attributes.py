"""Span attribute names as the Langfuse server reads them, and their value encoding.

Names follow the server's OTLP mapping (v4.16.0). Two rules matter more than the rest:
- Langfuse claims generic names before its own fallbacks: an attribute called `model`
  turns any span into a generation, and `input`, `output`, `prompt` or `events` replace the
  observation's input and output. mailsift never emits those bare names.
- On the v4 direct write path there is no trace row: user, session, tags and trace name are
  stored per observation, so the trace-level attributes go on every span.
"""

from __future__ import annotations

from typing import Any

from mailsift.telemetry import payload

TRACE_NAME = "langfuse.trace.name"
TRACE_TAGS = "langfuse.trace.tags"
TRACE_INPUT = "langfuse.trace.input"
TRACE_OUTPUT = "langfuse.trace.output"
TRACE_METADATA_PREFIX = "langfuse.trace.metadata."
USER_ID = "user.id"
SESSION_ID = "session.id"
ENVIRONMENT = "langfuse.environment"
RELEASE = "langfuse.release"

OBSERVATION_TYPE = "langfuse.observation.type"
OBSERVATION_INPUT = "langfuse.observation.input"
OBSERVATION_OUTPUT = "langfuse.observation.output"
OBSERVATION_METADATA_PREFIX = "langfuse.observation.metadata."
OBSERVATION_LEVEL = "langfuse.observation.level"
OBSERVATION_STATUS_MESSAGE = "langfuse.observation.status_message"
MODEL_NAME = "langfuse.observation.model.name"
MODEL_PARAMETERS = "langfuse.observation.model.parameters"
USAGE_DETAILS = "langfuse.observation.usage_details"
COST_DETAILS = "langfuse.observation.cost_details"
COMPLETION_START_TIME = "langfuse.observation.completion_start_time"
PROMPT_NAME = "langfuse.observation.prompt.name"
PROMPT_VERSION = "langfuse.observation.prompt.version"

GEN_AI_OPERATION = "gen_ai.operation.name"
GEN_AI_REQUEST_MODEL = "gen_ai.request.model"
GEN_AI_RESPONSE_MODEL = "gen_ai.response.model"
GEN_AI_INPUT_TOKENS = "gen_ai.usage.input_tokens"
GEN_AI_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"

FORBIDDEN_NAMES = frozenset({"model", "input", "output", "prompt", "events"})
"""Bare names the server claims for model and input/output detection."""

TRACE_LEVEL_PREFIXES = (TRACE_NAME, TRACE_TAGS, TRACE_METADATA_PREFIX, USER_ID, SESSION_ID)


def encode_json(value: Any) -> str:
    """Encode a value the way Langfuse expects JSON-valued attributes: as a JSON string.

    Any value is accepted; see `mailsift.telemetry.payload` for how odd ones are encoded.
    """
    return payload.encode_json(value)


def usage_details(
    *,
    input_tokens: int | None,
    output_tokens: int | None,
    total_tokens: int | None,
    cached_tokens: int | None,
) -> tuple[dict[str, int], list[str]]:
    """Map the LLM server's counts to Langfuse usage details; return them and any problems.

    Langfuse's usage model splits input into `input` (not cached) and `input_cached_tokens`,
    the split its own OpenAI mapping makes, so the cached count is taken out of `input` once.
    Nothing else is subtracted, and the counts are never "fixed": a reply whose counts do not
    add up is sent as reported, with the problem returned for a warning.
    """
    problems: list[str] = []
    counts = {
        "input": input_tokens,
        "output": output_tokens,
        "total": total_tokens,
        "input_cached_tokens": cached_tokens,
    }
    details = {
        key: value
        for key, value in counts.items()
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0
    }
    for key, value in counts.items():
        if value is not None and key not in details:
            problems.append(f"{key}={value!r} is not a non-negative integer")

    cached = details.get("input_cached_tokens")
    if cached is not None and "input" in details:
        if cached > details["input"]:
            problems.append(f"cached tokens {cached} exceed prompt tokens {details['input']}")
        else:
            details["input"] -= cached
    if {"input", "output", "total"} <= details.keys():
        counted = details["input"] + details["output"] + (cached or 0)
        if counted != details["total"]:
            problems.append(f"input + output = {counted} but total = {details['total']}")
    return details, problems
