"""Shared fixtures: a clean environment and data directory for every test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SAMPLES = REPO_ROOT / "samples"
SHARED = REPO_ROOT.parent / "shared"
CORPUS = SHARED / "corpus" / "public"

_PREFIXES = ("MAILSIFT_", "LANGFUSE_", "OPENAI_")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Drop mailsift's settings from the environment and point data at a temp folder."""
    for name in list(os.environ):
        if name.startswith(_PREFIXES):
            monkeypatch.delenv(name)
    monkeypatch.setenv("MAILSIFT_DATA_DIR", str(tmp_path / "data"))


@pytest.fixture
def corpus() -> Path:
    if not CORPUS.is_dir():
        pytest.skip(f"public corpus not found at {CORPUS}; it lives beside the checkout")
    return CORPUS
