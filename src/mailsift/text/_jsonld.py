"""Lenient parsing of JSON-LD script bodies, with the repairs that real senders need.

Templates concatenate objects without commas, leave trailing commas, wrap the JSON in
HTML comments or CDATA, or HTML-escape the whole block. Each repair below undoes one such
fault. They run only after a standard parse has failed, and a parse is retried after each
repair, so valid JSON is never rewritten and the repairs stop as soon as one parse works.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_COMMENT = re.compile(r"<!--(.*?)-->", re.S)
_CDATA_MARKER = re.compile(r"(?://\s*|/\*\s*)?(?:<!\[CDATA\[|\]\]>)(?:\s*\*/)?")
_ENTITY = re.compile(r"&(?:[a-zA-Z][a-zA-Z0-9]*|#[0-9]+|#[xX][0-9a-fA-F]+);")
_ADJACENT_OBJECTS = re.compile(r"\}\s*\{")
_TRAILING_COMMA = re.compile(r",(\s*[}\]])")
_LENIENT_DECODER = json.JSONDecoder(strict=False)


@dataclass(frozen=True, slots=True)
class JsonParseResult:
    """The value parsed from one script, or the reason why nothing could be parsed."""

    ok: bool
    value: Any
    repairs: tuple[str, ...]
    """Plain-language names of the repairs that were needed, in the order applied."""
    error: str | None


def parse_json_leniently(text: str) -> JsonParseResult:
    """Parse `text` as JSON, repairing the faults that mail templates are known to make.

    A standard parse comes first. Then the structural repairs are tried one after another.
    Only if they all fail is the text HTML-unescaped and repaired again, because
    unescaping valid JSON would turn `&quot;` inside a string into a bare quote.
    """
    ok, value, error = _try_loads(text)
    if ok:
        return JsonParseResult(ok=True, value=value, repairs=(), error=None)

    first_error = error
    result = _repair_structure(text, ())
    if result.ok or _ENTITY.search(text) is None:
        return result if result.ok else _failure(first_error)

    result = _repair_structure(html.unescape(text), ("unescaped HTML entities",))
    return result if result.ok else _failure(first_error)


def _failure(error: str | None) -> JsonParseResult:
    return JsonParseResult(ok=False, value=None, repairs=(), error=error)


def _repair_structure(text: str, done: tuple[str, ...]) -> JsonParseResult:
    # Limit: JavaScript object literals (single quotes, unquoted keys, // comments) are not
    # repaired, because the standard library has no parser for them.
    repairs: list[tuple[str, Callable[[str], str]]] = [
        ("removed HTML comments and CDATA markers", _strip_comments_and_cdata),
        ("inserted missing commas between objects", _insert_commas),
        ("removed trailing commas", _drop_trailing_commas),
        ("wrapped several top-level objects in an array", _wrap_in_array),
    ]
    applied = list(done)
    for name, repair in repairs:
        repaired = repair(text)
        if repaired == text:
            continue
        text = repaired
        applied.append(name)
        result = _parse_repaired(text, applied)
        if result.ok:
            return result
    return _parse_repaired(text, applied)


def _parse_repaired(text: str, applied: list[str]) -> JsonParseResult:
    ok, value, _ = _try_loads(text)
    if ok:
        return JsonParseResult(ok=True, value=value, repairs=tuple(applied), error=None)

    # JSON forbids raw line breaks and tabs inside strings, yet hand-written templates put
    # multi-line descriptions there. Python's non-strict mode accepts them.
    try:
        value = _LENIENT_DECODER.decode(text)
    except (json.JSONDecodeError, RecursionError):
        return _failure(None)
    repairs = (*applied, "accepted raw control characters inside strings")
    return JsonParseResult(ok=True, value=value, repairs=repairs, error=None)


def _try_loads(text: str) -> tuple[bool, Any, str | None]:
    try:
        return True, json.loads(text), None
    except json.JSONDecodeError as error:
        return False, None, f"{error.msg} at line {error.lineno} column {error.colno}"
    except RecursionError:
        return False, None, "nested too deeply to parse"


def _strip_comments_and_cdata(text: str) -> str:
    # A comment that contains a brace wraps the JSON itself (an old habit of hiding scripts
    # from old browsers), so only its markers go. Any other comment is dropped.
    def replace(match: re.Match[str]) -> str:
        inner = match.group(1)
        return inner if "{" in inner or "[" in inner else ""

    cleaned = _COMMENT.sub(replace, _CDATA_MARKER.sub("", text)).strip()

    # A wrapper comment may be cut off by the end of the script, leaving one marker alone.
    if cleaned.startswith("<!--"):
        cleaned = cleaned[4:]
    if cleaned.endswith("-->"):
        cleaned = cleaned[:-3]
    return text if cleaned == text.strip() else cleaned


def _insert_commas(text: str) -> str:
    # Limit: braces inside string values are matched too, so `"a}{b"` gains a comma.
    # Only text that failed to parse gets here, and mail markup rarely has such strings.
    return _ADJACENT_OBJECTS.sub("},{", text)


def _drop_trailing_commas(text: str) -> str:
    return _TRAILING_COMMA.sub(r"\1", text)


def _wrap_in_array(text: str) -> str:
    """Return `text` in brackets when a complete object is followed by another value."""
    stripped = text.strip()
    if not stripped.startswith("{"):
        return text
    try:
        _, end = _LENIENT_DECODER.raw_decode(stripped)
    except (json.JSONDecodeError, RecursionError):
        return text
    if stripped[end:].lstrip().startswith((",", "{")):
        return f"[{stripped}]"
    return text
