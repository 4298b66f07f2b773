"""Validation building blocks that report problems the way zod 4 does on the server.

The batch route reports a schema failure with the per-event error text
`JSON.stringify(zodError.issues)`, so each problem here becomes a zod-style issue:
`{"code", "path", "message"}` plus `expected` or `values` where zod adds them.
Objects use zod's default "strip" mode: unknown keys disappear without an error.

A validator takes `(value, path, issues)` and returns the normalised value, or MISSING
when the key should be left out of the result.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Final

from mailsift.testing.langfuse.timestamps import parse_strict_datetime

Path = tuple[str | int, ...]
Issue = dict[str, Any]


class _Missing:
    """Marker for a key that is absent, which zod treats differently from null."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()

Validator = Callable[[Any, Path, "Issues"], Any]


class Issues:
    """Collected zod-style issues of one event."""

    def __init__(self) -> None:
        self.items: list[Issue] = []

    def __bool__(self) -> bool:
        return bool(self.items)

    def add(self, path: Path, code: str, message: str, **extra: Any) -> None:
        self.items.append({"code": code, **extra, "path": list(path), "message": message})

    def invalid_type(self, path: Path, expected: str, value: Any) -> None:
        received = describe_type(value)
        message = f"Invalid input: expected {expected}, received {received}"
        self.add(path, "invalid_type", message, expected=expected)

    def to_error_text(self) -> str:
        """Render the issues as the server's `error` field (zod's pretty-printed JSON)."""
        return json.dumps(self.items, indent=2)


def describe_type(value: Any) -> str:
    """Name a JSON value's type in zod's words."""
    if value is MISSING:
        return "undefined"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def nullish(inner: Validator) -> Validator:
    """Allow the key to be absent or null; otherwise apply `inner`."""

    def validate(value: Any, path: Path, issues: Issues) -> Any:
        if value is MISSING or value is None:
            return value
        return inner(value, path, issues)

    return validate


def string(*, min_length: int = 0, max_length: int | None = None) -> Validator:
    """Build a string validator; lengths count UTF-16 code units, as JavaScript does."""

    def validate(value: Any, path: Path, issues: Issues) -> Any:
        if not isinstance(value, str):
            issues.invalid_type(path, "string", value)
            return MISSING

        length = len(value.encode("utf-16-le")) // 2
        if length < min_length:
            message = f"Too small: expected string to have >={min_length} characters"
            issues.add(path, "too_small", message, origin="string", minimum=min_length)
        if max_length is not None and length > max_length:
            message = f"Too big: expected string to have <={max_length} characters"
            issues.add(path, "too_big", message, origin="string", maximum=max_length)
        return value

    return validate


def entity_id() -> Validator:
    """The server's `idSchema`: 1 to 800 characters without a carriage return."""
    bounded = string(min_length=1, max_length=800)

    def validate(value: Any, path: Path, issues: Issues) -> Any:
        result = bounded(value, path, issues)
        if isinstance(value, str) and "\r" in value:
            issues.add(
                path, "invalid_format", "Invalid string: must not contain \\r", format="regex"
            )
        return result

    return validate


def strict_datetime() -> Validator:
    """An ISO-8601 datetime with seconds and a zone; returns an aware datetime."""

    def validate(value: Any, path: Path, issues: Issues) -> Any:
        if not isinstance(value, str):
            issues.invalid_type(path, "string", value)
            return MISSING

        parsed: datetime | None = parse_strict_datetime(value)
        if parsed is None:
            issues.add(path, "invalid_format", "Invalid ISO datetime", format="datetime")
            return MISSING
        return parsed

    return validate


def enum(*allowed: str) -> Validator:
    """Build a validator for one of the given strings, case-sensitive."""

    def validate(value: Any, path: Path, issues: Issues) -> Any:
        if value not in allowed:
            options = "|".join(json.dumps(option) for option in allowed)
            message = f"Invalid option: expected one of {options}"
            issues.add(path, "invalid_value", message, values=list(allowed))
            return MISSING
        return value

    return validate


def boolean() -> Validator:
    def validate(value: Any, path: Path, issues: Issues) -> Any:
        if not isinstance(value, bool):
            issues.invalid_type(path, "boolean", value)
            return MISSING
        return value

    return validate


def integer() -> Validator:
    """Build a validator for a JSON number without a fraction (zod `z.number().int()`)."""

    def validate(value: Any, path: Path, issues: Issues) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float):
            issues.invalid_type(path, "number", value)
            return MISSING
        if isinstance(value, float) and not value.is_integer():
            issues.invalid_type(path, "int", value)
            return MISSING
        return int(value)

    return validate


def number() -> Validator:
    def validate(value: Any, path: Path, issues: Issues) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float):
            issues.invalid_type(path, "number", value)
            return MISSING
        return value

    return validate


def any_value() -> Validator:
    """Any JSON value, null included, without checks."""

    def validate(value: Any, path: Path, issues: Issues) -> Any:
        return value

    return validate


def string_array() -> Validator:
    def validate(value: Any, path: Path, issues: Issues) -> Any:
        if not isinstance(value, list):
            issues.invalid_type(path, "array", value)
            return MISSING

        for index, item in enumerate(value):
            if not isinstance(item, str):
                issues.invalid_type((*path, index), "string", item)
        return value

    return validate


def json_object(value: Any, path: Path, issues: Issues) -> dict[str, Any] | None:
    """Return `value` as a dict, or record an `expected object` issue and return None."""
    if not isinstance(value, dict):
        issues.invalid_type(path, "object", value)
        return None
    return value


def validate_object(
    value: Any, fields: Mapping[str, Validator], path: Path, issues: Issues
) -> dict[str, Any]:
    """Validate an object field by field, dropping unknown keys as zod's strip mode does."""
    source = json_object(value, path, issues)
    if source is None:
        return {}

    result: dict[str, Any] = {}
    for key, validator in fields.items():
        normalised = validator(source.get(key, MISSING), (*path, key), issues)
        if normalised is not MISSING:
            result[key] = normalised
    return result


def required(inner: Validator) -> Validator:
    """Reject an absent key; null is passed on to `inner`, which decides about it."""

    def validate(value: Any, path: Path, issues: Issues) -> Any:
        if value is MISSING:
            # zod's message names the expected type, which only the inner validator has.
            probe = Issues()
            inner(value, path, probe)
            issues.items.extend(probe.items or [_undefined_issue(path)])
            return MISSING
        return inner(value, path, issues)

    return validate


def _undefined_issue(path: Path) -> Issue:
    message = "Invalid input: expected nonoptional, received undefined"
    return {
        "code": "invalid_type",
        "expected": "nonoptional",
        "path": list(path),
        "message": message,
    }
