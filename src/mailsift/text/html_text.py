"""HTML mail bodies turned into compact plain text for an LLM prompt.

The converter is mailsift's own walk over a selectolax (lexbor, HTML5) tree. On the HTML
bodies of the test corpus it is about 3.4 times faster than inscriptis and, like
inscriptis, keeps each table row on one line, which line items and flight legs need.
`bench/html_to_text.py` measures both side by side, and `bench/README.md` contains the
figures.

Run `harvest_schema_org` on the same HTML first, because this conversion drops
`<script>` elements and with them any JSON-LD.
"""

from __future__ import annotations

from dataclasses import dataclass

from selectolax.lexbor import LexborHTMLParser

from mailsift.text._html_clean import remove_invisible_content
from mailsift.text._html_render import TextRenderer


@dataclass(frozen=True, slots=True)
class LlmText:
    """Visible text of an HTML body, plus what was removed on the way."""

    text: str
    """Lines without trailing spaces, with at most one blank line between blocks."""

    preheader: str | None
    """The hidden preview line shown by inbox lists, without its padding characters."""

    removed_tracking_pixels: int
    """Images of 0 or 1 pixel, hidden images, and images at known open-tracking URLs."""

    removed_hidden_elements: int
    """Outermost elements hidden by inline style or by the `hidden` attribute."""


def html_to_text(html: str) -> LlmText:
    """Convert an HTML mail body into the text that a reader of the message would see.

    Head, style, script, noscript and template elements, every comment (and with them
    Outlook's `<!--[if mso]>` conditional blocks), tracking pixels and hidden elements
    are dropped. Alt texts of the remaining images stay, because logos often carry the
    merchant's name. Zero-width characters and soft hyphens are removed, and non-breaking
    spaces become spaces.
    """
    tree = LexborHTMLParser(html)
    report = remove_invisible_content(tree)

    # Limit: CSS rules in <style> blocks are not applied, so text hidden through a class
    # (`.preheader { display: none }`) stays in the output.
    lines = TextRenderer().render(tree.root) if tree.root is not None else []

    return LlmText(
        text="\n".join(lines),
        preheader=report.preheader,
        removed_tracking_pixels=report.removed_tracking_pixels,
        removed_hidden_elements=report.removed_hidden_elements,
    )
