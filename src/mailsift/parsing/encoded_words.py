"""RFC 2047 encoded-word decoding for header values read with the compat32 policy.

mailsift reads headers through `email.policy.compat32`, which hands back the raw folded
text, because policy.default's header objects made a whole decode about ten times
slower on the test corpus and raise ValueError on some malformed addresses. This
decoder is lenient where senders break the RFC: encoded words glued to plain text
(`[SPAM]=?utf-8?B?...?=`), spaces inside Q-encoded text, bad base64 padding, unknown
charsets and raw 8-bit bytes. Adjacent encoded words in the same charset are joined as
bytes before decoding, because senders split multi-byte characters across words.
"""

from __future__ import annotations

import binascii
import logging
import re
from dataclasses import dataclass, field

from mailsift.parsing.charsets import decode_cp1252, decode_strict, resolve_label, utf8_override

logger = logging.getLogger(__name__)

_ENCODED_WORD = re.compile(r"=\?([^?\s]{1,75})\?([bBqQ])\?([^?]*)\?=")
_Q_ESCAPE = re.compile(rb"=([0-9A-Fa-f]{2})")
_FOLD = re.compile(r"\r?\n(?=[ \t])")
_BASE64_TEXT = re.compile(r"[A-Za-z0-9+/]*")


@dataclass(slots=True)
class HeaderText:
    """A decoded header value with the charsets its encoded words named."""

    text: str
    charsets: list[str] = field(default_factory=list)
    """Codecs (already mapped) that encoded words used, as hints for undeclared bodies."""

    problems: list[str] = field(default_factory=list)
    """Descriptions of the values that could not be decoded cleanly, one sentence each."""


def unfold(value: str) -> str:
    """Join folded header lines (RFC 5322 section 2.2.3) and drop stray line breaks."""
    value = _FOLD.sub("", value)
    return value.replace("\r", "").replace("\n", "")


def decode_header_value(value: str, *, fallback_codec: str | None = None) -> HeaderText:
    """Decode encoded words and raw 8-bit bytes in one unfolded header value.

    `fallback_codec` decodes raw 8-bit bytes that are not valid UTF-8. It is typically
    the charset that the message body declares, and cp1252 is used when it is None or fails.
    """
    result = HeaderText(text="")
    if "=?" not in value:
        result.text = _raw_text(value, fallback_codec, result)
        return result

    pieces: list[str] = []
    pending_label: str | None = None
    pending_bytes = b""
    position = 0
    for match in _ENCODED_WORD.finditer(value):
        literal = value[position : match.start()]
        position = match.end()
        decoded = _word_bytes(match.group(2), match.group(3), result)
        if decoded is None:
            literal += match.group(0)

        # Whitespace between two encoded words is folding, not content (RFC 2047 sec. 6.2).
        if literal and not (pending_label is not None and literal.isspace()):
            pieces.append(_flush(pending_label, pending_bytes, result))
            pending_label, pending_bytes = None, b""
            pieces.append(_raw_text(literal, fallback_codec, result))
        if decoded is None:
            continue

        label = match.group(1).partition("*")[0].lower()
        if label != pending_label:
            pieces.append(_flush(pending_label, pending_bytes, result))
            pending_label, pending_bytes = label, b""
        pending_bytes += decoded

    pieces.append(_flush(pending_label, pending_bytes, result))
    pieces.append(_raw_text(value[position:], fallback_codec, result))
    result.text = "".join(pieces)
    return result


def _word_bytes(encoding: str, encoded: str, result: HeaderText) -> bytes | None:
    if encoding in "qQ":
        raw = encoded.replace("_", " ").encode("utf-8", "surrogateescape")
        return _Q_ESCAPE.sub(lambda match: bytes.fromhex(match.group(1).decode()), raw)

    compact = "".join(encoded.split()).rstrip("=")
    if not _BASE64_TEXT.fullmatch(compact):
        result.problems.append(f"an encoded word contained invalid base64 {encoded[:40]!r}")
        return None
    if len(compact) % 4 == 1:
        result.problems.append("an encoded word had base64 of impossible length")
        compact = compact[:-1]
    return binascii.a2b_base64(compact + "=" * (-len(compact) % 4))


def _flush(label: str | None, data: bytes, result: HeaderText) -> str:
    if label is None:
        return ""

    codec = resolve_label(label).codec
    if codec is None:
        result.problems.append(f"an encoded word named the unknown charset {label!r}")
        text = decode_strict(data, "utf-8")
        return (text if text is not None else decode_cp1252(data)).lstrip("\ufeff")

    result.charsets.append(codec)
    text = utf8_override(data, codec) or decode_strict(data, codec)
    if text is None:
        text = decode_strict(data, "utf-8")
    if text is None:
        result.problems.append(f"an encoded word was not valid {codec}")
        text = data.decode(codec, errors="replace")
    return text.lstrip("\ufeff")


def _raw_text(value: str, fallback_codec: str | None, result: HeaderText) -> str:
    """Decode literal header text, whose 8-bit bytes the parser kept as surrogates."""
    if value.isascii():
        return value

    raw = value.encode("utf-8", "surrogateescape")
    text = decode_strict(raw, "utf-8")
    if text is not None:
        return text
    if fallback_codec is not None:
        text = decode_strict(raw, fallback_codec)
        if text is not None:
            return text
    result.problems.append("raw 8-bit header bytes were not UTF-8 and were read as cp1252")
    return decode_cp1252(raw)
