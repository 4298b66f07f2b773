"""The outbox file on its own: leases, settlement, budget, accounting, operator actions."""

from __future__ import annotations

import logging
import multiprocessing

import pytest

from mailsift.telemetry.outbox import Outbox
from mailsift.telemetry.outbox.codec import PRIORITY_GENERATION, PRIORITY_STEP

MiB = 1024 * 1024


def _fill(box: Outbox, count: int, *, priority: int = PRIORITY_STEP, size: int = 100) -> list[int]:
    return [box.add("t" * 32, f"{i:016x}", priority, b"x" * size) for i in range(count)]


def test_rows_leave_only_when_acknowledged(tmp_path):
    box = Outbox(tmp_path / "o.db")
    _fill(box, 5)

    leased = box.lease("me", limit=3, lease_s=60)
    box.ack("me", [row.id for row in leased[:2]])
    box.release("me", [leased[2].id], "timed out")

    counts = box.counts()
    assert (counts.emitted, counts.exported, counts.pending) == (5, 2, 3)
    assert counts.balanced


def test_leased_rows_are_not_leased_twice(tmp_path):
    box = Outbox(tmp_path / "o.db")
    _fill(box, 4)

    mine = box.lease("owner-a", limit=10, lease_s=60)
    theirs = box.lease("owner-b", limit=10, lease_s=60)

    assert len(mine) == 4
    assert theirs == []


def test_expired_lease_is_taken_over(tmp_path):
    box = Outbox(tmp_path / "o.db")
    _fill(box, 2)

    box.lease("owner-a", limit=10, lease_s=-1)
    taken = box.lease("owner-b", limit=10, lease_s=60)

    assert len(taken) == 2


def _lease_and_exit(path: str) -> None:
    box = Outbox(__import__("pathlib").Path(path))
    box.lease(
        __import__("mailsift.telemetry.outbox", fromlist=["x"]).new_owner_id(),
        limit=10,
        lease_s=3600,
    )


def test_rows_of_a_dead_process_are_reclaimed(tmp_path):
    box = Outbox(tmp_path / "o.db")
    _fill(box, 3)
    child = multiprocessing.get_context("spawn").Process(
        target=_lease_and_exit, args=(str(tmp_path / "o.db"),)
    )
    child.start()
    child.join(30)

    blocked = box.lease("someone", limit=10, lease_s=60)
    box.release("someone", [row.id for row in blocked], "")
    freed = box.reclaim_dead_leases()
    taken = box.lease("someone", limit=10, lease_s=60)

    assert child.exitcode == 0
    assert len(taken) == 3
    assert freed == 3 or len(blocked) == 3


def test_quarantine_keeps_reason_and_replay_restores_ids(tmp_path):
    box = Outbox(tmp_path / "o.db")
    ids = _fill(box, 2)
    box.lease("me", limit=10, lease_s=60)

    box.quarantine("me", {ids[0]: (400, "400 Invalid request data - bad usage")})
    box.ack("me", [ids[1]])
    quarantined = box.quarantined_rows()
    replayed = box.replay_quarantined()

    assert quarantined[0]["reason"] == "400 Invalid request data - bad usage"
    assert quarantined[0]["status"] == 400
    assert replayed == 1
    assert [row.id for row in box.lease("me", limit=10, lease_s=60)] == [ids[0]]
    assert box.counts().balanced


def test_budget_drops_least_valuable_never_generations(tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    box = Outbox(tmp_path / "o.db", max_bytes=MiB)
    _fill(box, 6, priority=PRIORITY_GENERATION, size=200_000)
    _fill(box, 6, priority=PRIORITY_STEP, size=100_000)

    dropped = box.enforce_budget()

    counts = box.counts()
    assert dropped == 6
    assert counts.dropped == 6
    assert counts.pending == 6
    assert counts.balanced
    assert any("dropped 6 span(s)" in r.getMessage() for r in caplog.records)
    assert any("generations" in r.getMessage() and "kept" in r.getMessage() for r in caplog.records)


def test_purge_counts_as_dropped(tmp_path):
    box = Outbox(tmp_path / "o.db")
    _fill(box, 3)

    deleted = box.purge(quarantined=False)

    counts = box.counts()
    assert deleted == 3
    assert (counts.pending, counts.dropped) == (0, 3)
    assert counts.balanced


def test_row_deleted_behind_the_back_breaks_the_balance(tmp_path):
    box = Outbox(tmp_path / "o.db")
    _fill(box, 3)

    box._connection().execute("DELETE FROM outbox WHERE id = 1")

    assert not box.counts().balanced


def test_budget_below_one_mib_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="at least 1 MiB"):
        Outbox(tmp_path / "o.db", max_bytes=1000)
