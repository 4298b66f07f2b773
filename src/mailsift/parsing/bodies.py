"""Body candidates found in a MIME subtree and the rules that combine and rank them.

In multipart/alternative one candidate of each kind is picked. In every other multipart
(mixed, related, report, signed) inline text parts are joined in order, because list
servers append footers and some clients split one body over several parts.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)

# Invisible in every mail client, so they do not count as body text.
_INVISIBLE_TAGS = ["head", "style", "script", "title", "template"]
_ZERO_WIDTH = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u034f\u00ad]+")
_HTML_START = re.compile(rb"^\s*(?:<!doctype\s+html|<html|<head|<body|<div|<table|<p\b)", re.I)


@dataclass(frozen=True, slots=True)
class Piece:
    """Decoded body text and the MIME path of the first part it came from."""

    text: str
    path: str


@dataclass(slots=True)
class Content:
    """The HTML and plain-text body of one subtree, either of which may be missing."""

    html: Piece | None = None
    text: Piece | None = None

    def is_empty(self) -> bool:
        return self.html is None and self.text is None


@dataclass(slots=True)
class Visibility:
    """Caches the visible length of HTML bodies, which needs a full HTML parse."""

    lengths: dict[Piece, int] = field(default_factory=dict)

    def length(self, piece: Piece | None, *, is_html: bool) -> int:
        if piece is None:
            return 0
        if not is_html:
            return _count_visible(piece.text)
        if piece not in self.lengths:
            self.lengths[piece] = visible_html_length(piece.text)
        return self.lengths[piece]


def visible_html_length(html: str) -> int:
    """Count the non-space characters a reader would see in an HTML document."""
    # Imported here: only messages with an HTML body reach this point.
    from selectolax.lexbor import LexborHTMLParser

    tree = LexborHTMLParser(html)
    tree.strip_tags(_INVISIBLE_TAGS)
    return _count_visible(tree.text(separator=" ") or "")


def _count_visible(text: str) -> int:
    if not text.isascii():
        text = _ZERO_WIDTH.sub("", text)
    return len("".join(text.split()))


def looks_like_html(data: bytes) -> bool:
    """Tell whether an unlabelled body starts like an HTML document."""
    return _HTML_START.search(data[:1024]) is not None


def join_in_order(contents: Iterable[Content]) -> Content:
    """Concatenate the HTML and the text bodies of the children of a non-alternative multipart."""
    htmls: list[Piece] = []
    texts: list[Piece] = []
    for content in contents:
        if content.html is not None:
            htmls.append(content.html)
        if content.text is not None:
            texts.append(content.text)
    return Content(html=_join(htmls, "\n"), text=_join(texts, "\n\n"))


def pick_alternative(contents: list[Content], visibility: Visibility) -> Content:
    """Pick one HTML and one text body among the children of multipart/alternative.

    RFC 2046 orders alternatives from plainest to richest, so the last usable child of
    each kind wins. When several children carry HTML, one without visible text loses to
    an earlier one that has some. An empty text child is skipped.
    """
    htmls = [content.html for content in reversed(contents) if content.html is not None]
    html = htmls[0] if htmls else None
    if len(htmls) > 1:
        visible = [piece for piece in htmls if visibility.length(piece, is_html=True) > 0]
        html = visible[0] if visible else html

    text: Piece | None = None
    for content in reversed(contents):
        if content.text is not None and content.text.text.strip():
            text = content.text
            break
    return Content(html=html, text=text)


def _join(pieces: list[Piece], separator: str) -> Piece | None:
    pieces = [piece for piece in pieces if piece.text.strip()] or pieces[:1]
    if not pieces:
        return None
    if len(pieces) == 1:
        return pieces[0]
    return Piece(separator.join(piece.text for piece in pieces), pieces[0].path)
