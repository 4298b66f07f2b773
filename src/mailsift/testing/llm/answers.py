"""Message content of the double's completions: the default per output mode, and faulty content."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import jsonschema

from mailsift.testing.llm.instances import SchemaInstanceError, build_instance
from mailsift.testing.llm.protocol import OutputMode, StructuredOutput

UNCONSTRAINED_ANSWER = (
    "Sure! Here is a summary of the email you sent. The sender asks for a reply by Friday "
    "and mentions an attached invoice. Let me know if you need anything else."
)
JSON_OBJECT_ANSWER = '{"summary": "example summary", "confidence": 0.5}'
# Cut off mid-string, the way a reply truncated by max_tokens looks.
INVALID_JSON_ANSWER = '{"summary": "The sender asks for a reply by Fri'


def render_default_answer(output: StructuredOutput) -> str:
    """Return the content the double sends when no fault or responder supplies one."""
    if output.mode is OutputMode.SCHEMA and output.schema is not None:
        return json.dumps(build_instance(output.schema))
    if output.mode is OutputMode.JSON_OBJECT:
        return JSON_OBJECT_ANSWER
    if output.mode is OutputMode.CHOICE:
        return output.choices[0]
    return UNCONSTRAINED_ANSWER


def render_schema_violation(schema: Mapping[str, Any] | None) -> str:
    """Return JSON text that parses but is invalid against `schema`.

    Candidates, checked with jsonschema in this order: the valid instance without one of its
    properties, the valid instance with the first property set to a value of another type,
    then documents of other types. Without a schema the result is a JSON array, which
    breaks any "JSON object" constraint. Raises SchemaInstanceError when the schema accepts
    every candidate.
    """
    if schema is None:
        return json.dumps(["not", "an", "object"])

    validator = jsonschema.validators.validator_for(schema)(schema)
    for candidate in _violation_candidates(schema):
        if not validator.is_valid(candidate):
            return json.dumps(candidate)

    raise SchemaInstanceError("the schema accepts every JSON value, so nothing can violate it")


def _violation_candidates(schema: Mapping[str, Any]) -> list[Any]:
    candidates: list[Any] = []
    valid = build_instance(schema)

    if isinstance(valid, dict) and valid:
        for key in valid:
            without_key = {k: v for k, v in valid.items() if k != key}
            candidates.append(without_key)

        first_key = next(iter(valid))
        wrong_values: list[Any] = [12345, "not a valid value", [], {}, None, True]
        for wrong_value in wrong_values:
            candidates.append({**valid, first_key: wrong_value})

    candidates.extend([["not", "an", "object"], "not an object", 0, None, {}])
    return candidates
