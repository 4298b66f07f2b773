"""The durable outbox: a SQLite file (WAL) holding every span until the server accepts it.

Rows move through three places:
    outbox      waiting to be sent, or leased by one shipper while it sends them
    quarantine  rejected by the server for good, with the server's reason; never retried
                unless an operator replays them after a fix
    (deleted)   accepted by the server (counted as exported), or dropped to stay within
                the byte budget or purged by an operator (counted as dropped)

Accounting: `emitted` is the highest row id ever issued (AUTOINCREMENT never reuses one),
and every emitted span is in exactly one of exported, pending, quarantined or dropped. The
health check verifies that sum continuously, so a span lost by a bug is reported.

Leases make the outbox safe for several processes and for forks: a shipper claims rows
under its own owner id until `lease_until`; rows of a dead owner (its pid is gone on this
host, or its lease expired) are claimed again, so a crash mid-export resends them once.
"""

from __future__ import annotations

import logging
import os
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    trace_id TEXT NOT NULL,
    span_id TEXT NOT NULL,
    priority INTEGER NOT NULL,
    created_at REAL NOT NULL,
    size_bytes INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_until REAL,
    last_error TEXT,
    payload BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_by_priority ON outbox (priority, id);
CREATE INDEX IF NOT EXISTS outbox_by_owner ON outbox (lease_owner);
CREATE TABLE IF NOT EXISTS quarantine (
    id INTEGER PRIMARY KEY,
    trace_id TEXT NOT NULL,
    span_id TEXT NOT NULL,
    priority INTEGER NOT NULL,
    created_at REAL NOT NULL,
    size_bytes INTEGER NOT NULL,
    quarantined_at REAL NOT NULL,
    status INTEGER,
    reason TEXT NOT NULL,
    payload BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS state (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

COUNTER_NAMES = ("exported", "dropped", "retried", "truncated")


@dataclass(frozen=True, slots=True)
class LeasedRow:
    id: int
    trace_id: str
    span_id: str
    attempts: int
    payload: bytes


@dataclass(frozen=True, slots=True)
class OutboxCounts:
    emitted: int
    exported: int
    pending: int
    pending_bytes: int
    oldest_pending_age_s: float | None
    quarantined: int
    dropped: int
    retried: int
    truncated: int

    @property
    def balanced(self) -> bool:
        return self.emitted == self.exported + self.pending + self.quarantined + self.dropped


def new_owner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Outbox:
    """Thread-safe access to the outbox file; each thread gets its own connection."""

    def __init__(self, path: Path, *, max_bytes: int = 256 * 1024 * 1024) -> None:
        if max_bytes < 1024 * 1024:
            raise ValueError(f"outbox max_bytes must be at least 1 MiB, got {max_bytes}")
        self.path = path
        self.max_bytes = max_bytes
        self._local = threading.local()
        self._pid = os.getpid()
        self._last_over_budget_mib = 0
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connection() as connection:
            connection.executescript(SCHEMA)
            for name in COUNTER_NAMES:
                connection.execute(
                    "INSERT OR IGNORE INTO counters (name, value) VALUES (?, 0)", (name,)
                )

    def _connection(self) -> sqlite3.Connection:
        # A connection must not cross a fork: the child opens its own.
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None or getattr(self._local, "pid", None) != os.getpid():
            connection = sqlite3.connect(
                self.path, timeout=30, isolation_level=None, check_same_thread=False
            )
            connection.execute("PRAGMA journal_mode=WAL")
            # NORMAL: a committed row survives a killed process; only a power cut in the
            # last moments could lose it, which costs far less than an fsync per span.
            connection.execute("PRAGMA synchronous=NORMAL")
            self._local.connection = connection
            self._local.pid = os.getpid()
        return connection

    # Writes from the hot path

    def add(self, trace_id: str, span_id: str, priority: int, payload: bytes) -> int:
        """Store one span durably and return its row id; one small transaction."""
        cursor = self._connection().execute(
            "INSERT INTO outbox (trace_id, span_id, priority, created_at, size_bytes, payload) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (trace_id, span_id, priority, time.time(), len(payload), payload),
        )
        return int(cursor.lastrowid or 0)

    def count_truncation(self, count: int = 1) -> None:
        self._bump("truncated", count)

    # Shipping

    def lease(self, owner: str, *, limit: int, lease_s: float) -> list[LeasedRow]:
        """Claim up to `limit` free rows (oldest first) for `owner` until now + lease_s."""
        now = time.time()
        connection = self._connection()
        with _transaction(connection):
            owners = [
                row[0]
                for row in connection.execute(
                    "SELECT DISTINCT lease_owner FROM outbox WHERE lease_owner IS NOT NULL"
                )
            ]
            takeable = [owner, *(other for other in owners if _owner_gone(other))]
            marks = ",".join("?" * len(takeable))
            claimed = connection.execute(
                "SELECT id, trace_id, span_id, attempts, payload FROM outbox "
                f"WHERE lease_owner IS NULL OR lease_until < ? OR lease_owner IN ({marks}) "
                "ORDER BY id LIMIT ?",
                (now, *takeable, limit),
            ).fetchall()
            connection.executemany(
                "UPDATE outbox SET lease_owner = ?, lease_until = ? WHERE id = ?",
                [(owner, now + lease_s, row[0]) for row in claimed],
            )
        return [LeasedRow(row[0], row[1], row[2], row[3], row[4]) for row in claimed]

    def reclaim_dead_leases(self) -> int:
        """Free rows leased by processes that no longer exist on this host."""
        connection = self._connection()
        owners = [
            row[0]
            for row in connection.execute(
                "SELECT DISTINCT lease_owner FROM outbox WHERE lease_owner IS NOT NULL"
            )
        ]
        dead = [owner for owner in owners if _owner_gone(owner)]
        freed = 0
        for owner in dead:
            cursor = connection.execute(
                "UPDATE outbox SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = ?",
                (owner,),
            )
            freed += cursor.rowcount
        if freed:
            logger.info(
                "telemetry outbox: %d span(s) leased by a stopped process will be sent", freed
            )
        return freed

    def ack(self, owner: str, ids: Iterable[int]) -> int:
        """Delete rows the server accepted and count them as exported."""
        id_list = list(ids)
        if not id_list:
            return 0
        connection = self._connection()
        with _transaction(connection):
            deleted = _delete_owned(connection, owner, id_list)
            _add_counter(connection, "exported", deleted)
        return deleted

    def quarantine(self, owner: str, rejections: Mapping[int, tuple[int | None, str]]) -> int:
        """Move rows the server rejected for good to the quarantine table with the reason."""
        if not rejections:
            return 0
        now = time.time()
        connection = self._connection()
        moved = 0
        with _transaction(connection):
            for row_id, (status, reason) in rejections.items():
                cursor = connection.execute(
                    "INSERT INTO quarantine (id, trace_id, span_id, priority, created_at, "
                    "size_bytes, quarantined_at, status, reason, payload) "
                    "SELECT id, trace_id, span_id, priority, created_at, size_bytes, ?, ?, ?, "
                    "payload FROM outbox WHERE id = ? AND lease_owner = ?",
                    (now, status, reason[:2000], row_id, owner),
                )
                if cursor.rowcount:
                    connection.execute("DELETE FROM outbox WHERE id = ?", (row_id,))
                    moved += 1
        return moved

    def release(self, owner: str, ids: Iterable[int], error: str) -> None:
        """Give leased rows back after a failed attempt; they stay pending for a retry."""
        connection = self._connection()
        with _transaction(connection):
            connection.executemany(
                "UPDATE outbox SET lease_owner = NULL, lease_until = NULL, "
                "attempts = attempts + 1, last_error = ? WHERE id = ? AND lease_owner = ?",
                [(error[:2000], row_id, owner) for row_id in ids],
            )

    def count_retry(self) -> None:
        self._bump("retried", 1)

    # Budget

    def enforce_budget(self) -> int:
        """Drop the least valuable pending spans (never generations) until under budget."""
        connection = self._connection()
        total = self.pending_bytes()
        if total <= self.max_bytes:
            return 0
        from mailsift.telemetry.outbox.codec import PRIORITY_GENERATION

        dropped = 0
        with _transaction(connection):
            candidates = connection.execute(
                "SELECT id, size_bytes FROM outbox WHERE priority < ? AND lease_owner IS NULL "
                "ORDER BY priority, id",
                (PRIORITY_GENERATION,),
            )
            victims: list[int] = []
            for row_id, size in candidates:
                if total <= self.max_bytes:
                    break
                victims.append(row_id)
                total -= size
            connection.executemany("DELETE FROM outbox WHERE id = ?", [(v,) for v in victims])
            dropped = len(victims)
            _add_counter(connection, "dropped", dropped)
        if dropped:
            logger.warning(
                "telemetry outbox over its %d MiB budget: dropped %d span(s) of the least "
                "valuable kinds (generations are kept)",
                self.max_bytes // (1024 * 1024),
                dropped,
            )
        over_mib = total // (1024 * 1024)
        if total > self.max_bytes and over_mib >= 2 * self._last_over_budget_mib:
            # Logged again only when the backlog doubles, not on every check.
            logger.warning(
                "telemetry outbox contains %d MiB of generations, over its %d MiB budget; "
                "they are kept",
                over_mib,
                self.max_bytes // (1024 * 1024),
            )
            self._last_over_budget_mib = max(1, over_mib)
        return dropped

    # Operator actions

    def replay_quarantined(self) -> int:
        """Move every quarantined span back to the outbox, keeping its id."""
        connection = self._connection()
        with _transaction(connection):
            cursor = connection.execute(
                "INSERT INTO outbox (id, trace_id, span_id, priority, created_at, size_bytes, "
                "payload) SELECT id, trace_id, span_id, priority, created_at, size_bytes, payload "
                "FROM quarantine"
            )
            moved = cursor.rowcount
            connection.execute("DELETE FROM quarantine")
        return moved

    def release_all_leases(self) -> int:
        cursor = self._connection().execute(
            "UPDATE outbox SET lease_owner = NULL, lease_until = NULL WHERE lease_owner IS NOT NULL"
        )
        return cursor.rowcount

    def purge(self, *, quarantined: bool) -> int:
        """Delete pending (or quarantined) spans for good; they count as dropped."""
        table = "quarantine" if quarantined else "outbox"
        connection = self._connection()
        with _transaction(connection):
            deleted = connection.execute(f"DELETE FROM {table}").rowcount
            _add_counter(connection, "dropped", deleted)
        return deleted

    # Reading

    def pending_bytes(self) -> int:
        row = self._connection().execute("SELECT COALESCE(SUM(size_bytes), 0) FROM outbox")
        return int(row.fetchone()[0])

    def counts(self) -> OutboxCounts:
        connection = self._connection()
        with _transaction(connection):
            counters = dict(connection.execute("SELECT name, value FROM counters"))
            sequence = connection.execute(
                "SELECT seq FROM sqlite_sequence WHERE name = 'outbox'"
            ).fetchone()
            pending, pending_bytes, oldest = connection.execute(
                "SELECT COUNT(*), COALESCE(SUM(size_bytes), 0), MIN(created_at) FROM outbox"
            ).fetchone()
            quarantined = connection.execute("SELECT COUNT(*) FROM quarantine").fetchone()[0]
        return OutboxCounts(
            emitted=int(sequence[0]) if sequence else 0,
            exported=int(counters.get("exported", 0)),
            pending=int(pending),
            pending_bytes=int(pending_bytes),
            oldest_pending_age_s=(time.time() - oldest) if oldest is not None else None,
            quarantined=int(quarantined),
            dropped=int(counters.get("dropped", 0)),
            retried=int(counters.get("retried", 0)),
            truncated=int(counters.get("truncated", 0)),
        )

    def quarantined_rows(self, limit: int = 50) -> list[dict[str, Any]]:
        rows = self._connection().execute(
            "SELECT id, trace_id, span_id, quarantined_at, status, reason FROM quarantine "
            "ORDER BY id DESC LIMIT ?",
            (limit,),
        )
        keys = ("id", "trace_id", "span_id", "quarantined_at", "status", "reason")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def set_state(self, name: str, value: str) -> None:
        self._connection().execute(
            "INSERT INTO state (name, value) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (name, value),
        )

    def state(self) -> dict[str, str]:
        return dict(self._connection().execute("SELECT name, value FROM state"))

    def close(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None and getattr(self._local, "pid", None) == os.getpid():
            connection.close()
        self._local = threading.local()

    def _bump(self, name: str, count: int) -> None:
        _add_counter(self._connection(), name, count)


class _transaction:
    """BEGIN IMMEDIATE ... COMMIT, so concurrent shippers never lease the same row."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self.connection = connection

    def __enter__(self) -> sqlite3.Connection:
        self.connection.execute("BEGIN IMMEDIATE")
        return self.connection

    def __exit__(self, exc_type: object, *_: object) -> None:
        self.connection.execute("ROLLBACK" if exc_type else "COMMIT")


def _add_counter(connection: sqlite3.Connection, name: str, count: int) -> None:
    if count:
        connection.execute("UPDATE counters SET value = value + ? WHERE name = ?", (count, name))


def _delete_owned(connection: sqlite3.Connection, owner: str, ids: list[int]) -> int:
    deleted = 0
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        cursor = connection.execute(
            f"DELETE FROM outbox WHERE lease_owner = ? AND id IN ({marks})", (owner, *chunk)
        )
        deleted += cursor.rowcount
    return deleted


def _owner_gone(owner: str) -> bool:
    """True when `owner` names a process on this host that no longer runs."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
