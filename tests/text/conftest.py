"""Fixtures for the text tests: the public corpus and the HTML bodies decoded from it."""

from __future__ import annotations

import email
import email.message
import email.policy
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
PUBLIC_CORPUS = SHARED / "corpus" / "public"
KITINERARY = PUBLIC_CORPUS / "extras" / "kitinerary"


@pytest.fixture
def public_corpus() -> Path:
    if not PUBLIC_CORPUS.is_dir():
        pytest.skip(f"public corpus not found at {PUBLIC_CORPUS}; it lives beside the checkout")
    return PUBLIC_CORPUS


@pytest.fixture
def kitinerary(public_corpus: Path) -> Path:
    if not KITINERARY.is_dir():
        pytest.skip(f"KItinerary extras not found at {KITINERARY}")
    return KITINERARY


@pytest.fixture
def corpus_html_bodies(public_corpus: Path) -> dict[str, str]:
    """Return every text/html part of the corpus messages, keyed by `file#part-number`.

    The decoding is deliberately plain (declared charset, else UTF-8, with replacement
    characters) because these tests are about HTML handling, not charset repair.
    """
    bodies: dict[str, str] = {}
    for path in sorted(public_corpus.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        number = 0
        for part in message.walk():
            if part.get_content_type() != "text/html":
                continue
            number += 1
            bodies[f"{path.name}#{number}"] = decode_part(part)
    return bodies


def decode_part(part: email.message.Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, "replace")
    except LookupError:
        return payload.decode("utf-8", "replace")
