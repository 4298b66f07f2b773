"""Token estimates and truncation of prompt text to a token budget.

The estimate needs no tokenizer, so it costs microseconds and works with any model. It
assumes about 4 characters per token for ASCII text, a common rule of thumb for English
with BPE tokenizers (GPT-style and Llama-style vocabularies), and 1 token per character
for everything else. The second rate is deliberately pessimistic: CJK text takes about
one token per character, while Cyrillic or accented Latin words take fewer, so for them
the estimate is too high and a budget is never overrun because of them.
"""

from __future__ import annotations

import math

ASCII_CHARS_PER_TOKEN = 4

_MARKER = "[... truncated: {count} more characters not shown ...]"

# A cut at a line or word boundary may give back at most this share of the text that
# fits. When the nearest boundary is further back, a hard cut inside a word loses less.
_MAX_BOUNDARY_LOSS = 0.2


def estimate_tokens(text: str) -> int:
    """Return an estimate of the number of LLM tokens in `text` (see the module docstring)."""
    if text.isascii():
        return math.ceil(len(text) / ASCII_CHARS_PER_TOKEN)
    ascii_count = len(text.encode("ascii", "ignore"))
    return math.ceil(ascii_count / ASCII_CHARS_PER_TOKEN) + (len(text) - ascii_count)


def fit_to_budget(text: str, max_tokens: int) -> tuple[str, bool]:
    """Return `text` cut to at most `max_tokens` estimated tokens, and whether it was cut.

    The cut falls on a line break, or else between words, when that loses less than a
    fifth of what fits. A cut text ends with a marker line that states how many
    characters were left out, so the model can tell that the input is incomplete. The
    marker counts toward the budget.

    Raises ValueError when `max_tokens` cannot hold even the marker.
    """
    if estimate_tokens(text) <= max_tokens:
        return text, False

    # The maximum count gives the longest marker, so the real marker fits too.
    marker_budget = estimate_tokens("\n" + _MARKER.format(count=len(text)))
    if max_tokens < marker_budget:
        raise ValueError(
            f"max_tokens must be at least {marker_budget} to hold the truncation marker, "
            f"got {max_tokens}"
        )

    end = _longest_prefix_within(text, max_tokens - marker_budget)
    cut = _boundary_before(text, end)
    kept_text = text[:cut].rstrip()
    marker = _MARKER.format(count=len(text) - len(kept_text))
    return (f"{kept_text}\n{marker}" if kept_text else marker), True


def _longest_prefix_within(text: str, max_tokens: int) -> int:
    """Return the largest `end` with `estimate_tokens(text[:end]) <= max_tokens`."""
    # The estimate only grows as characters are added, so a binary search finds the end.
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if estimate_tokens(text[:middle]) <= max_tokens:
            low = middle
        else:
            high = middle - 1
    return low


def _boundary_before(text: str, end: int) -> int:
    """Return a cut position at or before `end` on a line break or space, if one is near."""
    if end >= len(text):
        return end
    floor = int(end * (1 - _MAX_BOUNDARY_LOSS))
    line_break = text.rfind("\n", floor, end + 1)
    if line_break != -1:
        return line_break
    space = text.rfind(" ", floor, end + 1)
    if space != -1:
        return space
    return end
