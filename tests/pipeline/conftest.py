"""Run the pipeline in-process against the LLM server double and a temporary SQLite file."""

from __future__ import annotations

import asyncio
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

RunPipeline = Callable[..., RunSummary]


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'mailsift.db'}")
    upgrade(engine)
    return engine


@pytest.fixture
def run_pipeline(engine: Engine) -> RunPipeline:
    """Return a function that runs the pipeline over sources against an LLM base URL."""

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
