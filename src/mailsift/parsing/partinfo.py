"""Guarded reads of one MIME part's Content-* headers.

compat32's accessors rarely raise, but a malformed RFC 2231 parameter or a header with
raw 8-bit bytes can still surface ValueError, LookupError or UnicodeError. A part whose
headers cannot be read is treated as `application/octet-stream`, never as a crash.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from email.message import Message

from mailsift.parsing.encoded_words import decode_header_value, unfold
from mailsift.parsing.model import Defect

logger = logging.getLogger(__name__)

HEADER_ERRORS = (ValueError, LookupError, UnicodeError, TypeError, AttributeError, IndexError)

TNEF_TYPES = frozenset({"application/ms-tnef", "application/vnd.ms-tnef"})
TNEF_FILENAME = "winmail.dat"


@dataclass(frozen=True, slots=True)
class PartInfo:
    content_type: str
    charset: str | None
    filename: str | None
    disposition: str | None
    transfer_encoding: str | None
    """The raw Content-Transfer-Encoding value, not yet normalized."""

    @property
    def maintype(self) -> str:
        return self.content_type.partition("/")[0]

    @property
    def is_attachment(self) -> bool:
        """True unless the part is meant to be shown in the message body.

        An explicit `inline` disposition wins over a filename, because clients such as
        Apple Mail name inline text parts and still display them as body text.
        """
        if self.disposition == "attachment":
            return True
        return self.filename is not None and self.disposition != "inline"

    @property
    def is_tnef(self) -> bool:
        name = (self.filename or "").lower()
        return self.content_type in TNEF_TYPES or name == TNEF_FILENAME


def read_part_info(part: Message, *, path: str) -> tuple[PartInfo, list[Defect]]:
    """Read the Content-* headers of one part, recording what could not be read."""
    defects: list[Defect] = []
    try:
        content_type = part.get_content_type()
    except HEADER_ERRORS as error:
        defects.append(Defect("malformed_header", f"Content-Type unreadable: {error}", path))
        content_type = "application/octet-stream"

    try:
        charset = part.get_content_charset()
    except HEADER_ERRORS as error:
        defects.append(Defect("malformed_header", f"charset unreadable: {error}", path))
        charset = None

    try:
        disposition = part.get_content_disposition()
    except HEADER_ERRORS:
        disposition = None

    filename = _read_filename(part, path, defects)
    encoding = raw_header(part, "content-transfer-encoding")
    info = PartInfo(content_type, charset, filename, disposition, encoding)
    return info, defects


def raw_header(part: Message, name: str) -> str | None:
    """Return the first value of a header as unfolded text, or None when it is absent."""
    for key, value in part.raw_items():
        if key.lower() == name and isinstance(value, str):
            return unfold(value)
    return None


def _read_filename(part: Message, path: str, defects: list[Defect]) -> str | None:
    try:
        filename = part.get_filename()
    except HEADER_ERRORS as error:
        defects.append(Defect("malformed_header", f"filename unreadable: {error}", path))
        return None
    if filename is None:
        return None

    # Outlook and many webmail clients put RFC 2047 encoded words inside the parameter.
    decoded = decode_header_value(unfold(str(filename)))
    for problem in decoded.problems:
        defects.append(Defect("header_decode_error", f"filename: {problem}", path))
    return decoded.text.strip() or None
