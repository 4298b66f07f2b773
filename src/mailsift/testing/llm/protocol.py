"""Request side of the LLM server double: flavours, structured-output selection, token counts.

Each flavour reads structured-output fields the way its real server does, so a client that
sends a field the server ignores gets unconstrained output here too (HTTP 200, no error).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

logger = logging.getLogger(__name__)

# Request fields that vLLM removed in v0.12.0. vLLM accepts unknown fields, so these only
# trigger a server-side warning and the output is not constrained.
REMOVED_VLLM_FIELDS = (
    "guided_json",
    "guided_regex",
    "guided_choice",
    "guided_grammar",
    "guided_whitespace_pattern",
    "guided_decoding_backend",
)

# Keys of vLLM's `structured_outputs` that the double cannot honour. A request using one is
# rejected with 400, because silently ignoring it would let a test pass for the wrong reason.
UNSUPPORTED_STRUCTURED_OUTPUT_KEYS = ("regex", "grammar", "structural_tag")

CHARS_PER_TOKEN = 4


class Flavour(StrEnum):
    """The server implementation whose wire behaviour the double reproduces."""

    VLLM = "vllm"
    LLAMA_CPP_PYTHON = "llama-cpp-python"
    LLAMA_CPP = "llama.cpp"


class OutputMode(StrEnum):
    """The kind of content the double produces for a request."""

    SCHEMA = "schema"  # a JSON instance of StructuredOutput.schema
    JSON_OBJECT = "json_object"  # any JSON object
    CHOICE = "choice"  # one of StructuredOutput.choices, as plain text
    TEXT = "text"  # unconstrained prose


class InvalidRequest(ValueError):
    """A request the double rejects: malformed, or asking for an unsupported constraint.

    The status is 400 except where a real server answers otherwise.
    """

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class StructuredOutput:
    """The constraint the double applies, and the request field it came from."""

    mode: OutputMode
    schema: dict[str, Any] | None = None
    choices: tuple[str, ...] = ()
    source: str | None = None


UNCONSTRAINED = StructuredOutput(OutputMode.TEXT)


@dataclass(frozen=True)
class ChatRequest:
    """A chat completion request as the double understood it, passed to a responder."""

    flavour: Flavour
    body: dict[str, Any]
    headers: Mapping[str, str]
    output: StructuredOutput
    messages: list[dict[str, Any]] = field(default_factory=list)

    @property
    def schema(self) -> dict[str, Any] | None:
        """The JSON schema the content must follow, or None when nothing constrains it."""
        return self.output.schema

    @property
    def prompt_text(self) -> str:
        """The text of all messages, the input of the prompt token count."""
        return prompt_text(self.messages)

    @property
    def last_user_message(self) -> str | None:
        """The text of the last message with role "user", or None when there is none."""
        for message in reversed(self.messages):
            if message.get("role") == "user":
                return message_text(message)
        return None


# A responder returns the content for a request, or None to use the double's default content.
Responder = Callable[[ChatRequest], str | None]


def message_text(message: Mapping[str, Any]) -> str:
    """Return a message's text: a string content, or the text parts of a content list."""
    content = message.get("content")
    if isinstance(content, str):
        return content

    if isinstance(content, list):
        parts = [part.get("text", "") for part in content if isinstance(part, dict)]
        return "".join(part for part in parts if isinstance(part, str))

    return ""


def prompt_text(messages: list[dict[str, Any]]) -> str:
    """Join the messages' texts with newlines; roles and chat templates are not counted."""
    return "\n".join(message_text(message) for message in messages)


def count_tokens(text: str) -> int:
    """Estimate tokens as ceil(characters / 4), the double's only tokenizer."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def select_structured_output(
    flavour: Flavour, body: Mapping[str, Any], *, ignore_schema: bool
) -> StructuredOutput:
    """Decide which constraint `flavour` would apply to a request body.

    Raises InvalidRequest for constraints the double recognises but cannot produce.
    """
    if ignore_schema:
        return UNCONSTRAINED

    if flavour is Flavour.VLLM:
        return _select_for_vllm(body)
    if flavour is Flavour.LLAMA_CPP_PYTHON:
        return _select_for_llama_cpp_python(body)
    return _select_for_llama_cpp(body)


def _response_format(body: Mapping[str, Any]) -> tuple[str | None, Mapping[str, Any]]:
    response_format = body.get("response_format")
    if not isinstance(response_format, Mapping):
        return None, {}
    format_type = response_format.get("type")
    return (format_type if isinstance(format_type, str) else None), response_format


def _json_schema_of(response_format: Mapping[str, Any]) -> dict[str, Any] | None:
    wrapper = response_format.get("json_schema")
    if not isinstance(wrapper, Mapping):
        return None
    schema = wrapper.get("schema")
    return dict(schema) if isinstance(schema, Mapping) else None


def _select_for_vllm(body: Mapping[str, Any]) -> StructuredOutput:
    ignored = [name for name in REMOVED_VLLM_FIELDS if name in body]
    if ignored:
        # vLLM logs the same kind of warning and answers 200 without a constraint.
        logger.warning("ignoring removed vLLM request fields %s", ", ".join(ignored))

    # response_format wins over structured_outputs when both are sent, as in vLLM.
    format_type, response_format = _response_format(body)
    if format_type == "json_schema":
        schema = _json_schema_of(response_format)
        if schema is None:
            raise InvalidRequest("response_format.json_schema.schema is missing")
        return StructuredOutput(OutputMode.SCHEMA, schema, source="response_format.json_schema")
    if format_type == "json_object":
        return StructuredOutput(OutputMode.JSON_OBJECT, source="response_format.json_object")

    structured = body.get("structured_outputs")
    if not isinstance(structured, Mapping):
        return UNCONSTRAINED

    for key in UNSUPPORTED_STRUCTURED_OUTPUT_KEYS:
        if structured.get(key) is not None:
            raise InvalidRequest(f"structured_outputs.{key} is not supported by the double")

    json_field = structured.get("json")
    if isinstance(json_field, str):
        # vLLM also takes the schema as a JSON string.
        try:
            json_field = json.loads(json_field)
        except json.JSONDecodeError as error:
            raise InvalidRequest(f"structured_outputs.json is not valid JSON: {error}") from error
    if isinstance(json_field, Mapping):
        return StructuredOutput(
            OutputMode.SCHEMA, dict(json_field), source="structured_outputs.json"
        )

    choice = structured.get("choice")
    if isinstance(choice, list) and choice:
        return StructuredOutput(
            OutputMode.CHOICE,
            choices=tuple(str(c) for c in choice),
            source="structured_outputs.choice",
        )

    return UNCONSTRAINED


def _select_for_llama_cpp_python(body: Mapping[str, Any]) -> StructuredOutput:
    # llama-cpp-python builds a grammar only from the json_object type, with an optional schema.
    # Its request model types `response_format.type` as "text" | "json_object", so
    # llama-cpp-python 0.3.36 answers a json_schema request with a validation error wrapped
    # in HTTP 500 (checked against the real server here).
    format_type, response_format = _response_format(body)
    if format_type == "json_schema":
        raise InvalidRequest(
            "1 validation error:\n  {'type': 'literal_error', 'loc': ('body', "
            "'response_format', 'type'), 'msg': \"Input should be 'text' or 'json_object'\", "
            "'input': 'json_schema'}",
            status=500,
        )
    if format_type != "json_object":
        return UNCONSTRAINED

    schema = response_format.get("schema")
    if isinstance(schema, Mapping):
        return StructuredOutput(OutputMode.SCHEMA, dict(schema), source="response_format.schema")
    return StructuredOutput(OutputMode.JSON_OBJECT, source="response_format.json_object")


def _select_for_llama_cpp(body: Mapping[str, Any]) -> StructuredOutput:
    format_type, response_format = _response_format(body)
    if format_type == "json_schema":
        schema = _json_schema_of(response_format)
        if schema is None:
            raise InvalidRequest("response_format.json_schema.schema is missing")
        return StructuredOutput(OutputMode.SCHEMA, schema, source="response_format.json_schema")

    if format_type == "json_object":
        schema = response_format.get("schema")
        if isinstance(schema, Mapping):
            return StructuredOutput(
                OutputMode.SCHEMA, dict(schema), source="response_format.schema"
            )
        return StructuredOutput(OutputMode.JSON_OBJECT, source="response_format.json_object")

    # llama-server also has its own top-level `json_schema` field.
    native_schema = body.get("json_schema")
    if isinstance(native_schema, Mapping):
        return StructuredOutput(OutputMode.SCHEMA, dict(native_schema), source="json_schema")

    return UNCONSTRAINED
