"""Normalisation of usage, cost, model parameters and environment, as the server does it.

Most of these never fail an event, because invalid entries are dropped without a word.
The double drops them too, so that a client test cannot pass by asserting on data that a
real server would discard. The
exceptions fail the event: legacy `usage` with a non-integer count or an unknown unit, and
a model parameter of an unsupported shape.
"""

from __future__ import annotations

import math
import re
from typing import Any

from mailsift.testing.langfuse.schema import MISSING, Issues, Path, Validator, describe_type

USAGE_UNITS = ("CHARACTERS", "TOKENS", "MILLISECONDS", "SECONDS", "IMAGES", "REQUESTS")
_LEGACY_COUNT_KEYS = ("input", "output", "total")
_LEGACY_COST_KEYS = ("inputCost", "outputCost", "totalCost")
_OPENAI_CAMEL_KEYS = {"promptTokens": "input", "completionTokens": "output", "totalTokens": "total"}
# The two strict OpenAI shapes of `usageDetails`: (input, output, total, input details,
# output details). Any other key makes the parse fall through to the free map.
_OPENAI_DETAIL_SHAPES = (
    (
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "prompt_tokens_details",
        "completion_tokens_details",
    ),
    (
        "input_tokens",
        "output_tokens",
        "total_tokens",
        "input_tokens_details",
        "output_tokens_details",
    ),
)
_LEADING_INTEGER = re.compile(r"^\s*[+-]?\d+")
_ENVIRONMENT_PATTERN = re.compile(r"^[a-z0-9_-]+$")
_MAX_ENVIRONMENT_LENGTH = 40


def legacy_usage() -> Validator:
    """Build the validator of the deprecated `usage` object.

    OpenAI camelCase counts (promptTokens, ...) are converted to input/output/total TOKENS.
    """

    def validate(value: Any, path: Path, issues: Issues) -> Any:
        if not isinstance(value, dict):
            issues.invalid_type(path, "object", value)
            return MISSING

        if any(value.get(key) is not None for key in _OPENAI_CAMEL_KEYS):
            # The OpenAI conversion keeps only counts, so costs in the same object are lost.
            converted: dict[str, Any] = {"unit": "TOKENS"}
            for camel, plain in _OPENAI_CAMEL_KEYS.items():
                count = _count(value.get(camel), (*path, camel), issues)
                if count is not None:
                    converted[plain] = count
            return converted

        result: dict[str, Any] = {}
        for key in _LEGACY_COUNT_KEYS:
            count = _count(value.get(key), (*path, key), issues)
            if count is not None:
                result[key] = count
        for key in _LEGACY_COST_KEYS:
            cost = value.get(key)
            if cost is None:
                continue
            if isinstance(cost, bool) or not isinstance(cost, int | float):
                issues.invalid_type((*path, key), "number", cost)
                continue
            result[key] = cost
        unit = value.get("unit")
        if unit is not None:
            if unit in USAGE_UNITS:
                result["unit"] = unit
            else:
                options = "|".join(f'"{name}"' for name in USAGE_UNITS)
                message = f"Invalid option: expected one of {options}"
                issues.add((*path, "unit"), "invalid_value", message, values=list(USAGE_UNITS))

        # snake_case keys such as prompt_tokens were stripped; nothing left means no usage.
        return result or MISSING

    return validate


def _count(value: Any, path: Path, issues: Issues) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        issues.invalid_type(path, "number", value)
        return None
    if isinstance(value, float) and not value.is_integer():
        issues.invalid_type(path, "int", value)
        return None
    return int(value)


def usage_details() -> Validator:
    """`usageDetails`: an OpenAI Chat or Responses usage object, else a free map of counts."""

    def validate(value: Any, path: Path, issues: Issues) -> Any:
        if not isinstance(value, dict):
            issues.invalid_type(path, "object", value)
            return MISSING
        return normalise_usage_details(value) or MISSING

    return validate


def normalise_usage_details(value: dict[str, Any]) -> dict[str, int]:
    """Apply the server's three usage shapes in order; invalid entries vanish silently."""
    for shape in _OPENAI_DETAIL_SHAPES:
        converted = _convert_openai_usage(value, *shape)
        if converted is not None:
            return converted

    kept: dict[str, int] = {}
    for key, raw in value.items():
        count = _non_negative_count(raw)
        if count is not None:
            kept[key] = count
    return kept


def _convert_openai_usage(
    value: dict[str, Any],
    input_key: str,
    output_key: str,
    total_key: str,
    input_details_key: str,
    output_details_key: str,
) -> dict[str, int] | None:
    allowed = {input_key, output_key, total_key, input_details_key, output_details_key}
    if not set(value) <= allowed or not {input_key, output_key, total_key} <= set(value):
        return None
    counts = [value[input_key], value[output_key], value[total_key]]
    if not all(_is_non_negative_int(count) for count in counts):
        return None

    converted = {"input": int(counts[0]), "output": int(counts[1]), "total": int(counts[2])}
    for details_key, side in ((input_details_key, "input"), (output_details_key, "output")):
        details = value.get(details_key)
        if details is None:
            continue
        if not isinstance(details, dict):
            return None
        for name, count in details.items():
            if count is None:
                continue
            if not _is_non_negative_int(count):
                return None
            # Detail counts are carved out of the plain input/output count.
            converted[f"{side}_{name}"] = int(count)
            converted[side] = max(0, converted[side] - int(count))
    return converted


def _is_non_negative_int(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return float(value).is_integer() and value >= 0


def _non_negative_count(raw: Any) -> int | None:
    if _is_non_negative_int(raw):
        return int(raw)
    if isinstance(raw, str):
        # The server calls JavaScript's parseInt, which reads the leading integer: "12.7" -> 12.
        match = _LEADING_INTEGER.match(raw)
        if match is not None and int(match.group()) >= 0:
            return int(match.group())
    return None


def cost_details() -> Validator:
    """`costDetails`: any map; only finite numbers >= 0 survive."""

    def validate(value: Any, path: Path, issues: Issues) -> Any:
        if not isinstance(value, dict):
            issues.invalid_type(path, "object", value)
            return MISSING
        return normalise_cost_details(value) or MISSING

    return validate


def normalise_cost_details(value: dict[str, Any]) -> dict[str, float]:
    kept: dict[str, float] = {}
    for key, raw in value.items():
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            continue
        if math.isfinite(raw) and raw >= 0:
            kept[key] = float(raw)
    return kept


def model_parameters() -> Validator:
    """Build the validator of a map of string, number, boolean, string list, string map or null."""

    def validate(value: Any, path: Path, issues: Issues) -> Any:
        if not isinstance(value, dict):
            issues.invalid_type(path, "record", value)
            return MISSING

        for key, item in value.items():
            if not _is_model_parameter(item):
                message = (
                    f"Invalid input: unsupported model parameter of type {describe_type(item)}"
                )
                issues.add((*path, key), "invalid_union", message)
        return value

    return validate


def _is_model_parameter(item: Any) -> bool:
    if item is None or isinstance(item, str | bool | int | float):
        return True
    if isinstance(item, list):
        return all(isinstance(element, str) for element in item)
    if isinstance(item, dict):
        return all(isinstance(element, str) for element in item.values())
    return False


def environment() -> Validator:
    """Build the environment validator, which normalises and never rejects (invalid: 'default')."""

    def validate(value: Any, path: Path, issues: Issues) -> Any:
        return normalise_environment(value)

    return validate


def normalise_environment(value: Any) -> str:
    if not isinstance(value, str):
        return "default"

    name = value.lower()
    stripped = True
    while stripped:
        stripped = False
        for prefix in ("langfuse-", "langfuse_", "langfuse"):
            if name.startswith(prefix):
                name = name[len(prefix) :]
                stripped = True
                break
    name = name[:_MAX_ENVIRONMENT_LENGTH]
    return name if _ENVIRONMENT_PATTERN.match(name) else "default"


def combine_usage(
    usage: dict[str, Any] | None,
    details: dict[str, int] | None,
    costs: dict[str, float] | None,
) -> tuple[dict[str, int], dict[str, float]]:
    """Merge `usage`, `usageDetails` and `costDetails` of one event into the stored maps."""
    usage = usage or {}
    details = details or {}
    usage_map = {key: usage[key] for key in _LEGACY_COUNT_KEYS if key in usage}
    if "total" not in usage_map and not details and usage_map:
        usage_map["total"] = usage_map.get("input", 0) + usage_map.get("output", 0)
    usage_map.update(details)
    if usage_map and "total" not in usage_map:
        # The server sums every key, detail keys included, so totals can double count.
        usage_map["total"] = sum(usage_map.values())

    cost_map = {
        plain: float(usage[key])
        for key, plain in zip(_LEGACY_COST_KEYS, _LEGACY_COUNT_KEYS, strict=True)
        if key in usage
    }
    cost_map.update(costs or {})
    if cost_map and "total" not in cost_map:
        # Limit: follows the OpenAPI description of costDetails ("total is the sum of all
        # non-total metrics"). How the server fills a missing cost total was not checked.
        cost_map["total"] = sum(cost_map.values())
    return usage_map, cost_map
