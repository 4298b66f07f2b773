"""Recovery of multiparts whose boundary is missing or does not match the body.

CPython leaves such a multipart as one string payload (StartBoundaryNotFoundDefect or
NoBoundaryInMultipartDefect) and `get_body()` then finds nothing. Spam and some
bounce generators produce this often. The body usually still contains boundary lines,
just with another token than the header declares, so the token is found in the body
and the part is parsed again with it.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from email import message_from_bytes
from email.message import Message
from email.policy import compat32

logger = logging.getLogger(__name__)

# A delimiter line: `--token` or `--token--`, matched at the start of a line only, as
# RFC 2046 requires, so a token that occurs mid-line is never taken for a boundary.
_DELIMITER_LINE = re.compile(rb"^--([!-~]{1,200}?)(?:--)?[ \t]*\r?$", re.MULTILINE)
_HEADER_LINE = re.compile(rb"[A-Za-z][A-Za-z0-9-]{0,75}:")
_NEWLINE = re.compile(rb"\r?\n")
_FINAL_CLOSE_LINE = re.compile(rb"\r?\n--([!-~]{1,200}?)--[ \t]*[\r\n \t]*\Z")


def find_boundary(body: bytes) -> bytes | None:
    """Return the delimiter token used most often in a body, or None.

    A token counts only if at least one of its delimiter lines is followed by a header
    line, which keeps rows of dashes in plain text from being taken for boundaries.
    """
    seen: Counter[bytes] = Counter()
    confirmed: set[bytes] = set()
    for match in _DELIMITER_LINE.finditer(body):
        token = match.group(1)
        if b'"' in token:
            continue
        seen[token] += 1
        newline = _NEWLINE.match(body, match.end())
        if newline is not None and _HEADER_LINE.match(body, newline.end()):
            confirmed.add(token)

    for token, _count in seen.most_common():
        if token in confirmed:
            return token
    return None


def resplit(content_type: str, body: bytes) -> tuple[Message, bytes] | None:
    """Parse a broken multipart body again with the boundary found in it.

    Returns the new multipart and the token, or None when no token is found or the
    parse with it still yields no parts.
    """
    token = find_boundary(body)
    if token is None:
        return None

    # A close delimiter with yet another token would end up inside the last part.
    final_close = _FINAL_CLOSE_LINE.search(body)
    if final_close is not None and final_close.group(1) != token:
        body = body[: final_close.start()] + b"\r\n"

    header = b"Content-Type: " + content_type.encode("ascii", "replace")
    header += b'; boundary="' + token + b'"\r\n\r\n'
    try:
        reparsed = message_from_bytes(header + body, policy=compat32)
    except RecursionError:
        logger.warning("re-split multipart nests too deeply, so it was kept as text")
        return None

    payload = reparsed.get_payload()
    if not isinstance(payload, list) or not payload:
        return None
    return reparsed, token
