"""Export stored results: one record per email, as JSON Lines or CSV."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from typing import Any, TextIO

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from mailsift.store.tables import Email, Extraction, LLMCall

CSV_COLUMNS = [
    "email_id",
    "external_id",
    "source_location",
    "status",
    "email_type",
    "subject",
    "sender",
    "sent_at",
    "provenance",
    "valid",
    "prompt_name",
    "prompt_version",
    "model",
    "prompt_tokens",
    "completion_tokens",
    "grounding_flags",
    "error",
    "fields",
]


def iter_records(engine: Engine) -> Iterator[dict[str, Any]]:
    """Yield one record per email with its latest extraction and summed token counts."""
    tokens = (
        select(
            LLMCall.email_id,
            func.sum(LLMCall.prompt_tokens).label("prompt_tokens"),
            func.sum(LLMCall.completion_tokens).label("completion_tokens"),
        )
        .group_by(LLMCall.email_id)
        .subquery()
    )
    latest = (
        select(Extraction.email_id, func.max(Extraction.id).label("extraction_id"))
        .group_by(Extraction.email_id)
        .subquery()
    )
    query = (
        select(Email, Extraction, tokens.c.prompt_tokens, tokens.c.completion_tokens)
        .outerjoin(latest, latest.c.email_id == Email.id)
        .outerjoin(Extraction, Extraction.id == latest.c.extraction_id)
        .outerjoin(tokens, tokens.c.email_id == Email.id)
        .order_by(Email.id)
    )
    with Session(engine) as session:
        for email, extraction, prompt_tokens, completion_tokens in session.execute(query):
            yield {
                "email_id": email.id,
                "external_id": email.external_id,
                "source_location": email.source_location,
                "status": email.status,
                "email_type": email.email_type,
                "subject": email.subject,
                "sender": email.sender,
                "sent_at": email.sent_at.isoformat() if email.sent_at else None,
                "provenance": extraction.provenance if extraction else None,
                "valid": extraction.valid if extraction else None,
                "prompt_name": extraction.extractor if extraction else None,
                "prompt_version": extraction.prompt_version if extraction else None,
                "model": extraction.model if extraction else None,
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "grounding_flags": extraction.grounding_flags if extraction else [],
                "error": email.error,
                "fields": extraction.fields if extraction else None,
            }


def write_jsonl(records: Iterator[dict[str, Any]], out: TextIO) -> int:
    count = 0
    for record in records:
        out.write(json.dumps(record, ensure_ascii=False, default=str))
        out.write("\n")
        count += 1
    return count


def write_csv(records: Iterator[dict[str, Any]], out: TextIO) -> int:
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS)
    writer.writeheader()
    count = 0
    for record in records:
        # Nested values go into one JSON-encoded cell each, so the CSV stays rectangular.
        row = {
            key: json.dumps(value, ensure_ascii=False, default=str)
            if isinstance(value, dict | list)
            else value
            for key, value in record.items()
        }
        writer.writerow(row)
        count += 1
    return count
