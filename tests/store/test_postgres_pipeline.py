"""The whole pipeline on PostgreSQL, the database for running at scale."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailsift.store.database import create_db_engine, upgrade
from mailsift.store.tables import Email, Extraction, LLMCall

from ..conftest import make_run_pipeline
from .test_migrations import postgres_url  # noqa: F401  (fixture)

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


@pytest.mark.postgres
def test_samples_on_postgres_then_rerun_skips(postgres_url, llm_server_double):  # noqa: F811
    engine = create_db_engine(postgres_url)
    upgrade(engine)
    run = make_run_pipeline(engine)

    first = run([SAMPLES], llm_server_double.base_url)
    second = run([SAMPLES], llm_server_double.base_url)

    count = len(list(SAMPLES.glob("*.eml")))
    with Session(engine) as session:
        emails = session.scalar(select(func.count()).select_from(Email))
        extractions = session.scalar(select(func.count()).select_from(Extraction))
        calls = session.scalar(select(func.count()).select_from(LLMCall))
        sent_at = session.scalars(select(Email.sent_at).where(Email.sent_at.is_not(None))).first()
    engine.dispose()
    assert first.processed == count and first.failed == 0
    assert second.skipped == count
    assert emails == extractions == count
    assert calls == 2 * (count - 1)
    assert sent_at is not None and sent_at.utcoffset() is not None
