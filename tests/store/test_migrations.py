"""The schema is built by Alembic revisions on both supported databases."""

from __future__ import annotations

import os
import uuid

import pytest
from alembic import command
from sqlalchemy import create_engine, inspect, text

from mailsift.store.database import alembic_config, create_db_engine, upgrade

POSTGRES_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
TABLES = {"accounts", "syncs", "emails", "emails_raw", "extractions", "llm_calls"}


@pytest.fixture
def postgres_url():
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    pytest.importorskip("psycopg")
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"mailsift_test_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"PostgreSQL on 127.0.0.1:5432 is not usable: {exc}")
    yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _check_roundtrip(url: str) -> None:
    engine = create_db_engine(url)

    upgrade(engine)
    assert set(inspect(engine).get_table_names()) >= TABLES

    command.check(alembic_config(engine))
    command.downgrade(alembic_config(engine), "base")
    assert not TABLES & set(inspect(engine).get_table_names())

    upgrade(engine)
    assert set(inspect(engine).get_table_names()) >= TABLES
    engine.dispose()


def test_sqlite_upgrade_downgrade_and_no_drift(tmp_path):
    _check_roundtrip(f"sqlite:///{tmp_path / 'm.db'}")


@pytest.mark.postgres
def test_postgres_upgrade_downgrade_and_no_drift(postgres_url):
    _check_roundtrip(postgres_url)
