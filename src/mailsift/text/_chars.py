"""Character clean-up shared by the HTML-to-text steps.

Senders put invisible characters into text on purpose. U+200C between the digit groups
of an order number stops mail clients from auto-linking it. Runs of `&zwnj;&nbsp;` pad
the hidden preheader so that the inbox preview shows nothing of the body. Both would
confuse an LLM and break exact matching of identifiers, so they are removed before
anything else reads the text.
"""

from __future__ import annotations

import re

# Zero-width space, non-joiner and joiner, word joiner, byte order mark and soft hyphen.
# None of them is visible, and each one splits an identifier into parts that no longer match.
INVISIBLE_CHARACTERS = re.compile("[\u200b-\u200d\u2060\ufeff\u00ad]")

# Preheader padding adds the combining grapheme joiner (`&#847;`) and the figure space
# (`&#8199;`) to the characters above. Both are removed only from the preheader, because
# U+034F can be meaningful in running text of some scripts.
PREHEADER_PADDING = re.compile("[\u200b-\u200d\u2060\ufeff\u00ad\u034f\u2007\u180e]")


def collapse_whitespace(text: str) -> str:
    """Return `text` on one line, without invisible characters and with single spaces.

    `str.split()` without arguments splits on every Unicode whitespace character, which
    includes U+00A0, so non-breaking spaces become ordinary spaces here too.
    """
    return " ".join(INVISIBLE_CHARACTERS.sub("", text).split())


def clean_preheader(text: str) -> str:
    """Return the preheader text without its padding characters, on one line."""
    return " ".join(PREHEADER_PADDING.sub("", text).split())
