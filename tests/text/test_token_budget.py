"""estimate_tokens and fit_to_budget."""

from __future__ import annotations

import re

import pytest

from mailsift.text import estimate_tokens, fit_to_budget

MARKER = re.compile(r"\[\.\.\. truncated: (\d+) more characters not shown \.\.\.\]")


def test_estimate_for_ascii_text() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("abcd") == 1
    assert estimate_tokens("abcde") == 2
    assert estimate_tokens("x" * 400) == 100


def test_estimate_for_non_ascii_text() -> None:
    assert estimate_tokens("東京駅") == 3
    assert estimate_tokens("Café") == 1 + 1
    assert estimate_tokens("Заказ 12345") == 5 + 2


def test_text_within_budget_is_unchanged() -> None:
    text = "Order A-1042\nBlue mug | 2 | 12.50"

    assert fit_to_budget(text, estimate_tokens(text)) == (text, False)


def test_long_text_cut_at_line_break() -> None:
    lines = [f"Line {number:03d}: Blue mug | 2 | 12.50" for number in range(200)]
    text = "\n".join(lines)

    result, truncated = fit_to_budget(text, 300)

    assert truncated
    assert estimate_tokens(result) <= 300
    *kept, marker = result.split("\n")
    assert kept == lines[: len(kept)]
    assert len(kept) > 20
    match = MARKER.fullmatch(marker)
    assert match is not None
    assert int(match.group(1)) == len(text) - len("\n".join(kept))


def test_long_line_cut_between_words() -> None:
    text = " ".join(f"word{number}" for number in range(1000))

    result, truncated = fit_to_budget(text, 100)

    assert truncated
    assert estimate_tokens(result) <= 100
    kept, marker = result.split("\n")
    assert text.startswith(kept + " ")
    assert MARKER.fullmatch(marker) is not None


def test_non_latin_text_stays_within_budget() -> None:
    text = "配送状況のお知らせ。" * 300

    result, truncated = fit_to_budget(text, 200)

    assert truncated
    assert estimate_tokens(result) <= 200
    assert result.startswith("配送状況のお知らせ。")


def test_budget_too_small_for_marker_raises() -> None:
    with pytest.raises(ValueError, match="max_tokens must be at least 13"):
        fit_to_budget("x" * 1000, 5)
