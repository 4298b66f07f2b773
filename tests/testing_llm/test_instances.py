"""build_instance and the schema-violation renderer, checked with jsonschema."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any

import jsonschema
import pytest
from pydantic import BaseModel, Field

from mailsift.testing.llm import SchemaInstanceError, build_instance
from mailsift.testing.llm.answers import render_schema_violation


class Category(StrEnum):
    INVOICE = "invoice"
    RECEIPT = "receipt"
    NEWSLETTER = "newsletter"


class Party(BaseModel):
    name: str
    email: str | None = None


class LineItem(BaseModel):
    description: str
    quantity: int = Field(ge=1, le=1000)
    unit_price: float = Field(gt=0)


class Folder(BaseModel):
    label: str
    subfolders: list[Folder] = []


class Extraction(BaseModel):
    category: Category
    sender: Party
    recipients: list[Party]
    items: list[LineItem]
    total: float | None = None
    due_date: str | None = Field(default=None, json_schema_extra={"format": "date"})
    folder: Folder
    tags: list[str] = Field(default_factory=list, max_length=3)


ASSORTED_SCHEMAS: dict[str, dict[str, Any]] = {
    "flat object": {
        "type": "object",
        "properties": {"subject": {"type": "string"}, "urgent": {"type": "boolean"}},
        "required": ["subject"],
        "additionalProperties": False,
    },
    "enum and const": {
        "type": "object",
        "properties": {"kind": {"enum": ["a", "b"]}, "version": {"const": 2}},
        "required": ["kind", "version"],
    },
    "number bounds": {
        "type": "object",
        "properties": {
            "score": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
            "count": {"type": "integer", "minimum": 10, "maximum": 20, "multipleOf": 5},
            "negative": {"type": "integer", "maximum": -3},
        },
        "required": ["score", "count", "negative"],
    },
    "string lengths and formats": {
        "type": "object",
        "properties": {
            "code": {"type": "string", "minLength": 30},
            "short": {"type": "string", "maxLength": 3},
            "when": {"type": "string", "format": "date-time"},
            "id": {"type": "string", "format": "uuid"},
        },
        "required": ["code", "short", "when", "id"],
    },
    "arrays": {
        "type": "object",
        "properties": {
            "pair": {"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}]},
            "many": {"type": "array", "items": {"type": "integer"}, "minItems": 3},
            "none": {"type": "array", "items": {"type": "string"}, "maxItems": 0},
        },
        "required": ["pair", "many", "none"],
    },
    "nullable type list": {
        "type": "object",
        "properties": {"note": {"type": ["null", "string"]}},
        "required": ["note"],
    },
    "anyOf with null": {
        "type": "object",
        "properties": {"amount": {"anyOf": [{"type": "null"}, {"type": "number"}]}},
        "required": ["amount"],
    },
    "allOf merge": {
        "allOf": [
            {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
            {"properties": {"b": {"type": "integer"}}, "required": ["b"]},
        ]
    },
    "definitions and root ref": {
        "definitions": {"node": {"type": "object", "properties": {"next": {"$ref": "#"}}}},
        "type": "object",
        "properties": {"head": {"$ref": "#/definitions/node"}},
        "required": ["head"],
    },
    "top-level array": {"type": "array", "items": {"type": "string", "enum": ["x", "y"]}},
    "pydantic extraction": Extraction.model_json_schema(),
}


@pytest.mark.parametrize("name", list(ASSORTED_SCHEMAS))
def test_instance_validates_against_schema(name: str) -> None:
    schema = ASSORTED_SCHEMAS[name]

    instance = build_instance(schema)

    jsonschema.validate(instance, schema, format_checker=jsonschema.FormatChecker())


def test_instance_is_deterministic() -> None:
    schema = Extraction.model_json_schema()

    first = json.dumps(build_instance(schema))
    second = json.dumps(build_instance(schema))

    assert first == second


def test_pydantic_instance_parses_back() -> None:
    instance = build_instance(Extraction.model_json_schema())

    extraction = Extraction.model_validate(instance)

    assert extraction.category is Category.INVOICE
    assert extraction.sender.name == "example name"
    assert len(extraction.items) == 1
    assert extraction.items[0].quantity == 1
    assert extraction.due_date == "2024-05-01"
    assert extraction.folder.subfolders, "optional nested lists should be filled at low depth"


def test_instance_fills_optional_properties() -> None:
    schema = {"type": "object", "properties": {"optional": {"type": "string"}}}

    instance = build_instance(schema)

    assert instance == {"optional": "example optional"}


def test_recursive_required_schema_raises() -> None:
    schema = {
        "type": "object",
        "properties": {"child": {"$ref": "#"}},
        "required": ["child"],
    }

    with pytest.raises(SchemaInstanceError, match="deeper"):
        build_instance(schema)


def test_false_schema_raises() -> None:
    with pytest.raises(SchemaInstanceError, match="allows no value"):
        build_instance({"type": "object", "properties": {"x": False}, "required": ["x"]})


def test_remote_ref_raises() -> None:
    with pytest.raises(SchemaInstanceError, match="non-local"):
        build_instance({"$ref": "https://example.com/schema.json"})


@pytest.mark.parametrize("name", list(ASSORTED_SCHEMAS))
def test_violation_parses_but_is_invalid(name: str) -> None:
    schema = ASSORTED_SCHEMAS[name]

    document = json.loads(render_schema_violation(schema))

    assert not jsonschema.validators.validator_for(schema)(schema).is_valid(document)


def test_violation_without_schema_is_not_object() -> None:
    document = json.loads(render_schema_violation(None))

    assert not isinstance(document, dict)


def test_violation_of_accept_all_schema_raises() -> None:
    with pytest.raises(SchemaInstanceError, match="accepts every"):
        render_schema_violation({})
