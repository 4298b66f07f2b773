"""Deterministic instances of JSON schemas, so that schema-constrained content validates.

The same schema always gives the same instance, so tests can compare whole documents.
String values are built from the property name ("example subject"), numbers prefer 1 or 1.5
inside the schema's bounds, arrays get one item and optional properties are filled in until
nesting gets deep, where recursion stops by leaving out optional properties and choosing
null branches.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

logger = logging.getLogger(__name__)

# Nesting depth after which optional properties are left out, so recursive schemas end.
OPTIONAL_DEPTH = 6
# Nesting depth at which a schema is declared impossible to instantiate finitely.
MAX_DEPTH = 64

_FORMAT_EXAMPLES = {
    "date-time": "2024-05-01T09:30:00Z",
    "date": "2024-05-01",
    "time": "09:30:00Z",
    "duration": "P1D",
    "email": "sender@example.com",
    "idn-email": "sender@example.com",
    "hostname": "mail.example.com",
    "idn-hostname": "mail.example.com",
    "ipv4": "192.0.2.1",
    "ipv6": "2001:db8::1",
    "uri": "https://example.com/",
    "uri-reference": "https://example.com/",
    "iri": "https://example.com/",
    "uuid": "00000000-0000-4000-8000-000000000000",
}


class SchemaInstanceError(ValueError):
    """A schema for which the double cannot build a valid instance."""


def build_instance(schema: Mapping[str, Any] | bool) -> Any:
    """Build a deterministic instance of a JSON schema (drafts 7 and 2020-12 keywords).

    Raises SchemaInstanceError for `false` schemas and schemas that only allow infinite
    documents.
    """
    root = schema if isinstance(schema, Mapping) else {}
    return _InstanceBuilder(root).build(schema, "", 0)


class _InstanceBuilder:
    def __init__(self, root: Mapping[str, Any]) -> None:
        self._root = root

    def build(self, schema: Mapping[str, Any] | bool, name: str, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise SchemaInstanceError(f"schema nests deeper than {MAX_DEPTH} levels at {name!r}")
        if isinstance(schema, bool):
            if not schema:
                raise SchemaInstanceError(f"schema for {name!r} is false and allows no value")
            return _example_text(name)
        if not schema:
            return _example_text(name)

        if "$ref" in schema:
            target = self._resolve(schema["$ref"])
            return self.build(_with_siblings(schema, "$ref", target), name, depth + 1)
        if "const" in schema:
            return schema["const"]
        if schema.get("enum"):
            return schema["enum"][0]
        if "allOf" in schema:
            return self.build(_merge_all_of(schema), name, depth + 1)
        for keyword in ("anyOf", "oneOf"):
            if schema.get(keyword):
                branch = _choose_branch(schema[keyword], prefer_null=depth >= OPTIONAL_DEPTH)
                return self.build(_with_siblings(schema, keyword, branch), name, depth + 1)

        schema_type = _choose_type(schema, prefer_null=depth >= OPTIONAL_DEPTH)
        if schema_type == "object":
            return self._build_object(schema, depth)
        if schema_type == "array":
            return self._build_array(schema, name, depth)
        if schema_type == "string":
            return _build_string(schema, name)
        if schema_type in ("integer", "number"):
            return _choose_number(schema, integer=schema_type == "integer")
        if schema_type == "boolean":
            return True
        if schema_type == "null":
            return None
        return _example_text(name)

    def _resolve(self, reference: str) -> Mapping[str, Any] | bool:
        # Limit: only local references ("#", "#/$defs/Name", "#/definitions/Name") are
        # followed; remote and relative-URI references raise SchemaInstanceError.
        if not reference.startswith("#"):
            raise SchemaInstanceError(f"cannot resolve non-local $ref {reference!r}")

        target: Any = self._root
        for part in reference.lstrip("#").split("/"):
            if not part:
                continue
            key = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(target, Mapping) or key not in target:
                raise SchemaInstanceError(f"$ref {reference!r} points to nothing")
            target = target[key]

        if not isinstance(target, (Mapping, bool)):
            raise SchemaInstanceError(f"$ref {reference!r} does not point to a schema")
        return target

    def _build_object(self, schema: Mapping[str, Any], depth: int) -> dict[str, Any]:
        properties: Mapping[str, Any] = schema.get("properties", {})
        required = list(schema.get("required", []))
        instance: dict[str, Any] = {}

        for key, subschema in properties.items():
            if key in required or depth < OPTIONAL_DEPTH:
                instance[key] = self.build(subschema, key, depth + 1)

        # Required names without a property schema take additionalProperties' schema.
        extra_schema = schema.get("additionalProperties", True)
        for key in required:
            if key not in instance:
                instance[key] = self.build(extra_schema, key, depth + 1)

        # Limit: minProperties, patternProperties and dependentRequired are not honoured.
        return instance

    def _build_array(self, schema: Mapping[str, Any], name: str, depth: int) -> list[Any]:
        prefix_items = schema.get("prefixItems")
        if isinstance(prefix_items, list):
            return [self.build(item, name, depth + 1) for item in prefix_items]

        min_items = int(schema.get("minItems", 0))
        max_items = schema.get("maxItems")
        count = min_items if depth >= OPTIONAL_DEPTH else max(1, min_items)
        if max_items is not None:
            count = min(count, int(max_items))

        # Limit: with uniqueItems and minItems > 1 the items repeat and the instance is invalid.
        item_schema = schema.get("items", True)
        return [self.build(item_schema, name, depth + 1) for _ in range(count)]


def _example_text(name: str) -> str:
    words = name.replace("_", " ").replace("-", " ").strip()
    return f"example {words}" if words else "example text"


# Tried in order against a `pattern`: codes, digits and words cover the patterns that field
# schemas use (currency codes, ids, dates).
_PATTERN_CANDIDATES = (
    "EUR",
    "USD",
    "ABC",
    "A",
    "AB",
    "ABCD",
    "1",
    "12",
    "123",
    "1234",
    "12345",
    "123456",
    "2026-01-01",
    "2026-01-01T00:00:00Z",
    "example",
    "x",
    "",
)


def _build_string(schema: Mapping[str, Any], name: str) -> str:
    text = _FORMAT_EXAMPLES.get(str(schema.get("format")), _example_text(name))
    pattern = schema.get("pattern")
    if isinstance(pattern, str):
        # Limit: a pattern that none of the candidates matches keeps the plain example text,
        # which then breaks the schema.
        text = next((c for c in _PATTERN_CANDIDATES if _matches(pattern, c)), text)

    min_length = int(schema.get("minLength", 0))
    if len(text) < min_length:
        text = text + "x" * (min_length - len(text))

    max_length = schema.get("maxLength")
    if max_length is not None:
        text = text[: int(max_length)]
    return text


def _matches(pattern: str, text: str) -> bool:
    try:
        return re.search(pattern, text) is not None
    except re.error:
        return False


def _with_siblings(
    schema: Mapping[str, Any], keyword: str, subschema: Mapping[str, Any] | bool
) -> Mapping[str, Any] | bool:
    # Keywords next to $ref or anyOf apply too: pydantic writes {"anyOf": [...], "format": ...}.
    if isinstance(subschema, bool):
        return subschema
    siblings = {key: value for key, value in schema.items() if key not in (keyword, "$defs")}
    return {**siblings, **subschema}


def _merge_all_of(schema: Mapping[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = {key: value for key, value in schema.items() if key != "allOf"}
    properties: dict[str, Any] = dict(merged.get("properties", {}))
    required: list[str] = list(merged.get("required", []))

    for part in schema["allOf"]:
        if not isinstance(part, Mapping):
            continue
        properties.update(part.get("properties", {}))
        required.extend(key for key in part.get("required", []) if key not in required)
        merged.update({k: v for k, v in part.items() if k not in ("properties", "required")})

    if properties:
        merged["properties"] = properties
    if required:
        merged["required"] = required
    return merged


def _is_null_schema(schema: Any) -> bool:
    return isinstance(schema, Mapping) and schema.get("type") == "null"


def _choose_branch(branches: list[Any], *, prefer_null: bool) -> Any:
    # Limit: for oneOf the first non-null branch is taken even if the instance also matches
    # another branch, which makes it invalid (for example integer and number branches).
    null_branches = [branch for branch in branches if _is_null_schema(branch)]
    other_branches = [branch for branch in branches if not _is_null_schema(branch)]

    if prefer_null and null_branches:
        return null_branches[0]
    return other_branches[0] if other_branches else null_branches[0]


def _choose_type(schema: Mapping[str, Any], *, prefer_null: bool) -> str | None:
    declared = schema.get("type")
    if isinstance(declared, str):
        return declared

    if isinstance(declared, list) and declared:
        if prefer_null and "null" in declared:
            return "null"
        non_null = [name for name in declared if name != "null"]
        return str(non_null[0] if non_null else declared[0])

    # Without a type, the keywords present tell which kind of value is meant.
    if "properties" in schema or "required" in schema:
        return "object"
    if "items" in schema or "prefixItems" in schema:
        return "array"
    return None


def _choose_number(schema: Mapping[str, Any], *, integer: bool) -> int | float:
    lower = _bound(schema, "minimum", "exclusiveMinimum", pick=max)
    upper = _bound(schema, "maximum", "exclusiveMaximum", pick=min)
    step = schema.get("multipleOf")

    base: list[float] = [1 if integer else 1.5, 0]
    for bound, _ in (lower, upper):
        if bound is not None:
            base.extend([bound, bound + 1, bound - 1, bound + 0.5, bound - 0.5])
    if lower[0] is not None and upper[0] is not None:
        base.append((lower[0] + upper[0]) / 2)

    candidates: list[float] = []
    for value in base:
        candidates.extend([math.ceil(value), math.floor(value)] if integer else [value])
        if step:
            candidates.extend([step * math.ceil(value / step), step * math.floor(value / step)])

    for value in candidates:
        if _fits(value, lower, upper, step, integer):
            return int(value) if integer else value

    logger.warning("no number fits the bounds of %s; returning one outside them", dict(schema))
    return 1 if integer else 1.5


def _bound(
    schema: Mapping[str, Any],
    inclusive_key: str,
    exclusive_key: str,
    pick: Callable[[float, float], float],
) -> tuple[float | None, bool]:
    inclusive = schema.get(inclusive_key)
    exclusive = schema.get(exclusive_key)
    # Draft 4 spelled exclusiveMinimum as a boolean modifier of minimum.
    if isinstance(exclusive, bool):
        return (inclusive, exclusive) if inclusive is not None else (None, False)

    if inclusive is None and exclusive is None:
        return None, False
    if exclusive is None:
        return inclusive, False
    if inclusive is None:
        return exclusive, True

    # When both are given the tighter one applies; on a tie the exclusive one is tighter.
    chosen = pick(inclusive, exclusive)
    return chosen, chosen == exclusive


def _fits(
    value: float,
    lower: tuple[float | None, bool],
    upper: tuple[float | None, bool],
    step: float | None,
    integer: bool,
) -> bool:
    lower_value, lower_exclusive = lower
    upper_value, upper_exclusive = upper

    if integer and value != math.floor(value):
        return False
    if lower_value is not None and (
        value < lower_value or (lower_exclusive and value == lower_value)
    ):
        return False
    if upper_value is not None and (
        value > upper_value or (upper_exclusive and value == upper_value)
    ):
        return False
    if step:
        quotient = value / step
        return abs(quotient - round(quotient)) < 1e-9
    return True
