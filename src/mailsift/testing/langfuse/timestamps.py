"""Datetime parsing and formatting with the strictness of the Langfuse server.

The batch route validates every datetime with zod 4 `iso.datetime({offset: true})`: a
calendar-valid date, an upper-case `T`, mandatory seconds, any number of fraction digits,
and `Z` or a `+HH:MM` / `+HHMM` offset. Naive datetimes, a space separator, a lower-case
`z` and hour-only offsets such as `+02` all fail. The server keeps millisecond precision.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone

_ISO_WITH_OFFSET = re.compile(
    r"^(?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2})"
    r"T(?P<hour>[01]\d|2[0-3]):(?P<minute>[0-5]\d):(?P<second>[0-5]\d)"
    r"(?:\.(?P<fraction>\d+))?"
    r"(?P<zone>Z|[+-](?:[01]\d|2[0-3]):?[0-5]\d)$"
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse_strict_datetime(text: str) -> datetime | None:
    """Parse an ISO-8601 datetime the way the server accepts it, or return None.

    The result is timezone-aware and truncated to milliseconds.
    """
    match = _ISO_WITH_OFFSET.match(text)
    if match is None:
        return None

    try:
        day = date(int(match["year"]), int(match["month"]), int(match["day"]))
    except ValueError:
        return None

    fraction = (match["fraction"] or "").ljust(3, "0")[:3]
    zone = _parse_zone(match["zone"])
    parsed = datetime(
        day.year,
        day.month,
        day.day,
        int(match["hour"]),
        int(match["minute"]),
        int(match["second"]),
        int(fraction) * 1000,
        tzinfo=zone,
    )
    return parsed.astimezone(UTC)


def _parse_zone(zone: str) -> timezone:
    if zone == "Z":
        return UTC

    sign = -1 if zone[0] == "-" else 1
    digits = zone[1:].replace(":", "")
    offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return timezone(sign * offset)


def format_iso(moment: datetime) -> str:
    """Format a datetime as the read API does: UTC, milliseconds, `Z` suffix."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def datetime_from_unix_nano(value: object) -> datetime | None:
    """Convert an OTLP `*UnixNano` value to a UTC datetime truncated to milliseconds.

    The server accepts a decimal string, a number, or a protobuf.js Long `{high, low}`;
    anything else, and zero, count as missing.
    """
    nanos: int | None = None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        nanos = value
    elif isinstance(value, float):
        nanos = int(value)
    elif isinstance(value, str) and value.strip().isdigit():
        nanos = int(value.strip())
    elif isinstance(value, dict):
        high, low = value.get("high"), value.get("low")
        if isinstance(high, int) and isinstance(low, int):
            nanos = (high << 32) | (low & 0xFFFFFFFF)

    if not nanos:
        return None
    return _EPOCH + timedelta(milliseconds=nanos // 1_000_000)
