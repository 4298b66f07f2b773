"""Outlook's own formats: TNEF (winmail.dat) attachments and OLE2 `.msg` files.

Both decoders are copyleft (tnefparse is LGPL-3.0, extract-msg GPL-3.0), so they are
optional: install `mailsift[outlook]`. Without them the message still decodes, with a
`tnef_not_decoded` or `msg_not_decoded` defect saying what was skipped.
"""

from __future__ import annotations

import logging
import mimetypes
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import getaddresses
from typing import Any

from mailsift.parsing.charsets import decode_bytes
from mailsift.parsing.encoded_words import decode_header_value
from mailsift.parsing.model import Attachment, DecodedEmail, Defect
from mailsift.parsing.rtf import rtf_to_text
from mailsift.parsing.tnef_guard import find_implausible_count

logger = logging.getLogger(__name__)

OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_INSTALL_HINT = "install mailsift[outlook] to decode it"


@dataclass(slots=True)
class TnefContent:
    """The body (if any) and the files found inside one winmail.dat."""

    html: str | None = None
    text: str | None = None
    attachments: list[Attachment] = field(default_factory=list)
    defects: list[Defect] = field(default_factory=list)
    decoded: bool = False


def read_tnef(data: bytes, *, path: str, message_ref: str = "") -> TnefContent:
    """Decode a TNEF attachment. `decoded` is False when tnefparse is missing or fails.

    `message_ref` identifies the enclosing message in log lines (a hash prefix).
    """
    try:
        from tnefparse import TNEF
    except ImportError:
        detail = f"winmail.dat (TNEF) was not decoded: {_INSTALL_HINT}"
        return TnefContent(defects=[Defect("tnef_not_decoded", detail, path)])

    implausible = find_implausible_count(data)
    if implausible is not None:
        logger.warning(
            "TNEF part %s of message %s skipped as corrupt: %s", path, message_ref, implausible
        )
        detail = f"winmail.dat is corrupt and was not decoded: {implausible}"
        return TnefContent(defects=[Defect("tnef_decode_error", detail, path)])

    # tnefparse walks attacker-controlled offsets and fails with struct.error,
    # IndexError, ValueError or UnicodeDecodeError, and any failure only loses this part.
    try:
        tnef = TNEF(data, do_checksum=False)
    except Exception as error:
        logger.warning(
            "TNEF part %s of message %s could not be decoded: %r", path, message_ref, error
        )
        detail = f"winmail.dat could not be decoded: {error!r}"
        return TnefContent(defects=[Defect("tnef_decode_error", detail, path)])

    content = TnefContent(decoded=True)
    codec = tnef.codepage if isinstance(tnef.codepage, str) else None
    content.html = _tnef_text(tnef.htmlbody, codec, path, content.defects, is_html=True)
    content.text = _tnef_text(tnef.body, codec, path, content.defects, is_html=False)
    if content.html is None and content.text is None:
        content.text = _tnef_rtf(tnef, path, content.defects)

    # Limit: an attached Outlook item (attach method 5) is listed as an attachment and
    # its own body is not decoded as a forwarded message.
    for attachment in tnef.attachments:
        content.attachments.append(_tnef_attachment(attachment, path, content.defects))
    return content


def _tnef_text(
    value: object, codec: str | None, path: str, defects: list[Defect], *, is_html: bool
) -> str | None:
    if isinstance(value, bytes):
        decoded = decode_bytes(value.rstrip(b"\x00"), codec, part=path, is_html=is_html)
        defects.extend(decoded.defects)
        value = decoded.text
    if isinstance(value, str) and value.strip("\x00 \r\n\t"):
        return value.rstrip("\x00")
    return None


def _tnef_rtf(tnef: Any, path: str, defects: list[Defect]) -> str | None:
    try:
        rtf = tnef.rtfbody
    except Exception as error:  # compressed_rtf raises its own errors on corrupt data
        logger.debug("RTF body of TNEF part %s could not be decompressed: %r", path, error)
        defects.append(Defect("tnef_decode_error", f"RTF body unreadable: {error!r}", path))
        return None
    if not isinstance(rtf, bytes) or not rtf.startswith(b"{\\rtf"):
        return None
    return rtf_to_text(rtf) or None


def _tnef_attachment(attachment: Any, path: str, defects: list[Defect]) -> Attachment:
    try:
        filename = str(attachment.long_filename()).strip("\x00") or None
    except (UnicodeDecodeError, AttributeError, TypeError) as error:
        defects.append(Defect("tnef_decode_error", f"attachment name unreadable: {error}", path))
        filename = None
    data = attachment.data if isinstance(attachment.data, bytes) else b""
    return Attachment(filename, _guess_type(filename), len(data))


def read_msg_file(raw: bytes, *, raw_sha256: str) -> DecodedEmail:
    """Decode an Outlook `.msg` file (OLE2 compound file) into a DecodedEmail."""
    decoded = DecodedEmail(raw_sha256=raw_sha256, size_bytes=len(raw), container="outlook-msg")
    try:
        import extract_msg
    except ImportError:
        detail = f"the message is an Outlook .msg file and was not decoded: {_INSTALL_HINT}"
        decoded.defects.append(Defect("msg_not_decoded", detail))
        return decoded

    # extract-msg and olefile raise many unrelated types on corrupt compound files.
    try:
        msg = extract_msg.openMsg(raw, strict=False)
    except Exception as error:
        logger.warning("Outlook .msg file %s could not be opened: %r", raw_sha256[:12], error)
        decoded.defects.append(Defect("msg_decode_error", f"cannot open .msg: {error!r}"))
        return decoded

    try:
        _fill_from_msg(decoded, msg)
    finally:
        msg.close()
    return decoded


def _fill_from_msg(decoded: DecodedEmail, msg: Any) -> None:
    def read(name: str) -> Any:
        try:
            return getattr(msg, name, None)
        except Exception as error:  # properties decode lazily and may fail one by one
            decoded.defects.append(Defect("msg_decode_error", f"{name} unreadable: {error!r}"))
            return None

    subject = read("subject")
    decoded.subject = _clean_str(subject)
    decoded.message_id = _clean_str(read("messageId"))

    senders = _msg_addresses(read("sender"))
    if senders:
        decoded.sender_name, decoded.sender = senders[0]
        decoded.sender_domain = decoded.sender.rpartition("@")[2].lower() or None
    recipients = _msg_addresses(read("to")) + _msg_addresses(read("cc"))
    decoded.recipients = list(dict.fromkeys(address for _, address in recipients))

    date = read("date")
    if isinstance(date, datetime):
        if date.tzinfo is None:
            decoded.defects.append(Defect("naive_date", "the .msg date has no time zone"))
            date = date.replace(tzinfo=UTC)
        decoded.date = date

    html = read("htmlBody")
    if isinstance(html, bytes) and html.strip():
        result = decode_bytes(html, None, part=None, is_html=True)
        decoded.defects.extend(result.defects)
        decoded.html = result.text
    text = read("body")
    if isinstance(text, str) and text.strip():
        decoded.text = text.replace("\r\n", "\n")

    for attachment in read("attachments") or []:
        decoded.attachments.append(_msg_attachment(attachment))


def _msg_addresses(value: object) -> list[tuple[str | None, str]]:
    if not isinstance(value, str) or not value.strip():
        return []
    # Outlook separates recipients with semicolons.
    pairs = getaddresses([value.replace(";", ",")])
    found: list[tuple[str | None, str]] = []
    for name, address in pairs:
        if "@" in address:
            display = decode_header_value(name).text.strip() if name else ""
            found.append((display or None, address.strip()))
    return found


def _msg_attachment(attachment: object) -> Attachment:
    filename = None
    for name in ("longFilename", "shortFilename", "displayName"):
        value = _attribute(attachment, name)
        if isinstance(value, str) and value.strip():
            filename = value.strip()
            break
    mimetype = _attribute(attachment, "mimetype")
    content_type = mimetype if isinstance(mimetype, str) else _guess_type(filename)
    data = _attribute(attachment, "data")
    return Attachment(filename, content_type, len(data) if isinstance(data, bytes) else 0)


def _attribute(obj: object, name: str) -> object:
    # extract-msg reads attachment properties lazily, so each read can hit corrupt data.
    try:
        return getattr(obj, name, None)
    except Exception as error:
        logger.debug("attachment property %s unreadable: %r", name, error)
        return None


def _guess_type(filename: str | None) -> str:
    guessed = mimetypes.guess_type(filename)[0] if filename else None
    return guessed or "application/octet-stream"


def _clean_str(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    return " ".join(value.split()) or None
