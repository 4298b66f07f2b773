"""The CPU-bound half of processing one message: decode, harvest markup, HTML to text.

Runs in a worker process so that a message that makes a parser spin can be abandoned at a
deadline without stalling the run; everything it returns is plain data that pickles.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mailsift.errors import MessageRejected
from mailsift.parsing import decode_message, message_identity
from mailsift.parsing.limits import ParseLimits
from mailsift.parsing.model import DecodedEmail
from mailsift.text import fit_to_budget, harvest_schema_org, html_to_text


@dataclass(slots=True)
class StageTiming:
    name: str
    started_at: datetime
    duration_ms: float


@dataclass(slots=True)
class PreparedEmail:
    """A decoded message reduced to what extraction and storage need."""

    identity: str
    raw_sha256: str
    size_bytes: int
    message_id: str | None
    subject: str | None
    sender: str | None
    sender_domain: str | None
    sent_at: datetime | None
    container: str
    preheader: str | None
    body: str
    body_truncated: bool
    markup_items: list[dict[str, Any]]
    defects: list[dict[str, str | None]]
    stages: list[StageTiming] = field(default_factory=list)


def prepare_message(raw: bytes, limits: ParseLimits, max_body_tokens: int) -> PreparedEmail:
    """Decode `raw` and build the LLM-ready text. Raises MessageRejected past a limit."""
    stages: list[StageTiming] = []

    with _stage("decode", stages):
        decoded = decode_message(raw, limits)
        identity = message_identity(decoded)

    markup_items: list[dict[str, Any]] = []
    defects = [{"code": d.code, "detail": d.detail, "part": d.part} for d in decoded.defects]
    if decoded.html:
        with _stage("markup", stages):
            harvest = harvest_schema_org(decoded.html)
            markup_items = harvest.items
            defects.extend(
                {"code": "schema_org_problem", "detail": problem, "part": None}
                for problem in harvest.problems
            )

    with _stage("html_to_text", stages):
        preheader, body = _body_text(decoded)
        body, truncated = fit_to_budget(body, max_body_tokens)

    return PreparedEmail(
        identity=identity,
        raw_sha256=decoded.raw_sha256,
        size_bytes=decoded.size_bytes,
        message_id=decoded.message_id,
        subject=decoded.subject,
        sender=decoded.sender,
        sender_domain=decoded.sender_domain,
        sent_at=decoded.date,
        container=decoded.container,
        preheader=preheader,
        body=body,
        body_truncated=truncated,
        markup_items=markup_items,
        defects=defects,
        stages=stages,
    )


def _body_text(decoded: DecodedEmail) -> tuple[str | None, str]:
    """Return (preheader, text): HTML converted when present, else the plain text."""
    if decoded.html and decoded.html.strip():
        converted = html_to_text(decoded.html)
        if converted.text.strip() or not decoded.text:
            return converted.preheader, converted.text
        return converted.preheader, decoded.text
    return None, (decoded.text or "").strip()


class _stage:
    """Time one step of preparation, in wall-clock UTC for traces and milliseconds."""

    def __init__(self, name: str, stages: list[StageTiming]) -> None:
        self.name = name
        self.stages = stages

    def __enter__(self) -> None:
        self.started_at = datetime.now(UTC)
        self.started = time.perf_counter()

    def __exit__(self, *exc_info: object) -> None:
        duration_ms = (time.perf_counter() - self.started) * 1000
        self.stages.append(StageTiming(self.name, self.started_at, duration_ms))


__all__ = ["MessageRejected", "PreparedEmail", "StageTiming", "prepare_message"]
