"""Stages and bounded buffers: a slow LLM server pauses reading, a slow store pauses no request."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

import mailsift.pipeline.runner as runner_module
from mailsift.errors import SourceError
from mailsift.extraction.extractor import ExtractionResult, Extractor
from mailsift.llm.client import LLMClient, LLMSettings
from mailsift.llm.concurrency import FixedLimit
from mailsift.pipeline.runner import READ_BATCH_MESSAGES, Runner, RunOptions
from mailsift.sources import RawMessage, SourceFormat
from mailsift.store.repository import Store
from mailsift.testing.llm import LLMServerDouble, TimingModel


def _write_mbox(path: Path, count: int) -> None:
    with path.open("wb") as handle:
        for number in range(count):
            handle.write(
                b"From sender@example.com Thu Dec  3 10:00:00 2026\n"
                + f"From: Shop <shop@example.com>\nSubject: Order {number} confirmed\n".encode()
                + f"Message-ID: <order-{number}@example.com>\n\n".encode()
                + f"Your order {number} of 2 mugs, 25.00 EUR, is confirmed.\n\n".encode()
            )


class _CountingSource:
    """Wraps `open_source` to count the messages the reader has taken from the source."""

    def __init__(self) -> None:
        self.read = 0
        self._open = runner_module.open_source

    def __call__(
        self, path: Path, source_format: SourceFormat | None = None
    ) -> Iterator[RawMessage]:
        for message in self._open(path, source_format):
            self.read += 1  # only the reader thread writes it
            yield message


def test_slow_server_stops_reading_ahead(engine: Engine, tmp_path: Path, monkeypatch):
    mbox = tmp_path / "mail.mbox"
    _write_mbox(mbox, 2000)
    source = _CountingSource()
    monkeypatch.setattr(runner_module, "open_source", source)
    # Each request takes at least 0.2 s, so two in flight handle about five emails a second.
    timing = TimingModel(decode_step_s=0.05, completion_tokens=4)
    workers = 2
    done = 0
    read_ahead: list[int] = []

    def progressed(count: int) -> None:
        nonlocal done
        done += count

    async def run_for_a_while(base_url: str) -> None:
        settings = LLMSettings(base_url=base_url, max_attempts=1, read_timeout_s=30)
        async with LLMClient(settings, limit=FixedLimit(workers)) as client:
            await client.discover()
            options = RunOptions(sources=[mbox], workers=workers)
            runner = Runner(Store(engine), Extractor(client), options, on_progress=progressed)
            run = asyncio.create_task(runner.run())
            for _ in range(60):
                await asyncio.sleep(0.05)
                read_ahead.append(source.read - done)
            run.cancel()
            with pytest.raises(asyncio.CancelledError):
                await run

    with LLMServerDouble(timing=timing) as server:
        asyncio.run(run_for_a_while(server.base_url))

    # What may be read and not finished: the rest of one read batch, the prepare pool (two
    # per process), the ready queue, the workers, the finished queue and the storer.
    bound = READ_BATCH_MESSAGES + 2 * RunOptions([]).prepare_processes + 3 * workers + 2
    assert done > 0
    assert source.read < 2000
    assert max(read_ahead) <= bound


class _SlowStore(Store):
    """A store whose saves take 0.2 s, noting how many LLM requests were in flight meanwhile."""

    def __init__(self, engine: Engine, server: LLMServerDouble) -> None:
        super().__init__(engine)
        self.server = server
        self.in_flight_during_saves: list[int] = []

    def save_result(self, email_id: int, result: ExtractionResult) -> int:
        in_flight = 0
        for _ in range(20):
            in_flight = max(in_flight, self.server.in_flight)
            threading.Event().wait(0.01)
        self.in_flight_during_saves.append(in_flight)
        return super().save_result(email_id, result)


def test_slow_store_leaves_requests_flowing(engine: Engine, tmp_path: Path):
    mbox = tmp_path / "mail.mbox"
    _write_mbox(mbox, 8)
    timing = TimingModel(decode_step_s=0.01, completion_tokens=4)

    async def run(store: _SlowStore, base_url: str) -> None:
        settings = LLMSettings(base_url=base_url, max_attempts=1, read_timeout_s=30)
        async with LLMClient(settings, limit=FixedLimit(1)) as client:
            await client.discover()
            options = RunOptions(sources=[mbox], workers=1)
            summary = await Runner(store, Extractor(client), options).run()
        assert summary.processed == 8

    with LLMServerDouble(timing=timing) as server:
        store = _SlowStore(engine, server)
        asyncio.run(run(store, server.base_url))

    # One worker: with storing inline, no request could be in flight during a save.
    assert len(store.in_flight_during_saves) == 8
    assert max(store.in_flight_during_saves) == 1


def test_stage_failure_raises_own_error(engine: Engine, tmp_path: Path):
    missing = tmp_path / "no-such-mailbox"

    async def run() -> None:
        settings = LLMSettings(base_url="http://127.0.0.1:9/v1", model="m")
        async with LLMClient(settings) as client:
            options = RunOptions(sources=[missing])
            await Runner(Store(engine), Extractor(client), options).run()

    with pytest.raises(SourceError, match="does not exist"):
        asyncio.run(run())
