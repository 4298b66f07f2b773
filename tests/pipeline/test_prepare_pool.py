"""PreparePool: messages prepared several at a time, in order, with a deadline and crash checks."""

from __future__ import annotations

import asyncio
import os
import time

from mailsift.parsing.limits import ParseLimits
from mailsift.pipeline.prepare import PreparedEmail, PreparePool, prepare_message
from mailsift.sources.model import RawMessage


def prepare_or_misbehave(raw: bytes, limits: ParseLimits, max_body_tokens: int) -> PreparedEmail:
    """Prepare normally, but hang on the subject HANG and end the process on CRASH.

    Module level, so that the pool's worker processes can import it by name.
    """
    if b"Subject: HANG" in raw:
        time.sleep(60)
    if b"Subject: CRASH" in raw:
        os._exit(3)
    return prepare_message(raw, limits, max_body_tokens)


def _message(subject: str) -> RawMessage:
    raw = f"Subject: {subject}\r\nMessage-ID: <{subject}@test>\r\n\r\nBody of {subject}.\r\n"
    return RawMessage(raw=raw.encode(), location=subject)


def _prepare_all(subjects: list[str], timeout_s: float = 10.0) -> list[tuple[str, str]]:
    """Run the subjects through a two-process pool; return (location, subject or reason)."""

    async def run() -> list[tuple[str, str]]:
        pool = PreparePool(ParseLimits(timeout_s=timeout_s), 100, 2, prepare_or_misbehave)
        outcomes: list[tuple[str, str]] = []

        async def collect() -> None:
            message, outcome = await pool.next()
            if isinstance(outcome, str):
                outcomes.append((message.location, outcome))
            else:
                outcomes.append((message.location, outcome.subject or ""))

        try:
            for subject in subjects:
                pool.add(_message(subject))
                if pool.full:
                    await collect()
            while pool.pending:
                await collect()
        finally:
            pool.shutdown()
        return outcomes

    return asyncio.run(run())


def test_pool_returns_messages_in_input_order():
    subjects = [f"m{number}" for number in range(12)]

    outcomes = _prepare_all(subjects)

    assert outcomes == [(subject, subject) for subject in subjects]


def test_pool_rejects_hanging_message_at_deadline():
    subjects = ["before", "HANG", "beside", "after"]
    started = time.monotonic()

    outcomes = _prepare_all(subjects, timeout_s=1.5)

    assert time.monotonic() - started < 30
    assert outcomes[0] == ("before", "before")
    assert outcomes[1] == ("HANG", "decoding took longer than 1.5s and was abandoned")
    assert outcomes[2:] == [("beside", "beside"), ("after", "after")]


def test_pool_blames_only_the_crashing_message():
    subjects = ["before", "CRASH", "beside", "after"]

    outcomes = _prepare_all(subjects)

    assert outcomes == [
        ("before", "before"),
        ("CRASH", "the decoding process crashed on this message"),
        ("beside", "beside"),
        ("after", "after"),
    ]
