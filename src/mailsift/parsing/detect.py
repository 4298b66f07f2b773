"""Charset detection for 8-bit text that declares no usable charset.

Detection is the last resort before cp1252, because detectors misread short text:
charset-normalizer 3.5 labels Latin-1 German as cp1250 and short Chinese or Japanese
sentences as cp949. Hints from the same message (the charsets of its encoded-word
headers and of its other parts) are therefore tried first, and the detector only chooses
among a fixed list of charsets that mail actually uses.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

logger = logging.getLogger(__name__)

# Single-byte and East Asian charsets common in mail. UTF-8 has been tried already.
_DETECTOR_CANDIDATES = [
    "cp1252",
    "cp1250",
    "cp1251",
    "koi8_r",
    "cp1253",
    "cp1254",
    "cp1255",
    "cp1256",
    "cp1257",
    "gb18030",
    "big5hkscs",
    "cp932",
    "euc_jp",
    "cp949",
]

# Latin-script single-byte codepages decode most Western bytes to the same letters, and
# the detector cannot tell them apart on short text, so any of them means cp1252.
_LATIN_FAMILY = frozenset(
    {"cp1250", "cp1252", "cp1254", "cp1257", "latin_1", "iso8859_2", "iso8859_15", "mac_roman"}
)

# The detector's cost grows with input length, so it examines the first 64 KiB only.
_MAX_DETECT_BYTES = 64 * 1024


def guess_charset(data: bytes, hints: Sequence[str] = ()) -> str | None:
    """Return a codec name for undeclared 8-bit bytes, or None when nothing fits.

    `hints` are codec names already mapped by `charsets.resolve_label`. The first one
    that decodes the bytes without error wins.
    """
    for hint in dict.fromkeys(hints):
        if _decodes(data, hint):
            return hint

    # Imported here: most messages never reach detection, and the import costs time.
    from charset_normalizer import from_bytes

    try:
        best = from_bytes(data[:_MAX_DETECT_BYTES], cp_isolation=_DETECTOR_CANDIDATES).best()
    except (ValueError, LookupError, TypeError) as error:
        logger.warning("charset detection failed on %d bytes: %s", len(data), error)
        return None
    if best is None:
        return None

    # Limit: Central European text without any hint is read as cp1252, which turns
    # letters such as ł and ś into other Latin letters. Short East Asian text without a
    # hint may get the wrong East Asian codec, because charset-normalizer favours cp949.
    if best.encoding in _LATIN_FAMILY:
        return "cp1252"
    return str(best.encoding)


def _decodes(data: bytes, codec: str) -> bool:
    try:
        data.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return False
    return True
