"""Charset labels and byte-to-text decoding for MIME parts and headers.

Mail declares charsets badly: Outlook labels Windows-1252 text as iso-8859-1, Chinese
senders label GBK text as gb2312, some labels are unknown or doubled
(`charset="charset=us-ascii"`), and many 8-bit bodies declare nothing. The stdlib
decodes the declared label as is, which either raises LookupError or fills the text
with U+FFFD. This module maps labels to the superset codecs that the WHATWG Encoding
Standard also uses and falls back through UTF-8, the HTML `<meta>` declaration and a
restricted detector before giving up with cp1252.
"""

from __future__ import annotations

import codecs
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from mailsift.parsing.detect import guess_charset
from mailsift.parsing.model import Defect

logger = logging.getLogger(__name__)

# Codec names (as `codecs.lookup(...).name` spells them) replaced by a superset codec.
# Each superset decodes every valid byte sequence of the original the same way.
_SUPERSETS: dict[str, str] = {
    "ascii": "cp1252",
    "iso8859-1": "cp1252",
    "cp1252": "cp1252",
    "iso8859-9": "cp1254",
    "iso8859-11": "cp874",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "euc_kr": "cp949",
    "shift_jis": "cp932",
    "big5": "big5hkscs",
}

# Labels seen in mail that Python's codec registry does not know.
_EXTRA_LABELS: dict[str, str] = {
    "x-gbk": "gb18030",
    "windows-874": "cp874",
    "tis-620": "cp874",
    "iso-8859-8-i": "iso8859-8",
    "x-mac-roman": "mac-roman",
    "x-sjis": "cp932",
    "x-euc-jp": "euc_jp",
    "unicode-1-1-utf-7": "utf-7",
}

# Codecs that `codecs.lookup` accepts but that do not turn bytes into text.
_NOT_TEXT_CODECS = frozenset(
    {
        "base64",
        "bz2",
        "hex",
        "quopri",
        "rot-13",
        "uu",
        "zlib",
        "undefined",
        "idna",
        "punycode",
        "raw-unicode-escape",
        "unicode-escape",
        "charmap",
    }
)

# Multi-byte legacy codecs whose byte runs are valid UTF-8 by chance for very short text
# (about 2 % of random two-character GBK strings), so a UTF-8 override needs more evidence.
_MULTIBYTE = frozenset({"gb18030", "big5hkscs", "cp932", "euc_jp", "cp949", "cp950"})
_MIN_NON_ASCII_FOR_MULTIBYTE = 4

# Windows-1252 as WHATWG defines it: the five bytes cp1252 leaves undefined
# (0x81, 0x8D, 0x8F, 0x90, 0x9D) map to the C1 controls of the same value, so
# decoding never fails and never produces U+FFFD.
_CP1252_TABLE = "".join(
    bytes([byte]).decode("cp1252", errors="ignore") or chr(byte) for byte in range(256)
)

_META_CHARSET = re.compile(
    rb"""<meta[^>]{0,500}?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]{1,40})""", re.IGNORECASE
)
_META_SCAN_BYTES = 4096
_BOM_UTF8 = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


@dataclass(frozen=True, slots=True)
class CharsetLabel:
    """A declared charset after cleaning: `codec` is None when nothing usable was declared."""

    codec: str | None
    declared: str | None
    problem: str | None = None
    """`unknown_charset` or `malformed_charset` when the label needed help, else None."""


@dataclass(slots=True)
class DecodedText:
    text: str
    charset: str
    defects: list[Defect] = field(default_factory=list)


def resolve_label(label: str | None) -> CharsetLabel:
    """Map a declared charset label to the codec mailsift decodes it with."""
    if label is None or not label.strip():
        return CharsetLabel(codec=None, declared=None)

    declared = label
    cleaned = label.strip().strip("\"'").strip().lower()
    problem = None

    # `charset="charset=us-ascii"` and RFC 2231 language tags (`utf-8*en`) both occur.
    if "=" in cleaned:
        cleaned = cleaned.rpartition("=")[2].strip("\"' ")
        problem = "malformed_charset"
    cleaned = cleaned.partition("*")[0]

    cleaned = _EXTRA_LABELS.get(cleaned, cleaned)
    if not cleaned.isascii():
        return CharsetLabel(codec=None, declared=declared, problem="unknown_charset")
    try:
        name = codecs.lookup(cleaned).name
    except (LookupError, ValueError):
        return CharsetLabel(codec=None, declared=declared, problem="unknown_charset")
    if name in _NOT_TEXT_CODECS:
        return CharsetLabel(codec=None, declared=declared, problem="unknown_charset")
    return CharsetLabel(codec=_SUPERSETS.get(name, name), declared=declared, problem=problem)


def decode_strict(data: bytes, codec: str) -> str | None:
    """Decode without any replacement, or return None when the bytes do not fit the codec."""
    if codec == "cp1252":
        return codecs.charmap_decode(data, "strict", _CP1252_TABLE)[0]
    try:
        return data.decode(codec)
    except UnicodeDecodeError:
        return None


def decode_cp1252(data: bytes) -> str:
    """Decode as WHATWG windows-1252, which accepts every byte."""
    return codecs.charmap_decode(data, "strict", _CP1252_TABLE)[0]


def utf8_override(data: bytes, codec: str) -> str | None:
    """Return the UTF-8 reading of bytes declared as another charset, when it is convincing.

    Valid UTF-8 with non-ASCII content almost never arises from a legacy charset, so a
    part labelled us-ascii or gb2312 whose bytes are valid UTF-8 was mislabelled.
    """
    if codec.startswith("utf") or not _is_ascii_superset(codec):
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None

    non_ascii = len(text) - len(text.encode("ascii", "ignore"))
    needed = _MIN_NON_ASCII_FOR_MULTIBYTE if codec in _MULTIBYTE else 1
    return text if non_ascii >= needed else None


def html_meta_charset(data: bytes) -> str | None:
    """Return the codec named by an HTML `<meta charset>` near the start of the bytes."""
    match = _META_CHARSET.search(data, 0, _META_SCAN_BYTES)
    if match is None:
        return None
    return resolve_label(match.group(1).decode("ascii")).codec


def decode_bytes(
    data: bytes,
    label: str | None,
    *,
    part: str | None,
    is_html: bool = False,
    hints: Sequence[str] = (),
) -> DecodedText:
    """Decode the bytes of one text part, recording every guess as a defect.

    The order is: the declared charset (mapped to its superset), strict UTF-8, the HTML
    `<meta>` charset when MIME declares nothing, the detector restricted to `hints` and
    plausible candidates, and finally cp1252. A leading BOM is removed from the result.
    """
    resolved = resolve_label(label)
    defects: list[Defect] = []
    if resolved.problem is not None:
        detail = f"charset label {resolved.declared!r} "
        detail += "is unknown, so the part was treated as undeclared"
        if resolved.problem == "malformed_charset":
            detail = f"charset label {resolved.declared!r} was read as {resolved.codec!r}"
        defects.append(Defect(resolved.problem, detail, part))

    codec = resolved.codec
    if codec is None and b"\x1b$" in data:
        # ISO-2022-JP is 7-bit: its escape sequences are the only sign of it.
        codec = "iso2022_jp"

    if data.isascii() and (codec is None or _is_ascii_superset(codec)):
        return DecodedText(_finish(data.decode("ascii")), codec or "ascii", defects)

    result = _decode_non_ascii(data, codec, part=part, is_html=is_html, hints=hints)
    result.defects[:0] = defects
    result.text = _finish(result.text)

    replacements = result.text.count("\ufffd")
    if replacements:
        detail = f"{replacements} U+FFFD replacement characters remain after decoding as "
        detail += result.charset
        result.defects.append(Defect("replacement_characters", detail, part))
    return result


def _decode_non_ascii(
    data: bytes, codec: str | None, *, part: str | None, is_html: bool, hints: Sequence[str]
) -> DecodedText:
    if data.startswith(_BOM_UTF8):
        text = decode_strict(data[3:], "utf-8")
        if text is not None:
            return DecodedText(text, "utf-8")
    if data.startswith(_UTF16_BOMS) and (codec is None or codec.startswith("utf-16")):
        text = decode_strict(data, "utf-16")
        if text is not None:
            return DecodedText(text, "utf-16")

    if codec is not None:
        return _decode_declared(data, codec, part=part, hints=hints)

    text = decode_strict(data, "utf-8")
    if text is not None:
        return DecodedText(text, "utf-8")

    if is_html:
        meta_codec = html_meta_charset(data)
        text = decode_strict(data, meta_codec) if meta_codec else None
        if meta_codec is not None and text is not None:
            return DecodedText(text, meta_codec)

    return _decode_guessed(data, part=part, hints=hints)


def _decode_declared(
    data: bytes, codec: str, *, part: str | None, hints: Sequence[str]
) -> DecodedText:
    override = utf8_override(data, codec)
    if override is not None:
        detail = f"declared {codec} but the bytes are valid UTF-8, so UTF-8 was used"
        return DecodedText(override, "utf-8", [Defect("charset_mismatch", detail, part)])

    text = decode_strict(data, codec)
    if text is not None:
        return DecodedText(text, codec)

    # A declared charset with a few bad bytes (a truncated line, a stray byte) still
    # reads better than a guess, so keep it unless the damage is widespread.
    replaced = data.decode(codec, errors="replace")
    if replaced.count("\ufffd") * 100 <= len(replaced):
        return DecodedText(replaced, codec)

    guessed = _decode_guessed(data, part=part, hints=(codec, *hints))
    detail = f"bytes are not valid {codec}, so they were decoded as {guessed.charset}"
    guessed.defects.insert(0, Defect("charset_mismatch", detail, part))
    return guessed


def _decode_guessed(data: bytes, *, part: str | None, hints: Sequence[str]) -> DecodedText:
    codec = guess_charset(data, hints)
    if codec is not None:
        text = decode_strict(data, codec)
        if text is None:
            # The detector reads a prefix only, so a bad byte further on is possible.
            text = data.decode(codec, errors="replace")
        detail = f"the charset was detected as {codec}"
        return DecodedText(text, codec, [Defect("charset_guessed", detail, part)])

    detail = "no charset was detected, so the bytes were decoded as cp1252"
    return DecodedText(decode_cp1252(data), "cp1252", [Defect("charset_guessed", detail, part)])


def _is_ascii_superset(codec: str) -> bool:
    return not codec.startswith(("utf-16", "utf-32", "utf-7", "iso2022", "hz"))


def _finish(text: str) -> str:
    if text.startswith("\ufeff"):
        text = text[1:]
    if "\r" in text:
        text = text.replace("\r\n", "\n")
    return text
