"""The decoded form of one raw message, as the rest of the pipeline sees it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Defect:
    """One problem found while decoding, recorded on the email instead of raised.

    `code` is a stable snake_case name (for example `unknown_charset`, `missing_boundary`,
    `bom_stripped`); `detail` says what was found and what was done about it; `part` is the
    MIME path of the part concerned ("1.2"), or None for the whole message.
    """

    code: str
    detail: str
    part: str | None = None


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str | None
    content_type: str
    size_bytes: int


@dataclass(slots=True)
class DecodedEmail:
    """A parsed message: headers, the best body candidates, attachments and defects.

    `html` and `text` are the chosen bodies, already decoded to str (either may be None).
    `body_source` names the MIME path the chosen body came from, so a forwarded receipt
    inside message/rfc822 can be told apart from the outer note.
    """

    raw_sha256: str
    size_bytes: int
    message_id: str | None = None
    subject: str | None = None
    sender: str | None = None
    sender_domain: str | None = None
    recipients: list[str] = field(default_factory=list)
    date: datetime | None = None
    html: str | None = None
    text: str | None = None
    body_source: str | None = None
    attachments: list[Attachment] = field(default_factory=list)
    forwarded: list[DecodedEmail] = field(default_factory=list)
    defects: list[Defect] = field(default_factory=list)
    container: str = "mime"
    """`mime`, `outlook-msg` (an OLE2 .msg file) or `tnef` (body came from winmail.dat)."""

    sender_name: str | None = None
    """The decoded display name of the sender (`"ACME Shop" <orders@acme.example>`)."""
