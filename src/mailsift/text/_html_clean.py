"""Removal of content hidden from the reader: tracking pixels and elements hidden by CSS.

Only inline styles and the `hidden` attribute are read, because mail clients strip or
ignore most `<style>` rules and senders therefore hide things inline. The first hidden
element that carries text is kept aside as the preheader. Inbox lists show it as the
preview line next to the subject, and it often restates the key fact of the message.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from selectolax.lexbor import LexborHTMLParser, LexborNode

from mailsift.text._chars import clean_preheader
from mailsift.text._dom import ancestor_ids

logger = logging.getLogger(__name__)

# URL shapes of open-tracking images used by common mailing services (Mailchimp's
# `track/open.php`, SendGrid's `/wf/open`, generic `/o.gif` and `pixel` paths). They are
# trusted only for images without alt text, so a real image whose name contains "pixel"
# keeps its description.
_TRACKING_URL = re.compile(
    r"track/open|/open\.(?:php|gif|aspx?)|/o\.gif|pixel|beacon|/wf/open", re.IGNORECASE
)

# A CSS length of zero in any unit: `0`, `0px`, `0.0em`, `0%`.
_ZERO_LENGTH = re.compile(r"(?:0+(?:\.0*)?|\.0+)(?:[a-z]{1,4}|%)?")

_TINY_DIMENSIONS = frozenset({"0", "1", "0px", "1px"})

_STYLE_PROPERTIES = frozenset(
    {"display", "visibility", "max-height", "overflow", "opacity", "font-size", "width", "height"}
)


@dataclass(frozen=True, slots=True)
class CleaningReport:
    """Summary of the content that `remove_invisible_content` deleted from a tree."""

    preheader: str | None
    removed_tracking_pixels: int
    removed_hidden_elements: int
    """Count of outermost hidden elements. Hidden elements nested in them are not counted."""


def remove_invisible_content(tree: LexborHTMLParser) -> CleaningReport:
    """Delete tracking pixels and hidden elements from `tree` and report what went.

    Candidates are collected and judged first and deleted afterwards, in reverse document
    order. selectolax frees a node's children when it decomposes the node, so a
    descendant must never be touched after its ancestor is gone.
    """
    pixels: list[tuple[int, LexborNode]] = []
    hidden: list[tuple[int, LexborNode]] = []
    tiny_font: list[tuple[int, LexborNode]] = []
    visible_content: list[LexborNode] = []

    # A selector list would return an element once per matching selector; `:is()` does not.
    for index, node in enumerate(tree.css(":is(img, [style], [hidden])")):
        attributes = node.attributes
        style = attributes.get("style")
        declarations = _parse_style(style) if style else {}

        if node.tag == "img":
            if _is_tracking_pixel(attributes, declarations):
                pixels.append((index, node))
            else:
                visible_content.append(node)
            continue

        if "hidden" in attributes or _hides_element(declarations):
            hidden.append((index, node))
            continue

        font_size = declarations.get("font-size")
        if font_size is None:
            continue
        if _is_tiny_font(font_size):
            tiny_font.append((index, node))
        else:
            visible_content.append(node)

    # Responsive templates (MJML among them) set `font-size:0` on column wrappers to remove
    # the gaps between inline blocks, and restore the size on the content inside. Such a
    # wrapper hides nothing, so tiny text counts as hidden only when nothing inside it sets
    # a readable size again and no image sits inside it.
    has_visible_descendant = ancestor_ids(visible_content)
    hidden.extend(item for item in tiny_font if item[1].mem_id not in has_visible_descendant)
    hidden.sort(key=lambda item: item[0])
    outermost = _outermost(hidden)

    preheader = _find_preheader([node for _, node in outermost])
    for _, node in sorted(pixels + outermost, key=lambda item: item[0], reverse=True):
        node.decompose()

    logger.debug("removed %d tracking pixels and %d hidden elements", len(pixels), len(outermost))
    return CleaningReport(
        preheader=preheader,
        removed_tracking_pixels=len(pixels),
        removed_hidden_elements=len(outermost),
    )


def _parse_style(style: str) -> dict[str, str]:
    """Return the declarations of an inline style that can hide content, by lower-case name."""
    declarations: dict[str, str] = {}
    for declaration in style.lower().split(";"):
        name, colon, value = declaration.partition(":")
        name = name.strip()
        if colon and name in _STYLE_PROPERTIES:
            declarations[name] = value.replace("!important", "").strip()
    return declarations


def _hides_element(declarations: dict[str, str]) -> bool:
    """Return whether the declarations hide the element in every common mail client.

    `mso-hide:all` alone is not enough: it hides only in Outlook for Windows, and
    bulletproof buttons put it on the HTML link that every other client shows (Outlook
    gets a VML copy in a conditional comment instead). Likewise `max-height:0` hides
    only together with `overflow:hidden`, because otherwise the content spills out.
    """
    if declarations.get("display") == "none":
        return True
    if declarations.get("visibility") == "hidden":
        return True
    if _is_zero(declarations.get("max-height")) and declarations.get("overflow") == "hidden":
        return True
    return _is_zero(declarations.get("opacity"))


def _is_tracking_pixel(attributes: dict[str, str | None], declarations: dict[str, str]) -> bool:
    for name in ("width", "height"):
        declared = attributes.get(name)
        if declared is not None and declared.strip().lower() in _TINY_DIMENSIONS:
            return True
        if declarations.get(name) in _TINY_DIMENSIONS:
            return True

    if _hides_element(declarations):
        return True

    alt = (attributes.get("alt") or "").strip()
    source = attributes.get("src") or ""
    return not alt and _TRACKING_URL.search(source) is not None


def _is_zero(value: str | None) -> bool:
    return value is not None and _ZERO_LENGTH.fullmatch(value) is not None


def _is_tiny_font(value: str) -> bool:
    return value == "1px" or _is_zero(value)


def _outermost(hidden: list[tuple[int, LexborNode]]) -> list[tuple[int, LexborNode]]:
    """Return the hidden elements that are not inside another hidden element."""
    hidden_ids = {node.mem_id for _, node in hidden}
    outermost: list[tuple[int, LexborNode]] = []
    for index, node in hidden:
        parent = node.parent
        while parent is not None and parent.mem_id not in hidden_ids:
            parent = parent.parent
        if parent is None:
            outermost.append((index, node))
    return outermost


def _find_preheader(hidden: list[LexborNode]) -> str | None:
    """Return the text of the first hidden element that reads like a preheader.

    Hidden blocks that contain a table are usually mobile-only copies of the layout,
    not a preview line, so they are passed over.
    """
    for node in hidden:
        if node.tag in ("style", "script", "template") or node.css_first("table") is not None:
            continue
        text = clean_preheader(node.text(separator=" "))
        if text:
            return text
    return None
