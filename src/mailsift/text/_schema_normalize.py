"""Normalisation of parsed schema.org objects into one predictable shape.

Senders write the same thing in many ways. A type comes as
`http://schema.org/FlightReservation`, `https://schema.org/FlightReservation` or
`FlightReservation`. A script contains one object, a list, or an `@graph`. Enumeration
members come as full URLs. Downstream code should see one form: top-level objects in a
flat list, bare type names, and bare enumeration names (`OrderProcessing`).

String values are put on one line with single spaces and without zero-width characters,
so that they match the visible text produced by `html_to_text`. Links under `@id`, `url`
and `sameAs` are kept exactly as written.
"""

from __future__ import annotations

import re
from typing import Any

from mailsift.text._chars import collapse_whitespace

SCHEMA_CONTEXT = "https://schema.org"

_SCHEMA_PREFIX = re.compile(r"(?:https?://(?:www\.)?schema\.org/|schema:)", re.I)
_ENUM_URL = re.compile(r"https?://(?:www\.)?schema\.org/([A-Za-z][A-Za-z0-9]*)", re.I)

# Values under these keys are real links, so a schema.org URL there is left as written.
_URL_KEYS = frozenset({"@id", "url", "sameAs"})

# Markup from mail is shallow (a reservation nests four or five levels). Anything deeper
# than this is dropped, which also keeps the recursion below far from Python's limit.
_MAX_DEPTH = 32


def normalize_top_level(value: Any, source: str, problems: list[str]) -> list[dict[str, Any]]:
    """Return the normalised top-level objects in `value` (an object, a list or an @graph).

    `source` names where the value came from ("JSON-LD script 2") in the notes appended
    to `problems`.
    """
    objects: list[dict[str, Any]] = []
    # A stack in reverse order, so objects come out in document order.
    pending: list[Any] = [value]
    skipped = 0
    while pending:
        current = pending.pop()
        if isinstance(current, list):
            pending.extend(reversed(current))
        elif isinstance(current, dict) and "@graph" in current:
            graph = current["@graph"]
            pending.extend(reversed(graph) if isinstance(graph, list) else [graph])
            if "@type" in current:
                objects.append({k: v for k, v in current.items() if k != "@graph"})
        elif isinstance(current, dict):
            objects.append(current)
        else:
            skipped += 1

    if skipped:
        problems.append(f"{source}: skipped {skipped} top-level values that are not objects")

    normalized: list[dict[str, Any]] = []
    for obj in objects:
        truncated: list[bool] = []
        item = _normalize_object(obj, 1, truncated)
        if truncated:
            problems.append(f"{source}: dropped values nested deeper than {_MAX_DEPTH} levels")
        normalized.append({"@context": SCHEMA_CONTEXT, **item})
    return normalized


def normalize_type_name(name: str) -> str:
    """Return a schema.org type or enumeration name without its vocabulary prefix."""
    return _SCHEMA_PREFIX.sub("", name.strip(), count=1)


def _normalize_object(obj: dict[str, Any], depth: int, truncated: list[bool]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in obj.items():
        if key == "@context":
            continue
        if key == "@type":
            result["@type"] = _normalize_types(value)
            continue
        name = normalize_type_name(key) if key.startswith(("http", "schema:")) else key
        if name in _URL_KEYS:
            result[name] = value
        else:
            result[name] = _normalize_value(value, depth, truncated)
    return result


def _normalize_types(value: Any) -> Any:
    if isinstance(value, str):
        return normalize_type_name(value)
    if isinstance(value, list):
        names = [normalize_type_name(v) if isinstance(v, str) else v for v in value]
        return names[0] if len(names) == 1 else names
    return value


def _normalize_value(value: Any, depth: int, truncated: list[bool]) -> Any:
    if isinstance(value, str):
        text = collapse_whitespace(value)
        match = _ENUM_URL.fullmatch(text)
        return match.group(1) if match else text
    if not isinstance(value, dict | list):
        return value

    if depth >= _MAX_DEPTH:
        truncated.append(True)
        return None
    if isinstance(value, list):
        return [_normalize_value(v, depth + 1, truncated) for v in value]
    return _normalize_object(value, depth + 1, truncated)
