"""Free C heap pages go back to the operating system during a run."""

from __future__ import annotations

import asyncio
import sys
import threading
from pathlib import Path

import pytest
from sqlalchemy import Engine

from mailsift.extraction.extractor import Extractor
from mailsift.llm.client import LLMClient, LLMSettings
from mailsift.llm.concurrency import FixedLimit
from mailsift.pipeline import heap
from mailsift.pipeline.runner import Runner, RunOptions
from mailsift.store.repository import Store
from mailsift.testing.llm import LLMServerDouble, TimingModel

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads /proc and the C heap, Linux only"
)


def _anonymous_rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("RssAnon missing from /proc/self/status")


@pytest.mark.skipif(heap._malloc_trim is None, reason="the C library has no malloc_trim")
def test_release_returns_freed_pages():
    # 4 KiB blocks come from the heap, not from mmap. Keeping every 20th one alive stops
    # free() from shrinking the heap, so the freed pages stay resident until trimmed.
    blocks = [bytes(4096) for _ in range(8000)]
    pinned = blocks[::20]
    del blocks
    before = _anonymous_rss_mb()

    released = heap.release_free_heap()

    after = _anonymous_rss_mb()
    assert released is True
    assert len(pinned) == 400
    assert before - after > 10


def test_release_reports_missing_malloc_trim(monkeypatch):
    monkeypatch.setattr(heap, "_malloc_trim", None)

    assert heap.release_free_heap() is False


def test_run_trims_heap_on_database_thread(engine: Engine, tmp_path: Path, monkeypatch):
    mbox = tmp_path / "mail.mbox"
    mbox.write_bytes(
        b"".join(
            b"From sender@example.com Thu Dec  3 10:00:00 2026\n"
            + f"Subject: Order {number} confirmed\nMessage-ID: <o{number}@example.com>\n\n".encode()
            + b"Your order of 2 mugs is confirmed.\n\n"
            for number in range(6)
        )
    )
    threads: list[str] = []

    def record_release() -> bool:
        threads.append(threading.current_thread().name)
        return True

    monkeypatch.setattr(heap, "TRIM_INTERVAL_S", 0.0)
    monkeypatch.setattr(heap, "release_free_heap", record_release)

    async def run(base_url: str) -> int:
        settings = LLMSettings(base_url=base_url, max_attempts=1, read_timeout_s=30)
        async with LLMClient(settings, limit=FixedLimit(2)) as client:
            await client.discover()
            options = RunOptions(sources=[mbox], workers=2)
            summary = await Runner(Store(engine), Extractor(client), options).run()
        return summary.processed

    with LLMServerDouble(timing=TimingModel(decode_step_s=0.001, completion_tokens=4)) as server:
        processed = asyncio.run(run(server.base_url))

    assert processed == 6
    assert threads
    assert all(name.startswith("mailsift-db") for name in threads)
