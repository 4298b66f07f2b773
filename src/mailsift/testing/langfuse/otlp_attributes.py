"""Attribute-level rules of the server's OTLP conversion: values, input/output, usage.

Input and output are taken from the first rule that finds anything, in the server's
order. Generic names come early in that order: a plain `input`, `output`, `prompt` or
`events` attribute wins over the GenAI semantic-convention keys, which is how an
application attribute silently replaces the recorded prompt or completion.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from mailsift.testing.langfuse.otlp import iter_attributes
from mailsift.testing.langfuse.records import js_json
from mailsift.testing.langfuse.usage import normalise_cost_details, normalise_usage_details

Attributes = Mapping[str, Any]
Events = list[tuple[str, dict[str, Any]]]
InputOutput = tuple[Any, Any]

_INDEXED_MESSAGE = re.compile(r"^(?P<prefix>.+?)\.(?P<index>\d+)\.(?P<field>.+)$")
# Keys read by the input/output rules; they never reach the `attributes` metadata copy.
IO_KEYS = frozenset(
    {
        "langfuse.observation.input",
        "langfuse.observation.output",
        "prompt",
        "all_messages_events",
        "events",
        "traceloop.entity.input",
        "traceloop.entity.output",
        "input.value",
        "output.value",
        "input",
        "output",
        "tool_arguments",
        "tool_response",
        "gen_ai.input.messages",
        "gen_ai.output.messages",
        "gen_ai.system_instructions",
        "gen_ai.tool.call.arguments",
        "gen_ai.tool.call.result",
    }
)
IO_KEY_PREFIXES = (
    "gen_ai.prompt.",
    "gen_ai.completion.",
    "llm.input_messages.",
    "llm.output_messages.",
)
_MESSAGE_EVENT_ROLES = {
    "gen_ai.system.message": "system",
    "gen_ai.user.message": "user",
    "gen_ai.assistant.message": "assistant",
    "gen_ai.tool.message": "tool",
}


def convert_value(value: Any) -> Any:
    """Convert an OTLP AnyValue as the server does; kvlist and bytes stay JSON-encoded raw."""
    if not isinstance(value, dict):
        return None
    if "stringValue" in value:
        return value["stringValue"]
    if "boolValue" in value:
        return bool(value["boolValue"])
    if "intValue" in value:
        try:
            return int(value["intValue"])
        except (TypeError, ValueError):
            return None
    if "doubleValue" in value:
        # The special doubles arrive as the strings "NaN" and "Infinity" and stay strings.
        return value["doubleValue"]
    if "arrayValue" in value:
        items = (value["arrayValue"] or {}).get("values", [])
        return [convert_value(item) for item in items]
    if "kvlistValue" in value:
        return js_json(value["kvlistValue"])
    if "bytesValue" in value:
        return js_json(value["bytesValue"])
    return None


def convert_attributes(raw: Any) -> dict[str, Any]:
    return {key: convert_value(value) for key, value in iter_attributes(raw)}


def parse_json_text(value: Any) -> tuple[bool, Any]:
    """Return (True, parsed) for a string holding JSON, (False, None) otherwise."""
    if not isinstance(value, str):
        return False, None
    try:
        return True, json.loads(value)
    except ValueError:
        return False, None


def extract_input_output(attributes: Attributes, events: Events) -> InputOutput:
    """Run the input/output rules in the server's order; the first with a hit wins both."""
    rules: list[Callable[[Attributes, Events], InputOutput]] = [
        _pair("langfuse.observation.input", "langfuse.observation.output"),
        _inference_details_event,
        _message_events,
        _content_events,
        _pair("prompt", None),
        _pair("all_messages_events", None),
        _pair("events", None),
        _pair("traceloop.entity.input", "traceloop.entity.output"),
        _pair("input.value", "output.value"),
        _pair("input", "output"),
        _pair("tool_arguments", "tool_response"),
        _indexed_messages("gen_ai.prompt", "gen_ai.completion"),
        _indexed_messages("llm.input_messages", "llm.output_messages"),
        _semconv_messages,
        _pair("gen_ai.tool.call.arguments", "gen_ai.tool.call.result"),
    ]
    # Limit: the server's Genkit, Vercel AI SDK, Flue, Google ADK, LiveKit, MLflow and
    # Pydantic-AI rules are not reproduced. Spans of those frameworks fall through to the
    # generic rules here.
    for rule in rules:
        found_input, found_output = rule(attributes, events)
        if found_input is not None or found_output is not None:
            return found_input, found_output
    return None, None


def _pair(input_key: str, output_key: str | None) -> Callable[[Attributes, Events], InputOutput]:
    def rule(attributes: Attributes, events: Events) -> InputOutput:
        found_output = attributes.get(output_key) if output_key else None
        return attributes.get(input_key), found_output

    return rule


def _inference_details_event(attributes: Attributes, events: Events) -> InputOutput:
    for name, event_attributes in events:
        if name == "gen_ai.client.inference.operation.details":
            return event_attributes.get("gen_ai.input.messages"), event_attributes.get(
                "gen_ai.output.messages"
            )
    return None, None


def _message_events(attributes: Attributes, events: Events) -> InputOutput:
    messages = [
        {"role": _MESSAGE_EVENT_ROLES[name], **body}
        for name, body in events
        if name in _MESSAGE_EVENT_ROLES
    ]
    choices = [body for name, body in events if name == "gen_ai.choice"]
    output: Any = None
    if choices:
        output = choices[0] if len(choices) == 1 else choices
    return (messages or None), output


def _content_events(attributes: Attributes, events: Events) -> InputOutput:
    found_input = found_output = None
    for name, body in events:
        if name == "gen_ai.content.prompt":
            found_input = body.get("gen_ai.prompt")
        elif name == "gen_ai.content.completion":
            found_output = body.get("gen_ai.completion")
    return found_input, found_output


def _indexed_messages(
    input_prefix: str, output_prefix: str
) -> Callable[[Attributes, Events], InputOutput]:
    def rule(attributes: Attributes, events: Events) -> InputOutput:
        return _rebuild(attributes, input_prefix), _rebuild(attributes, output_prefix)

    return rule


def _rebuild(attributes: Attributes, prefix: str) -> list[dict[str, Any]] | None:
    # `gen_ai.prompt.0.role`, `gen_ai.prompt.0.content`, ... become [{role, content}, ...].
    slots: dict[int, dict[str, Any]] = {}
    for key, value in attributes.items():
        match = _INDEXED_MESSAGE.match(key)
        if match is None or match["prefix"] != prefix:
            continue
        index = int(match["index"])
        if index < 10_000:
            slots.setdefault(index, {})[match["field"]] = value
    return [slots[index] for index in sorted(slots)] or None


def _semconv_messages(attributes: Attributes, events: Events) -> InputOutput:
    found_input = attributes.get("gen_ai.input.messages")
    instructions = attributes.get("gen_ai.system_instructions")
    if instructions is not None:
        parsed_ok, messages = parse_json_text(found_input) if found_input else (True, [])
        if parsed_ok and isinstance(messages, list):
            if not any(isinstance(m, dict) and m.get("role") == "system" for m in messages):
                parsed_instructions = parse_json_text(instructions)[1] or instructions
                messages = [{"role": "system", "content": parsed_instructions}, *messages]
            found_input = messages
    return found_input, attributes.get("gen_ai.output.messages")


def is_io_key(key: str) -> bool:
    return key in IO_KEYS or key.startswith(IO_KEY_PREFIXES)


_GENERIC_USAGE_NAMES = {
    "input_tokens": "input",
    "prompt_tokens": "input",
    "prompt": "input",
    "output_tokens": "output",
    "completion_tokens": "output",
    "completion": "output",
    "total_tokens": "total",
    "total": "total",
    "cache_read.input_tokens": "input_cached_tokens",
    "cache_read_input_tokens": "input_cached_tokens",
    "prompt_details.cache_read": "input_cached_tokens",
    "cache_creation.input_tokens": "input_cache_creation",
    "cache_creation_input_tokens": "input_cache_creation",
    "prompt_details.cache_write": "input_cache_creation",
    "reasoning.output_tokens": "output_reasoning_tokens",
    "completion_details.reasoning": "output_reasoning_tokens",
    "completion_details.audio": "output_audio_tokens",
}


def extract_usage_details(attributes: Attributes) -> dict[str, int]:
    """Usage from `langfuse.observation.usage_details`, else from `gen_ai.usage.*` keys."""
    if "langfuse.observation.usage_details" in attributes:
        raw = attributes["langfuse.observation.usage_details"]
        if not isinstance(raw, str):
            return {}
        parsed_ok, parsed = parse_json_text(raw)
        if parsed_ok:
            return normalise_usage_details(parsed) if isinstance(parsed, dict) else {}
        # Unparsable JSON falls back to the generic keys below.

    generic: dict[str, Any] = {}
    for key, value in attributes.items():
        for prefix in ("gen_ai.usage.", "llm.token_count."):
            if key.startswith(prefix) and key != "gen_ai.usage.cost":
                name = key.removeprefix(prefix)
                mapped = _GENERIC_USAGE_NAMES.get(name, name.removeprefix("details."))
                generic[mapped] = value
    usage = normalise_usage_details(generic)
    # Cached and cache-creation tokens are counted inside input; reasoning and audio inside
    # output. The server subtracts them so that the parts add up.
    for part, whole in (
        ("input_cached_tokens", "input"),
        ("input_cache_creation", "input"),
        ("output_reasoning_tokens", "output"),
        ("output_audio_tokens", "output"),
    ):
        if part in usage and whole in usage:
            usage[whole] = max(0, usage[whole] - usage[part])
    return usage


def extract_cost_details(attributes: Attributes) -> dict[str, float]:
    parsed_ok, parsed = parse_json_text(attributes.get("langfuse.observation.cost_details"))
    if parsed_ok and isinstance(parsed, dict):
        return normalise_cost_details(parsed)
    for key in ("gen_ai.usage.cost", "llm.cost.total"):
        if key in attributes:
            return normalise_cost_details({"total": attributes[key]})
    return {}


def extract_model_parameters(attributes: Attributes) -> dict[str, Any] | None:
    for key in (
        "langfuse.observation.model.parameters",
        "llm.invocation_parameters",
        "model_config",
    ):
        parsed_ok, parsed = parse_json_text(attributes.get(key))
        if parsed_ok and isinstance(parsed, dict):
            return parsed

    parameters: dict[str, Any] = {}
    for key, value in attributes.items():
        for prefix in ("gen_ai.request.", "llm.invocation_parameters."):
            name = key.removeprefix(prefix)
            if key.startswith(prefix) and name != "model":
                simple = isinstance(value, str | int | float) and not isinstance(value, bool)
                parameters[name] = value if simple else js_json(value)
    return parameters or None
