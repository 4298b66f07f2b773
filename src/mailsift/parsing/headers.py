"""The envelope fields of one message: subject, sender, recipients, date and Message-ID.

Headers come from a compat32 message as raw folded text and are decoded here, so no
header access can raise. Every value that needed repair leaves a defect behind.
"""

from __future__ import annotations

import inspect
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from email.utils import getaddresses, parsedate_to_datetime

from mailsift.parsing.encoded_words import HeaderText, decode_header_value, unfold
from mailsift.parsing.model import Defect

logger = logging.getLogger(__name__)

_ENVELOPE_HEADERS = frozenset(
    {"subject", "from", "sender", "to", "cc", "date", "message-id", "received"}
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")

# Since the CVE-2023-27043 fix (CPython 3.13.0, 3.12.6 and security releases of older
# branches) getaddresses is strict by default and returns ('', '') for malformed
# headers, so strict=False is passed where the parameter exists.
_LENIENT: dict[str, bool] = (
    {"strict": False} if "strict" in inspect.signature(getaddresses).parameters else {}
)

# getaddresses raises IndexError on some malformed groups, such as `To: (c):`.
_ADDRESS_ERRORS = (IndexError, ValueError, TypeError, AttributeError)
_DATE_ERRORS = (ValueError, TypeError, IndexError, OverflowError)

# Decodes one header value. The first argument names the header for defect details.
_Decoder = Callable[[str, str], str]


@dataclass(slots=True)
class Envelope:
    subject: str | None = None
    sender: str | None = None
    sender_name: str | None = None
    sender_domain: str | None = None
    recipients: list[str] = field(default_factory=list)
    date: datetime | None = None
    message_id: str | None = None
    charset_hints: list[str] = field(default_factory=list)
    """Codecs named by encoded words, used to decode bodies that declare no charset."""

    defects: list[Defect] = field(default_factory=list)


def read_envelope(message: Message, *, fallback_codec: str | None = None) -> Envelope:
    """Decode the envelope headers of a parsed message without raising."""
    headers = _collect_headers(message)
    envelope = Envelope()

    def decode(name: str, value: str) -> str:
        decoded = decode_header_value(value, fallback_codec=fallback_codec)
        _note(envelope, name, decoded)
        return _clean(decoded.text)

    if "subject" in headers:
        envelope.subject = decode("Subject", headers["subject"][0]) or None

    sender_values = headers.get("from") or headers.get("sender") or []
    senders = _addresses(sender_values, decode, "From")
    if senders:
        envelope.sender_name, envelope.sender = senders[0]
        envelope.sender_domain = envelope.sender.rpartition("@")[2].lower() or None
    elif sender_values:
        detail = f"no address found in From {sender_values[0][:200]!r}"
        envelope.defects.append(Defect("invalid_sender", detail))

    recipient_values = headers.get("to", []) + headers.get("cc", [])
    recipients = _addresses(recipient_values, decode, "To/Cc")
    envelope.recipients = list(dict.fromkeys(address for _, address in recipients))

    message_ids = headers.get("message-id")
    if message_ids:
        envelope.message_id = decode("Message-ID", message_ids[0]).strip() or None

    envelope.date = _read_date(headers, envelope.defects)
    return envelope


def _collect_headers(message: Message) -> dict[str, list[str]]:
    headers: dict[str, list[str]] = {}
    for name, value in message.raw_items():
        key = name.lower()
        if key in _ENVELOPE_HEADERS and isinstance(value, str):
            headers.setdefault(key, []).append(unfold(value).strip())
    return headers


def _addresses(values: list[str], decode: _Decoder, header: str) -> list[tuple[str | None, str]]:
    """Return (display name, address) pairs that contain an `@`, decoding names after parsing.

    Parsing comes first so that an encoded comma in a display name does not split it.
    When that finds no address, the whole value is decoded and parsed again, because some
    senders encode the address itself (`From: =?UTF-8?B?...?=`).
    """
    found = _parse_pairs(values)
    if not any("@" in address for _, address in found) and any("=?" in v for v in values):
        found = _parse_pairs(decode(header, value) for value in values)

    pairs: list[tuple[str | None, str]] = []
    for name, address in found:
        if "=?" in address or not address.isascii():
            address = decode(header, address)
        address = address.strip().strip("<>").strip()
        if "@" not in address:
            continue
        display = decode(header, name) if name else ""
        pairs.append((display or None, address))
    return pairs


def _parse_pairs(values: Iterable[str]) -> list[tuple[str, str]]:
    try:
        return getaddresses(list(values), **_LENIENT)
    except _ADDRESS_ERRORS as error:
        logger.debug("address parse failed: %s", error)
        return []


def _read_date(headers: dict[str, list[str]], defects: list[Defect]) -> datetime | None:
    dates = headers.get("date")
    if dates:
        parsed = _parse_date(dates[0])
        if parsed is not None:
            if parsed.tzinfo is None:
                detail = f"Date {dates[0]!r} has no usable time zone, so UTC was assumed"
                defects.append(Defect("naive_date", detail))
                parsed = parsed.replace(tzinfo=UTC)
            return parsed
        defects.append(Defect("invalid_date", f"Date {dates[0][:200]!r} could not be parsed"))

    # The bottom-most Received header was added by the hop closest to the sender.
    received = headers.get("received")
    if received:
        parsed = _parse_date(received[-1].rpartition(";")[2])
        if parsed is not None:
            parsed = parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
            detail = "Date missing or invalid, so the time of the first Received hop was used"
            defects.append(Defect("date_from_received", detail))
            return parsed

    if not dates:
        defects.append(Defect("missing_date", "the message has no Date header"))
    return None


def _parse_date(value: str) -> datetime | None:
    value = value.strip()
    if not value:
        return None
    try:
        return parsedate_to_datetime(value)
    except _DATE_ERRORS:
        return None


def _note(envelope: Envelope, header: str, decoded: HeaderText) -> None:
    envelope.charset_hints.extend(decoded.charsets)
    for problem in decoded.problems:
        envelope.defects.append(Defect("header_decode_error", f"{header}: {problem}"))


def _clean(text: str) -> str:
    """Replace control characters (a CR or LF inside an encoded word, a NUL) by a space."""
    return _CONTROL.sub(" ", text).strip()
