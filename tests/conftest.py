"""Shared fixtures: a clean environment, and the pipeline run in-process on SQLite."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Engine

from mailsift.extraction.extractor import Extractor
from mailsift.llm.client import LLMClient, LLMSettings
from mailsift.llm.concurrency import FixedLimit
from mailsift.pipeline.runner import Runner, RunOptions
from mailsift.pipeline.summary import RunSummary
from mailsift.store.database import create_db_engine, upgrade
from mailsift.store.repository import Store

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


RunPipeline = Callable[..., RunSummary]


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'mailsift.db'}")
    upgrade(engine)
    return engine


def make_run_pipeline(engine: Engine) -> RunPipeline:
    """Build a function that runs the pipeline over sources against an LLM base URL."""

    def run(
        sources: list[Path],
        base_url: str,
        *,
        concurrency: int = 4,
        reprocess: bool = False,
        max_attempts: int = 1,
        telemetry: object = None,
    ) -> RunSummary:
        async def go() -> RunSummary:
            settings = LLMSettings(base_url=base_url, max_attempts=max_attempts, read_timeout_s=30)
            async with LLMClient(settings, limit=FixedLimit(concurrency)) as client:
                await client.discover()
                options = RunOptions(sources=sources, reprocess=reprocess, workers=concurrency)
                runner = Runner(Store(engine), Extractor(client), options, telemetry=telemetry)  # type: ignore[arg-type]
                return await runner.run()

        return asyncio.run(go())

    return run


@pytest.fixture
def run_pipeline(engine: Engine) -> RunPipeline:
    return make_run_pipeline(engine)
