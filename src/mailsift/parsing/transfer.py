"""Content-Transfer-Encoding decoding that tolerates what real senders emit.

The stdlib's `get_payload(decode=True)` is wrong in three ways that matter here
(CPython 3.11.7, 3.12.1 and 3.13.0). It leaves the payload encoded when the header value
carries trailing whitespace (`base64 `). It stops at the first padded chunk when a body
is several separately padded base64 blocks. It reports damage only as generic defects.
So payloads are read undecoded and decoded here.
"""

from __future__ import annotations

import binascii
import logging
import re
from email.message import Message

from mailsift.parsing.model import Defect

logger = logging.getLogger(__name__)

_IDENTITY = frozenset({"", "7bit", "8bit", "binary"})
_UUENCODE = frozenset({"x-uuencode", "uuencode", "x-uue", "uue"})

_BASE64_WHITESPACE = b" \t\r\n"
_BASE64_NON_ALPHABET = re.compile(rb"[^A-Za-z0-9+/=]+")
_BASE64_CHUNK = re.compile(rb"([A-Za-z0-9+/]+)=*")
# Encoders do not put spaces inside a base64 line, but prose labelled base64 has them.
_SPACE_INSIDE_LINE = re.compile(rb"^[ \t]*\S+[ \t]+\S", re.MULTILINE)
_NON_EMPTY_LINE = re.compile(rb"^[ \t]*\S", re.MULTILINE)

_QP_SOFT_BREAK_WITH_SPACE = re.compile(rb"=[ \t]+(?=\r?\n)")
_QP_INVALID_ESCAPE = re.compile(rb"=(?![0-9A-Fa-f]{2}|\r?\n|\Z)")


def raw_payload(part: Message) -> object:
    """Return a part's payload exactly as the parser stored it: str, list of parts, or None.

    `Message.get_payload()` re-decodes a payload that contains 8-bit bytes with the declared
    charset and errors="replace" (CPython 3.12), which destroys UTF-8 text declared as
    us-ascii before it can be recognized. The attribute read here has held the parser's
    output unchanged since Python 3.2, and the public accessor is the fallback.
    """
    payload: object = getattr(part, "_payload", None)
    if isinstance(payload, (str, list, bytes)):
        return payload
    return part.get_payload()


def payload_bytes(payload: str) -> bytes:
    """Return the original bytes of a payload that `message_from_bytes` stored as str.

    The parser decodes bytes as ASCII with surrogateescape, so encoding back the same
    way restores every 8-bit byte exactly.
    """
    return payload.encode("utf-8", "surrogateescape")


def normalize_encoding(value: str | None, *, part: str | None) -> tuple[str, list[Defect]]:
    """Return the lower-case transfer-encoding token and a defect when the value was malformed."""
    if value is None:
        return "", []

    token = value.strip().lower().split(";", 1)[0].strip()
    token = token.split()[0] if token else ""
    if token != value.lower():
        detail = f"Content-Transfer-Encoding {value!r} was read as {token!r}"
        return token, [Defect("malformed_transfer_encoding", detail, part)]
    return token, []


def decode_transfer(data: bytes, encoding: str, *, part: str | None) -> tuple[bytes, list[Defect]]:
    """Decode a part body by its normalized transfer-encoding token without raising."""
    if encoding in _IDENTITY:
        return data, []
    if encoding == "base64":
        return decode_base64(data, part=part)
    if encoding == "quoted-printable":
        return decode_quoted_printable(data, part=part)
    if encoding in _UUENCODE:
        return decode_uuencode(data, part=part)

    detail = f"unknown Content-Transfer-Encoding {encoding!r}, so the body was kept as is"
    return data, [Defect("unknown_transfer_encoding", detail, part)]


def decode_base64(data: bytes, *, part: str | None) -> tuple[bytes, list[Defect]]:
    """Decode base64, chunk by chunk when padding appears inside the body."""
    compact = data.translate(None, _BASE64_WHITESPACE)
    try:
        return binascii.a2b_base64(compact, strict_mode=True), []
    except binascii.Error:
        pass

    lines = len(_NON_EMPTY_LINE.findall(data))
    if lines and len(_SPACE_INSIDE_LINE.findall(data)) * 2 > lines:
        detail = "Content-Transfer-Encoding is base64 but the body is plain text, kept as is"
        return data, [Defect("invalid_base64", detail, part)]

    defects: list[Defect] = []
    cleaned, skipped = _BASE64_NON_ALPHABET.subn(b"", compact)
    if skipped:
        detail = f"{skipped} runs of characters outside the base64 alphabet were skipped"
        defects.append(Defect("invalid_base64", detail, part))

    decoded = bytearray()
    chunks = [match.group(1) for match in _BASE64_CHUNK.finditer(cleaned)]
    for chunk in chunks:
        if len(chunk) % 4 == 1:
            # One leftover character carries only 6 bits, less than a byte.
            detail = "base64 chunk of impossible length, so its last character was dropped"
            defects.append(Defect("invalid_base64", detail, part))
            chunk = chunk[:-1]
        padded = chunk + b"=" * (-len(chunk) % 4)
        try:
            decoded += binascii.a2b_base64(padded)
        except binascii.Error as error:
            defects.append(Defect("invalid_base64", f"base64 chunk skipped: {error}", part))

    if len(chunks) > 1:
        detail = f"{len(chunks)} separately padded base64 chunks were decoded one by one"
        defects.append(Defect("base64_chunks", detail, part))
    elif not skipped and not defects:
        detail = "base64 body with missing or misplaced padding"
        defects.append(Defect("invalid_base64", detail, part))
    return bytes(decoded), defects


def decode_quoted_printable(data: bytes, *, part: str | None) -> tuple[bytes, list[Defect]]:
    """Decode quoted-printable, keeping invalid `=` escapes as literal text."""
    defects: list[Defect] = []

    # RFC 2045 section 6.7 lets transports add whitespace after a soft line break.
    data = _QP_SOFT_BREAK_WITH_SPACE.sub(b"=", data)

    invalid = len(_QP_INVALID_ESCAPE.findall(data))
    if invalid:
        detail = f"{invalid} invalid quoted-printable escapes were kept as literal text"
        defects.append(Defect("invalid_quoted_printable", detail, part))
    return binascii.a2b_qp(data), defects


def decode_uuencode(data: bytes, *, part: str | None) -> tuple[bytes, list[Defect]]:
    """Decode a uuencoded body between its `begin` and `end` lines."""
    decoded = bytearray()
    bad_lines = 0
    in_body = False
    for line in data.splitlines():
        if not in_body:
            in_body = line.startswith(b"begin ")
            continue
        if line.strip() in (b"end", b"`", b""):
            if line.strip() == b"end":
                break
            continue
        try:
            decoded += binascii.a2b_uu(line)
        except binascii.Error:
            bad_lines += 1

    if not in_body:
        detail = "uuencoded body has no begin line, so the body was kept as is"
        return data, [Defect("invalid_uuencode", detail, part)]
    if bad_lines:
        detail = f"{bad_lines} uuencoded lines could not be decoded and were skipped"
        return bytes(decoded), [Defect("invalid_uuencode", detail, part)]
    return bytes(decoded), []
