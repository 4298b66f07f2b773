"""Fixtures for the MIME decoder tests: the public corpus that lives beside the checkout."""

from __future__ import annotations

from pathlib import Path

import pytest

PUBLIC_CORPUS = Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus" / "public"


@pytest.fixture
def parsing_corpus() -> Path:
    if not PUBLIC_CORPUS.is_dir():
        pytest.skip(
            f"public corpus not found at {PUBLIC_CORPUS.resolve()}; it lives beside the checkout"
        )
    return PUBLIC_CORPUS
