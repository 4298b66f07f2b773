"""Reads and writes of the pipeline, each in its own short transaction.

All methods are synchronous and meant to run on one dedicated writer thread: SQLite takes
one writer at a time, and keeping writes off the event loop means storing a result never
delays the next LLM request.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, joinedload

from mailsift.extraction.extractor import ExtractionResult
from mailsift.pipeline.prepare import PreparedEmail
from mailsift.sources.model import RawMessage
from mailsift.store.database import session_factory
from mailsift.store.tables import (
    Account,
    Email,
    EmailRaw,
    Extraction,
    LLMCall,
    Sync,
)

logger = logging.getLogger(__name__)

DONE_STATUSES = frozenset({"extracted", "rejected"})
"""Emails in these states are skipped by a rerun unless reprocessing is forced."""


@dataclass(frozen=True, slots=True)
class SyncRef:
    sync_id: int
    account_id: int


@dataclass(frozen=True, slots=True)
class Claim:
    email_id: int
    external_id: str


@dataclass(frozen=True, slots=True)
class EmailContext:
    """An email with its sync and account: everything a step or a trace needs to name it."""

    email_id: int
    external_id: str
    subject: str | None
    sender_domain: str | None
    source_location: str
    gmail_message_id: str | None
    gmail_thread_id: str | None
    sync_id: int
    sync_source: str
    account_id: int
    account_login: str
    user_id: str | None


class Store:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = session_factory(engine)

    def open_sync(self, *, kind: str, login: str, source: str, source_format: str) -> SyncRef:
        with self._sessions.begin() as session:
            account = session.scalar(
                select(Account).where(
                    Account.kind == kind, Account.host == "", Account.login == login
                )
            )
            if account is None:
                account = Account(kind=kind, host="", login=login)
                session.add(account)
                session.flush()
            sync = Sync(account_id=account.id, source=source, source_format=source_format)
            session.add(sync)
            session.flush()
            return SyncRef(sync_id=sync.id, account_id=account.id)

    def finish_sync(self, ref: SyncRef, *, messages_seen: int, error: str | None) -> None:
        with self._sessions.begin() as session:
            sync = session.get_one(Sync, ref.sync_id)
            sync.finished_at = datetime.now(UTC)
            sync.messages_seen = messages_seen
            sync.status = "failed" if error else "ok"
            sync.error = error

    def claim_email(
        self, ref: SyncRef, message: RawMessage, prepared: PreparedEmail, *, reprocess: bool
    ) -> Claim | None:
        """Insert or refresh the email row; return None when there is nothing to do.

        Nothing to do: the email is already done (unless reprocessing), or the same bytes
        were already claimed earlier in this sync (a duplicate file). A Message-ID already
        stored for different bytes is a reused or forged id: the newcomer gets its own
        identity with a hash suffix instead of overwriting the other message.
        """
        with self._sessions.begin() as session:
            identity = prepared.identity
            email = self._find(session, ref.account_id, identity)
            if email is not None and email.raw_sha256 != prepared.raw_sha256:
                identity = f"{identity}#sha256:{prepared.raw_sha256[:16]}"
                email = self._find(session, ref.account_id, identity)
                if email is None:
                    logger.warning(
                        "%s reuses Message-ID %s of another message; stored as %s",
                        message.location,
                        prepared.identity,
                        identity,
                    )

            if email is not None:
                if email.status in DONE_STATUSES and not reprocess:
                    return None
                if email.sync_id == ref.sync_id and email.status == "pending":
                    return None

            if email is None:
                email = Email(account_id=ref.account_id, external_id=identity)
                session.add(email)
            _fill_email(email, ref, message, prepared)
            session.flush()
            if session.get(EmailRaw, email.id) is None:
                session.add(EmailRaw(email_id=email.id, raw=message.raw))
            return Claim(email_id=email.id, external_id=identity)

    def record_unparsed(
        self, ref: SyncRef, message: RawMessage, identity: str, raw_sha256: str, error: str
    ) -> bool:
        """Store a message that could not be decoded at all; False if it was already stored."""
        with self._sessions.begin() as session:
            email = self._find(session, ref.account_id, identity)
            if email is not None and email.status in DONE_STATUSES:
                return False
            if email is None:
                email = Email(account_id=ref.account_id, external_id=identity)
                session.add(email)
            email.sync_id = ref.sync_id
            email.raw_sha256 = raw_sha256
            email.size_bytes = len(message.raw)
            email.source_location = message.location
            email.status = "rejected"
            email.error = error
            email.processed_at = datetime.now(UTC)
            session.flush()
            if session.get(EmailRaw, email.id) is None:
                session.add(EmailRaw(email_id=email.id, raw=message.raw))
            return True

    def load_context(self, email_id: int) -> EmailContext:
        """Load an email with its sync and account in one query."""
        with self._sessions() as session:
            email = session.scalars(
                select(Email)
                .where(Email.id == email_id)
                .options(joinedload(Email.sync), joinedload(Email.account))
            ).one()
            return EmailContext(
                email_id=email.id,
                external_id=email.external_id,
                subject=email.subject,
                sender_domain=email.sender_domain,
                source_location=email.source_location,
                gmail_message_id=email.gmail_message_id,
                gmail_thread_id=email.gmail_thread_id,
                sync_id=email.sync.id,
                sync_source=email.sync.source,
                account_id=email.account.id,
                account_login=email.account.login,
                user_id=email.account.user_id,
            )

    def save_result(self, email_id: int, result: ExtractionResult) -> int:
        """Store an extraction and its LLM calls, and settle the email's status."""
        with self._sessions.begin() as session:
            email = session.get_one(Email, email_id)
            extraction = session.scalar(
                select(Extraction).where(
                    Extraction.email_id == email_id,
                    Extraction.extractor == result.prompt.name,
                    Extraction.prompt_version == result.prompt.version,
                    Extraction.model == result.model,
                )
            )
            if extraction is None:
                extraction = Extraction(
                    email_id=email_id,
                    extractor=result.prompt.name,
                    prompt_version=result.prompt.version,
                    model=result.model,
                )
                session.add(extraction)
            extraction.email_type = result.email_type.value if result.email_type else "unknown"
            extraction.provenance = result.provenance
            extraction.gpu_spent = result.gpu_spent
            extraction.valid = result.valid
            extraction.fields = result.fields
            extraction.grounding_flags = result.grounding_flags
            extraction.repaired = result.repaired
            extraction.error = result.error
            extraction.created_at = datetime.now(UTC)
            session.flush()

            for call in result.calls:
                session.add(
                    _call_row(
                        email_id, extraction.id, call.prompt.name, call.prompt.version, call.record
                    )
                )

            email.email_type = extraction.email_type if result.email_type else None
            email.status = "extracted" if result.valid else "failed"
            email.error = result.error
            email.processed_at = datetime.now(UTC)
            return extraction.id

    def mark_failed(self, email_id: int, error: str) -> None:
        with self._sessions.begin() as session:
            email = session.get_one(Email, email_id)
            email.status = "failed"
            email.error = error
            email.processed_at = datetime.now(UTC)

    @staticmethod
    def _find(session: Session, account_id: int, external_id: str) -> Email | None:
        return session.scalar(
            select(Email).where(Email.account_id == account_id, Email.external_id == external_id)
        )


def _fill_email(email: Email, ref: SyncRef, message: RawMessage, prepared: PreparedEmail) -> None:
    email.sync_id = ref.sync_id
    email.raw_sha256 = prepared.raw_sha256
    email.size_bytes = prepared.size_bytes
    email.source_location = message.location
    email.message_id = prepared.message_id
    email.gmail_message_id = message.gmail_message_id or email.gmail_message_id
    email.gmail_thread_id = message.gmail_thread_id or email.gmail_thread_id
    email.subject = prepared.subject
    email.sender = prepared.sender
    email.sender_domain = prepared.sender_domain
    email.sent_at = prepared.sent_at
    email.container = prepared.container
    email.text_chars = len(prepared.body)
    email.preheader = prepared.preheader
    email.defects = list(prepared.defects)
    email.status = "pending"
    email.error = None


def _call_row(
    email_id: int, extraction_id: int, prompt_name: str, prompt_version: str, record: Any
) -> LLMCall:
    usage = record.usage
    return LLMCall(
        email_id=email_id,
        extraction_id=extraction_id,
        purpose=record.purpose,
        prompt_name=prompt_name,
        prompt_version=prompt_version,
        request_id=record.request_id,
        response_id=record.response_id,
        server_url=record.server_url,
        model=record.model,
        status=record.status,
        http_status=record.http_status,
        error=record.error,
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        total_tokens=usage.total_tokens,
        cached_tokens=usage.cached_tokens,
        latency_ms=record.latency_ms,
        queue_ms=usage.queue_ms,
        prefill_ms=usage.prefill_ms,
        decode_ms=usage.decode_ms,
        server_timings=usage.raw_timings,
        started_at=record.started_at,
        finished_at=record.finished_at,
    )
