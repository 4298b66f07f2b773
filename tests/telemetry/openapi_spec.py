"""Load Langfuse's OpenAPI spec and validate ingestion events against it with jsonschema."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest

SPEC = Path(__file__).resolve().parents[2].parent / "shared" / "langfuse" / "openapi.yml"

# The server accepts only ISO 8601 date-times with seconds and a zone (zod iso.datetime with
# offset), stricter than the spec's `format: date-time`.
STRICT_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})$")


@cache
def _components() -> dict[str, Any]:
    if not SPEC.is_file():
        pytest.skip(f"Langfuse OpenAPI spec not found at {SPEC}; it lives beside the checkout")
    yaml = pytest.importorskip("yaml")
    spec = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    components = {
        name: _to_json_schema(schema) for name, schema in spec["components"]["schemas"].items()
    }
    # MapValue's branches overlap in JSON Schema (an integer is also a number, null matches
    # every nullable branch), so `oneOf` would reject every integer. Code generators for this
    # spec read it as "any of these".
    components["MapValue"] = {"anyOf": components["MapValue"]["oneOf"]}
    return components


def _to_json_schema(node: Any) -> Any:
    """Translate OpenAPI 3.0 schema dialect (nullable, component refs) to JSON Schema."""
    if isinstance(node, list):
        return [_to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    converted = {key: _to_json_schema(value) for key, value in node.items() if key != "nullable"}
    if "$ref" in converted:
        converted["$ref"] = converted["$ref"].replace("#/components/schemas/", "#/$defs/")
    if node.get("nullable"):
        return {"anyOf": [converted, {"type": "null"}]}
    return converted


def event_variant(event_type: str) -> dict[str, Any]:
    """Return the IngestionEvent branch whose `type` enum holds `event_type`."""
    for branch in _components()["IngestionEvent"]["oneOf"]:
        for part in branch.get("allOf", []):
            enum = part.get("properties", {}).get("type", {}).get("enum")
            if enum == [event_type]:
                return branch
    raise AssertionError(f"the spec has no IngestionEvent branch for {event_type!r}")


def validate_event(event: dict[str, Any]) -> None:
    schema = {"$defs": _components(), **event_variant(event["type"])}
    checker = jsonschema.FormatChecker()

    @checker.checks("date-time")
    def _strict(value: object) -> bool:
        return not isinstance(value, str) or bool(STRICT_DATETIME.match(value))

    jsonschema.Draft202012Validator(schema, format_checker=checker).validate(event)
