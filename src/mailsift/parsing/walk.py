"""The walk over one message's MIME tree: bodies, attachments, forwards and TNEF.

The walk never uses `get_body()`, which returns None for broken multiparts, ignores
forwarded `message/rfc822` parts and can pick an empty text/plain alternative. Part
paths follow IMAP numbering: the children of the root multipart are "1", "2", their
children "2.1", and the body of a single-part message is "1". Forwarded messages are
collected here and decoded by the caller, which keeps this module free of envelope
logic.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from email import message_from_bytes
from email.errors import MessageError
from email.message import Message
from email.policy import compat32

from mailsift.parsing.bodies import (
    Content,
    Piece,
    Visibility,
    join_in_order,
    looks_like_html,
    pick_alternative,
)
from mailsift.parsing.boundaries import resplit
from mailsift.parsing.charsets import decode_bytes
from mailsift.parsing.limits import ParseLimits
from mailsift.parsing.model import Attachment, Defect
from mailsift.parsing.outlook import TnefContent, read_tnef
from mailsift.parsing.partinfo import HEADER_ERRORS, PartInfo, read_part_info
from mailsift.parsing.transfer import (
    decode_transfer,
    normalize_encoding,
    payload_bytes,
    raw_payload,
)

logger = logging.getLogger(__name__)

FORWARD_TYPES = frozenset({"message/rfc822", "message/global"})
_BODY_TYPES = frozenset({"text/plain", "text/html"})

# CPython parser defects and the codes they are recorded under. Missing-boundary defects
# are absent on purpose: the walk records `missing_boundary` once it has recovered.
_PARSER_DEFECTS = {
    "CloseBoundaryNotFoundDefect": "missing_close_boundary",
    "MissingHeaderBodySeparatorDefect": "missing_header_separator",
    "FirstHeaderLineIsContinuationDefect": "malformed_header",
    "MisplacedEnvelopeHeaderDefect": "malformed_header",
    "MalformedHeaderDefect": "malformed_header",
    "InvalidMultipartContentTransferEncodingDefect": "invalid_transfer_encoding",
}

# Exceptions the stdlib generator raises on content the parser accepted: odd header values
# (HeaderParseError is a MessageError), unknown charsets, deep nesting.
SERIALIZE_ERRORS = (MessageError, ValueError, TypeError, LookupError, UnicodeError, RecursionError)

_RECOVERED_DEFECTS = frozenset(
    {
        "StartBoundaryNotFoundDefect",
        "NoBoundaryInMultipartDefect",
        "MultipartInvariantViolationDefect",
    }
)


@dataclass(slots=True)
class WalkBudget:
    """Part and depth limits shared by a raw message and every message forwarded in it."""

    limits: ParseLimits
    message_ref: str = ""
    """A short id of the raw message (hash prefix) for log lines."""

    parts_seen: int = 0
    depth_cut: bool = False
    count_cut: bool = False


@dataclass(frozen=True, slots=True)
class ForwardedPart:
    path: str
    message: Message
    depth: int
    in_report: bool
    """True inside multipart/report, where the attached message is a returned original."""


@dataclass(slots=True)
class Tree:
    """Everything the walk found in one message, forwarded messages still undecoded."""

    content: Content = field(default_factory=Content)
    attachments: list[Attachment] = field(default_factory=list)
    forwards: list[ForwardedPart] = field(default_factory=list)
    tnef: list[tuple[str, TnefContent]] = field(default_factory=list)
    defects: list[Defect] = field(default_factory=list)


def child_path(parent: str, index: int) -> str:
    return f"{parent}.{index}" if parent else str(index)


def walk_tree(
    root: Message,
    *,
    base: str,
    depth: int,
    budget: WalkBudget,
    hints: list[str],
    visibility: Visibility,
) -> Tree:
    """Walk the MIME tree under `root`, whose own path is `base` ("" for a top-level message)."""
    walker = _Walker(budget, hints, visibility)
    try:
        root_is_multipart = root.get_content_maintype() == "multipart"
    except HEADER_ERRORS:
        root_is_multipart = False
    path = base if root_is_multipart else child_path(base, 1)
    walker.tree.content = walker.visit(root, path, depth, in_report=False)
    return walker.tree


class _Walker:
    def __init__(self, budget: WalkBudget, hints: list[str], visibility: Visibility) -> None:
        self.budget = budget
        self.hints = hints
        self.visibility = visibility
        self.tree = Tree()

    def defect(self, code: str, detail: str, path: str) -> None:
        self.tree.defects.append(Defect(code, detail, path or None))

    def visit(self, part: Message, path: str, depth: int, *, in_report: bool) -> Content:
        limits = self.budget.limits
        self.budget.parts_seen += 1
        if self.budget.parts_seen > limits.max_parts:
            if not self.budget.count_cut:
                self.budget.count_cut = True
                detail = f"more than max_parts={limits.max_parts} parts, so the rest was not read"
                self.defect("part_count_limit", detail, path)
            return Content()
        if depth > limits.max_mime_depth:
            if not self.budget.depth_cut:
                self.budget.depth_cut = True
                detail = f"nesting deeper than max_mime_depth={limits.max_mime_depth} was not read"
                self.defect("mime_depth_limit", detail, path)
            return Content()

        info, defects = read_part_info(part, path=path)
        self.tree.defects.extend(defects)
        self._record_parser_defects(part, path)

        if info.maintype == "multipart":
            return self._multipart(part, info, path, depth)
        if info.content_type in FORWARD_TYPES:
            self._forward(part, info, path, depth, in_report=in_report)
            return Content()
        return self._leaf(part, info, path)

    def _multipart(self, part: Message, info: PartInfo, path: str, depth: int) -> Content:
        payload = raw_payload(part)
        if isinstance(payload, list):
            children = [child for child in payload if isinstance(child, Message)]
        else:
            recovered = self._recover(info, payload, path)
            if recovered is None:
                return self._text_fallback(payload, info, path)
            children = recovered

        in_report = info.content_type == "multipart/report"
        contents = [
            self.visit(child, child_path(path, index), depth + 1, in_report=in_report)
            for index, child in enumerate(children, start=1)
        ]
        if info.content_type == "multipart/alternative":
            return pick_alternative(contents, self.visibility)
        return join_in_order(contents)

    def _recover(self, info: PartInfo, payload: object, path: str) -> list[Message] | None:
        body = _as_bytes(payload)
        result = resplit(info.content_type, body)
        if result is None:
            detail = f"{info.content_type} has no usable boundary, so its payload was read as text"
            self.defect("missing_boundary", detail, path)
            return None

        reparsed, token = result
        detail = (
            f"{info.content_type} boundary did not match the body, re-split on --{token.decode()}"
        )
        self.defect("missing_boundary", detail, path)
        children = reparsed.get_payload()
        if not isinstance(children, list):
            return None
        return [child for child in children if isinstance(child, Message)]

    def _text_fallback(self, payload: object, info: PartInfo, path: str) -> Content:
        token, defects = normalize_encoding(info.transfer_encoding, part=path or None)
        data, more = decode_transfer(_as_bytes(payload), token, part=path or None)
        self.tree.defects.extend(defects + more)
        if not data.strip():
            return Content()

        is_html = looks_like_html(data)
        text = self._decode(data, info, path, is_html=is_html)
        piece = Piece(text, path or "1")
        return Content(html=piece) if is_html else Content(text=piece)

    def _forward(
        self, part: Message, info: PartInfo, path: str, depth: int, *, in_report: bool
    ) -> None:
        payload = raw_payload(part)
        token, defects = normalize_encoding(info.transfer_encoding, part=path)
        self.tree.defects.extend(defects)

        inner: Message | None = None
        if isinstance(payload, list) and payload and isinstance(payload[0], Message):
            inner = payload[0]
        if token in ("base64", "quoted-printable") or inner is None:
            # Some clients transfer-encode the attached message, which RFC 2046 forbids.
            # The parser then read the encoded text as a headerless body.
            encoded = payload if inner is None else raw_payload(inner)
            data, more = decode_transfer(_as_bytes(encoded), token, part=path)
            self.tree.defects.extend(more)
            inner = _parse_nested(data)
        if inner is None:
            self.defect("mime_depth_limit", "forwarded message nests too deeply to parse", path)
            return
        self.tree.forwards.append(ForwardedPart(path, inner, depth, in_report))

    def _leaf(self, part: Message, info: PartInfo, path: str) -> Content:
        if info.is_tnef:
            self._tnef(part, info, path)
            return Content()

        if info.content_type in _BODY_TYPES and not info.is_attachment:
            is_html = info.content_type == "text/html"
            text = self._decode(self._payload(part, info, path), info, path, is_html=is_html)
            piece = Piece(text, path)
            return Content(html=piece) if is_html else Content(text=piece)

        size = len(self._payload(part, info, path))
        self.tree.attachments.append(Attachment(info.filename, info.content_type, size))
        return Content()

    def _tnef(self, part: Message, info: PartInfo, path: str) -> None:
        data = self._payload(part, info, path)
        content = read_tnef(data, path=path, message_ref=self.budget.message_ref)
        self.tree.defects.extend(content.defects)
        if not content.decoded:
            self.tree.attachments.append(Attachment(info.filename, info.content_type, len(data)))
            return
        self.tree.attachments.extend(content.attachments)
        if content.html is not None or content.text is not None:
            self.tree.tnef.append((path, content))

    def _payload(self, part: Message, info: PartInfo, path: str) -> bytes:
        payload = raw_payload(part)
        if isinstance(payload, list):
            return _regenerate(payload)
        token, defects = normalize_encoding(info.transfer_encoding, part=path)
        data, more = decode_transfer(_as_bytes(payload), token, part=path)
        self.tree.defects.extend(defects + more)
        return data

    def _decode(self, data: bytes, info: PartInfo, path: str, *, is_html: bool) -> str:
        decoded = decode_bytes(
            data, info.charset, part=path or None, is_html=is_html, hints=self.hints
        )
        self.tree.defects.extend(decoded.defects)
        return decoded.text

    def _record_parser_defects(self, part: Message, path: str) -> None:
        for parser_defect in part.defects:
            name = type(parser_defect).__name__
            if name in _RECOVERED_DEFECTS:
                continue
            code = _PARSER_DEFECTS.get(name, "mime_defect")
            self.defect(code, f"{name}: {parser_defect}".rstrip(": "), path)


def _as_bytes(payload: object) -> bytes:
    if isinstance(payload, str):
        return payload_bytes(payload)
    if isinstance(payload, bytes):
        return payload
    return b""


def _parse_nested(data: bytes) -> Message | None:
    try:
        return message_from_bytes(data, policy=compat32)
    except RecursionError:
        return None


def _regenerate(messages: Sequence[object]) -> bytes:
    """Serialize the sub-messages of a message/* part, only to measure its size."""
    chunks: list[bytes] = []
    for message in messages:
        if not isinstance(message, Message):
            continue
        # A failure only undercounts the size.
        try:
            chunks.append(message.as_bytes())
        except SERIALIZE_ERRORS as error:
            logger.debug("could not serialize a message/* payload: %r", error)
    return b"\n".join(chunks)
