"""Make any value safe to send: JSON-encodable, bounded, valid UTF-8, zone-aware.

Telemetry must never fail because of what the application put in an input or output, and
must never silently replace it with a placeholder either. Values JSON cannot encode are
converted deterministically (the same value always gives the same text), cycles and deep
nesting are cut at a named marker, lone surrogates become U+FFFD, and text over the size
limit is cut on a character boundary with a marker saying how much was removed.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import enum
import hashlib
import json
import math
import uuid
from collections.abc import Mapping
from decimal import Decimal
from pathlib import PurePath
from typing import Any

MAX_DEPTH = 20
MAX_BYTES_SHOWN = 4096
CYCLE_MARKER = "<cycle>"
DEPTH_MARKER = "<max depth reached>"


def clean_text(text: str) -> str:
    """Replace lone surrogates, which UTF-8 cannot encode, with U+FFFD."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


def naive_to_utc(moment: dt.datetime) -> dt.datetime:
    """Give a naive datetime the UTC zone.

    mailsift's own datetimes are always aware; a naive one comes from application code, and
    reading it as UTC (not local time) keeps one trace's times consistent across machines.
    """
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment


def to_jsonable(value: Any, *, max_depth: int = MAX_DEPTH) -> Any:
    return _convert(value, max_depth, set())


def _convert(value: Any, depth: int, seen: set[int]) -> Any:
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if depth <= 0:
        return DEPTH_MARKER

    simple = _convert_scalar(value)
    if simple is not _NOT_SCALAR:
        return simple

    marker = id(value)
    if marker in seen:
        return CYCLE_MARKER
    seen.add(marker)
    try:
        return _convert_container(value, depth, seen)
    finally:
        seen.discard(marker)


_NOT_SCALAR = object()


def _convert_scalar(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return naive_to_utc(value).isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, uuid.UUID | PurePath):
        return str(value)
    if isinstance(value, enum.Enum):
        return _convert(value.value, 2, set())
    if isinstance(value, bytes | bytearray | memoryview):
        raw = bytes(value)
        shown = base64.b64encode(raw[:MAX_BYTES_SHOWN]).decode()
        return {"bytes": len(raw), "base64": shown, "complete": len(raw) <= MAX_BYTES_SHOWN}
    if isinstance(value, BaseException):
        return {"type": type(value).__name__, "message": clean_text(str(value))}
    if type(value).__module__ == "numpy" and hasattr(value, "item"):
        return _convert(value.item(), 2, set())
    return _NOT_SCALAR


def _convert_container(value: Any, depth: int, seen: set[int]) -> Any:
    if isinstance(value, Mapping):
        return {clean_text(str(k)): _convert(v, depth - 1, seen) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_convert(item, depth - 1, seen) for item in value]
    if isinstance(value, set | frozenset):
        items = [_convert(item, depth - 1, seen) for item in value]
        # Sets have no order; sorting their JSON text makes the output deterministic.
        return sorted(items, key=lambda item: json.dumps(item, sort_keys=True, default=str))
    model_dump = getattr(value, "model_dump", None)
    if callable(model_dump):  # pydantic v2 models
        return _convert(model_dump(mode="json"), depth - 1, seen)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        return _convert(fields, depth - 1, seen)
    if hasattr(value, "tolist"):  # numpy arrays
        return _convert(value.tolist(), depth - 1, seen)
    return clean_text(f"<{type(value).__name__}: {value!r}>"[:1000])


def encode_json(value: Any) -> str:
    """Encode any value as compact JSON text, deterministically."""
    return json.dumps(
        to_jsonable(value), ensure_ascii=False, separators=(",", ":"), allow_nan=False
    )


def cut_text(text: str, max_chars: int) -> tuple[str, bool]:
    """Cut text to `max_chars` characters plus a marker; return it and whether it was cut.

    The marker gives the original length in characters and UTF-8 bytes and a SHA-256 prefix
    of the original, so the full value can be matched against a copy kept elsewhere.
    """
    if len(text) <= max_chars:
        return text, False
    encoded = text.encode("utf-8", "replace")
    digest = hashlib.sha256(encoded).hexdigest()[:16]
    marker = (
        f"…[cut by mailsift: kept {max_chars} of {len(text)} characters "
        f"({len(encoded)} bytes), sha256 {digest}]"
    )
    return text[:max_chars] + marker, True
