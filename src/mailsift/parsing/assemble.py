"""Assembly of a DecodedEmail from a parsed message: envelope, tree walk, forwards, body.

The chosen body is the HTML when it has visible text, else the plain text. That body
may be only a short note ("see attached", a signature, nothing) while a forwarded
message or a winmail.dat carries a longer body. The longer body is then chosen,
because users forward receipts and the forwarded part is the content to extract.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, replace
from email.message import Message

from mailsift.parsing.bodies import Content, Piece, Visibility
from mailsift.parsing.charsets import resolve_label
from mailsift.parsing.headers import read_envelope
from mailsift.parsing.model import DecodedEmail
from mailsift.parsing.walk import SERIALIZE_ERRORS, ForwardedPart, WalkBudget, walk_tree

logger = logging.getLogger(__name__)

# Visible characters (spaces excluded) up to which an outer body counts as a covering
# note. "Please see the attached receipt. Thanks, Anna" plus a phone signature fits.
SHORT_NOTE_CHARS = 300


@dataclass(frozen=True, slots=True)
class _Candidate:
    """A body from a forwarded message or winmail.dat that may replace the outer body."""

    path: str
    content: Content
    container: str


def assemble(
    message: Message,
    *,
    raw_sha256: str,
    size_bytes: int,
    base: str,
    depth: int,
    budget: WalkBudget,
) -> DecodedEmail:
    """Build the DecodedEmail of one parsed message, decoding forwarded messages recursively."""
    envelope = read_envelope(message, fallback_codec=_declared_charset(message))
    decoded = DecodedEmail(
        raw_sha256=raw_sha256,
        size_bytes=size_bytes,
        message_id=envelope.message_id,
        subject=envelope.subject,
        sender=envelope.sender,
        sender_domain=envelope.sender_domain,
        recipients=envelope.recipients,
        date=envelope.date,
        sender_name=envelope.sender_name,
    )
    decoded.defects.extend(envelope.defects)

    visibility = Visibility()
    tree = walk_tree(
        message,
        base=base,
        depth=depth,
        budget=budget,
        hints=envelope.charset_hints,
        visibility=visibility,
    )
    decoded.defects.extend(tree.defects)
    decoded.attachments = tree.attachments

    candidates: list[_Candidate] = []
    for forward in tree.forwards:
        nested = _assemble_forward(forward, budget, outer_sha256=raw_sha256)
        decoded.forwarded.append(nested)
        # The outer list contains every defect of the raw message, nested ones included.
        # A nested whole-message defect is attributed to the forwarded part.
        decoded.defects.extend(
            defect if defect.part else replace(defect, part=forward.path)
            for defect in nested.defects
        )
        if not forward.in_report and (nested.html or nested.text):
            source = nested.body_source or forward.path
            html = Piece(nested.html, source) if nested.html else None
            text = Piece(nested.text, source) if nested.text else None
            candidates.append(_Candidate(forward.path, Content(html, text), nested.container))

    for path, tnef in tree.tnef:
        html = Piece(tnef.html, path) if tnef.html else None
        text = Piece(tnef.text, path) if tnef.text else None
        candidates.append(_Candidate(path, Content(html, text), "tnef"))

    candidates.sort(key=lambda candidate: _path_key(candidate.path))
    _choose_body(decoded, tree.content, candidates, visibility)
    return decoded


def _assemble_forward(
    forward: ForwardedPart, budget: WalkBudget, *, outer_sha256: str
) -> DecodedEmail:
    try:
        raw = forward.message.as_bytes()
    except SERIALIZE_ERRORS as error:
        logger.debug("forwarded message at %s could not be serialized: %r", forward.path, error)
        raw = b""
    # Limit: these bytes are what the stdlib generator writes back, which can differ from
    # the original (line ends, refolded headers), so the hash is stable but not the
    # hash of the source bytes. Without bytes, the outer hash and the path are hashed.
    digest_input = raw or f"{outer_sha256}:{forward.path}".encode()
    return assemble(
        forward.message,
        raw_sha256=hashlib.sha256(digest_input).hexdigest(),
        size_bytes=len(raw),
        base=forward.path,
        depth=forward.depth + 1,
        budget=budget,
    )


def _choose_body(
    decoded: DecodedEmail, own: Content, candidates: list[_Candidate], visibility: Visibility
) -> None:
    html = own.html if own.html is not None and own.html.text.strip() else None
    text = own.text if own.text is not None and own.text.text.strip() else None
    if html is not None and text is not None and visibility.length(html, is_html=True) == 0:
        # An HTML alternative with nothing visible (an empty shell, or only images)
        # carries less information than the text alternative beside it.
        html = None

    container = "mime"
    own_length = _length(html, text, visibility) if candidates else 0
    if candidates and own_length <= SHORT_NOTE_CHARS:
        for candidate in candidates:
            other = candidate.content
            if _length(other.html, other.text, visibility) > own_length:
                html, text, container = other.html, other.text, candidate.container
                break
    elif html is None:
        # Outlook sends its rich body only inside winmail.dat next to a plain-text part.
        for candidate in candidates:
            if candidate.container == "tnef" and candidate.content.html is not None:
                html, container = candidate.content.html, "tnef"
                break

    decoded.html = html.text if html is not None else None
    decoded.text = text.text if text is not None else None
    chosen = html if html is not None else text
    decoded.body_source = chosen.path if chosen is not None else None
    decoded.container = container


def _length(html: Piece | None, text: Piece | None, visibility: Visibility) -> int:
    if html is not None:
        return visibility.length(html, is_html=True)
    return visibility.length(text, is_html=False)


def _path_key(path: str) -> tuple[int, ...]:
    return tuple(int(number) for number in path.split(".") if number.isdigit())


def _declared_charset(message: Message) -> str | None:
    """Return the codec of the root part's charset, used for raw 8-bit header bytes."""
    try:
        label = message.get_content_charset()
    except (ValueError, LookupError, UnicodeError, TypeError):
        return None
    return resolve_label(label).codec
