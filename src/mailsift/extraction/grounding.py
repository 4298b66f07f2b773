"""Flag extracted identifiers and amounts that do not occur in the email's own text.

A constrained decoder guarantees the shape of the answer, not its truth: small models copy
an order number with a digit changed or invent a total. Anything flagged here is kept but
marked, so a consumer can decide whether to trust it.
"""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal, InvalidOperation
from typing import Any

IDENTIFIER_FIELDS = frozenset(
    {"order_id", "tracking_number", "invoice_number", "reference", "code"}
)
AMOUNT_FIELDS = frozenset({"total", "tax", "unit_price"})

_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)
_SEPARATORS = re.compile(r"[\s\-]")


def normalise_source(text: str) -> str:
    """Fold the source text the way identifiers are compared: NFKC, no invisible chars."""
    folded = unicodedata.normalize("NFKC", text).translate(_INVISIBLE)
    return folded.replace("\u00a0", " ").casefold()


def check_grounding(fields: dict[str, Any], source: str) -> list[dict[str, str]]:
    """Return one flag per identifier or amount in `fields` that `source` does not contain."""
    haystack = normalise_source(source)
    compact = _SEPARATORS.sub("", haystack)
    flags: list[dict[str, str]] = []
    for path, key, value in _walk(fields, ""):
        if value is None or value == "":
            continue
        if key in IDENTIFIER_FIELDS:
            found = _identifier_found(str(value), haystack, compact)
        elif key in AMOUNT_FIELDS:
            found = _amount_found(value, haystack)
        else:
            continue
        if not found:
            flags.append({"field": path, "value": str(value), "reason": "not in source text"})
    return flags


def _walk(value: Any, prefix: str) -> list[tuple[str, str, Any]]:
    found: list[tuple[str, str, Any]] = []
    if isinstance(value, dict):
        for key, item in value.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(item, dict | list):
                found.extend(_walk(item, path))
            else:
                found.append((path, str(key), item))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(_walk(item, f"{prefix}[{index}]"))
    return found


def _identifier_found(value: str, haystack: str, compact: str) -> bool:
    needle = normalise_source(value).strip()
    if needle in haystack:
        return True
    # "1Z 999 AA1" in the text and "1Z999AA1" in the answer are the same tracking number.
    return _SEPARATORS.sub("", needle) in compact


def _amount_found(value: Any, haystack: str) -> bool:
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return False
    for form in _amount_forms(amount):
        # Digits around the match would make "5" match inside "1500" or "5.99".
        pattern = rf"(?<![\d.,]){re.escape(form)}(?!\d|[.,]\d)"
        if re.search(pattern, haystack):
            return True
    return False


def _amount_forms(amount: Decimal) -> set[str]:
    """Spellings of an amount as mails print it: 1234.5 -> 1234.50, 1,234.50, 1.234,50."""
    two = f"{amount:.2f}"
    whole, _, cents = two.partition(".")
    grouped = f"{int(whole):,}" if whole.lstrip("-").isdigit() else whole
    forms = {
        two,
        f"{whole},{cents}",
        f"{grouped}.{cents}",
        grouped.replace(",", ".") + f",{cents}",
        grouped.replace(",", " ") + f",{cents}",
    }
    if cents == "00":
        forms.update({whole, grouped})
    normalised = amount.normalize()
    if normalised == normalised.to_integral():
        forms.add(str(int(normalised)))
    else:
        forms.add(format(normalised, "f"))
    return forms
