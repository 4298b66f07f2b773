"""Harvest of schema.org markup (JSON-LD and microdata) from an HTML mail body.

Airlines, ticket shops, marketplaces and parcel carriers embed the booking or order as
schema.org objects, sometimes with no trace of it in the visible text. HTML-to-text
converters drop script contents, `html_to_text` included, so the markup is read here,
from the raw HTML, before any cleaning.
The markup is asserted by the sender and can be forged: callers should cross-check key
values against the visible text and the sender's authentication.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import Any

from selectolax.lexbor import LexborHTMLParser

from mailsift.text._jsonld import parse_json_leniently
from mailsift.text._microdata import extract_microdata
from mailsift.text._schema_normalize import normalize_top_level

logger = logging.getLogger(__name__)

# Most mail carries no markup at all, and this test spares those messages an HTML parse.
_MARKUP_HINT = re.compile(r"ld\+json|itemscope", re.I)


@dataclass(frozen=True, slots=True)
class MarkupHarvest:
    """schema.org objects found in one HTML body, and what had to be repaired or skipped."""

    items: list[dict[str, Any]]
    """Normalised top-level objects, JSON-LD first, then microdata, exact duplicates removed."""

    problems: list[str]
    """One sentence per repair or skipped block, naming the script or item concerned."""


def harvest_schema_org(html: str) -> MarkupHarvest:
    """Collect the schema.org objects of every JSON-LD script and microdata item in `html`.

    Broken JSON-LD is repaired where a known fault explains the breakage (see
    `_jsonld.parse_json_leniently`). A script that contains microdata HTML instead of JSON
    is read as microdata. Nothing here raises on bad markup: what cannot be used is listed in
    `problems`.
    """
    if _MARKUP_HINT.search(html) is None:
        return MarkupHarvest(items=[], problems=[])

    tree = LexborHTMLParser(html)
    problems: list[str] = []
    items: list[dict[str, Any]] = []

    scripts = [
        script
        for script in tree.css("script")
        if "ld+json" in (script.attributes.get("type") or "").lower()
    ]
    for number, script in enumerate(scripts, start=1):
        items.extend(_harvest_script(script.text(), f"JSON-LD script {number}", problems))

    items.extend(normalize_top_level(extract_microdata(tree, problems), "microdata", problems))

    unique = _drop_duplicates(items)
    if problems:
        # DEBUG, not WARNING, because the problems go back to the caller, which knows the
        # email's id to log them with.
        logger.debug("schema.org harvest: %s", "; ".join(problems))
    return MarkupHarvest(items=unique, problems=problems)


def _harvest_script(text: str, source: str, problems: list[str]) -> list[dict[str, Any]]:
    if not text.strip():
        problems.append(f"{source} skipped: it is empty")
        return []

    parsed = parse_json_leniently(text)
    if parsed.ok:
        if parsed.repairs:
            problems.append(f"{source}: invalid JSON repaired ({', '.join(parsed.repairs)})")
        return normalize_top_level(parsed.value, source, problems)

    # Some senders paste microdata <div>s inside the JSON-LD script.
    if "itemscope" in text:
        problems.append(f"{source} contains microdata HTML instead of JSON; read it as microdata")
        fragment = LexborHTMLParser(text)
        return normalize_top_level(extract_microdata(fragment, problems), source, problems)

    problems.append(f"{source} skipped: invalid JSON that no repair fixed ({parsed.error})")
    return []


def _drop_duplicates(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return `items` without exact repeats, which senders emit when they mark up twice."""
    seen: set[str] = set()
    unique: list[dict[str, Any]] = []
    for item in items:
        key = json.dumps(item, sort_keys=True, default=str)
        if key not in seen:
            seen.add(key)
            unique.append(item)
    return unique
