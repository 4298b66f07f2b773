"""A pre-check that keeps corrupt winmail.dat streams away from tnefparse's slow paths.

tnefparse 1.4.0 trusts the counts inside a TNEF stream. A MAPI property count larger
than the data makes it log one warning per missing property, and a multi-value count on
a fixed-size type makes it append that many empty values. In a fuzz run over the
corpus, one 5 KB corrupted message took 2.3 s with logging at ERROR and several minutes
with WARNING enabled. This module walks the same structure without decoding values and
reports a count that the remaining bytes cannot hold.
"""

from __future__ import annotations

import logging
import struct

logger = logging.getLogger(__name__)

_SIGNATURE = 0x223E9F78
_MAPI_PROPERTIES = 0x9003
_RECIPIENT_TABLE = 0x9004
_ATTACHMENT_PROPERTIES = 0x9005

_MULTI_VALUE_FLAG = 0x1000
_NAMED_PROPERTY_FLAG = 0x8000
# Bytes per value of the fixed-size MAPI types (short, boolean, int, float, error,
# double, currency, application time, 8-byte int, system time, GUID).
_FIXED_SIZES = {
    0x0002: 2, 0x000B: 2, 0x0003: 4, 0x0004: 4, 0x000A: 4, 0x0005: 8,
    0x0006: 8, 0x0007: 8, 0x0014: 8, 0x0040: 8, 0x0048: 16,
}  # fmt: skip
_MIN_PROPERTY_BYTES = 6  # type, name and a 2-byte value


class _Implausible(Exception):
    """A count in the stream exceeds what the remaining bytes can hold."""


def find_implausible_count(data: bytes) -> str | None:
    """Return a description of the first impossible count in a TNEF stream, or None.

    None also covers streams that are merely truncated or malformed, because tnefparse
    stops on those with an exception instead of looping.
    """
    try:
        if _u32(data, 0) != _SIGNATURE:
            return None
        offset = 6
        while offset + 12 < len(data):
            name = _u16(data, offset + 1)
            length = _u32(data, offset + 5)
            body = data[offset + 9 : offset + 9 + length]
            _check_object(name, body)
            offset += length + 11
    except _Implausible as problem:
        return str(problem)
    except struct.error:
        return None
    return None


def _check_object(name: int, body: bytes) -> None:
    if name not in (_MAPI_PROPERTIES, _ATTACHMENT_PROPERTIES, _RECIPIENT_TABLE):
        return
    if len(body) < 4:
        # tnefparse cannot read the count either and stops with an exception.
        raise struct.error("object too short for a count")
    try:
        if name == _RECIPIENT_TABLE:
            _check_recipients(body)
        else:
            _check_properties(body, 0)
    except struct.error:
        # tnefparse catches errors inside the property list and goes on with the
        # next object, so the walk goes on too.
        return


def _check_recipients(body: bytes) -> None:
    rows = _u32(body, 0)
    _require(rows * 4, len(body) - 4, "recipient row count", rows)
    offset = 4
    for _ in range(rows):
        offset = _check_properties(body, offset)


def _check_properties(body: bytes, offset: int) -> int:
    count = _u32(body, offset)
    offset += 4
    _require(count * _MIN_PROPERTY_BYTES, len(body) - offset, "MAPI property count", count)

    for _ in range(count):
        if offset >= len(body):
            break
        value_type = _u16(body, offset)
        name = _u16(body, offset + 2)
        offset += 4
        if name >= _NAMED_PROPERTY_FLAG:
            offset += 16
            kind = _u32(body, offset)
            offset += 4
            offset += 4 if kind == 0 else 4 + _padded(_u32(body, offset))

        multi_values = 0
        if value_type & _MULTI_VALUE_FLAG:
            value_type ^= _MULTI_VALUE_FLAG
            multi_values = _u32(body, offset)
            offset += 4
            size = _FIXED_SIZES.get(value_type, 4)
            _require(multi_values * size, len(body) - offset, "multi-value count", multi_values)

        # Like tnefparse, a multi-value count of 0 still reads one single value.
        values = multi_values or 1
        for _ in range(values):
            offset = _skip_value(body, offset, value_type, multi=multi_values > 0)
        if values % 2 and value_type in (0x0002, 0x000B):
            offset += 2
    return offset


def _skip_value(body: bytes, offset: int, value_type: int, *, multi: bool) -> int:
    if value_type in _FIXED_SIZES:
        return offset + _FIXED_SIZES[value_type]

    # Strings, binary and objects: a count (unless multi-valued), then length-prefixed
    # items padded to 4 bytes. tnefparse raises on any other type, which ends its loop.
    items = 1
    if not multi:
        items = _u32(body, offset)
        offset += 4
    for _ in range(items):
        offset += 4 + _padded(_u32(body, offset))
    return offset


def _require(needed: int, available: int, description: str, count: int) -> None:
    if needed > max(available, 0):
        raise _Implausible(f"{description} {count} exceeds the {max(available, 0)} bytes left")


def _padded(length: int) -> int:
    return length + (-length % 4)


def _u16(data: bytes, offset: int) -> int:
    return int(struct.unpack_from("<H", data, offset)[0])


def _u32(data: bytes, offset: int) -> int:
    return int(struct.unpack_from("<I", data, offset)[0])
