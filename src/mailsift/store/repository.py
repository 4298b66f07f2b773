"""Reads and writes of the pipeline, each in its own short transaction.

All methods are synchronous and meant to run on one dedicated writer thread: SQLite takes
one writer at a time, and keeping writes off the event loop means storing a result never
delays the next LLM request.

The three calls made for every email (`claim_email`, `save_result`, `load_context`) use
SQLAlchemy Core statements built once at import, because the ORM's unit of work cost
several times as much per email. The rarer calls keep the ORM.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, Insert, RowMapping, bindparam, insert, select, update
from sqlalchemy.exc import NoResultFound

from mailsift.extraction.extractor import ExtractionResult
from mailsift.llm.records import CallRecord
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
        with self.engine.begin() as connection:
            identity = prepared.identity
            email = _find(connection, ref.account_id, identity)
            if email is not None and email["raw_sha256"] != prepared.raw_sha256:
                identity = f"{identity}#sha256:{prepared.raw_sha256[:16]}"
                email = _find(connection, ref.account_id, identity)
                if email is None:
                    logger.warning(
                        "%s reuses Message-ID %s of another message; stored as %s",
                        message.location,
                        prepared.identity,
                        identity,
                    )

            if email is not None:
                if email["status"] in DONE_STATUSES and not reprocess:
                    return None
                if email["sync_id"] == ref.sync_id and email["status"] == "pending":
                    return None

            values = _email_values(ref, message, prepared, email)
            if email is None:
                values["account_id"] = ref.account_id
                values["external_id"] = identity
                email_id = _insert_returning_id(connection, _INSERT_EMAIL, values)
                connection.execute(_INSERT_RAW, {"email_id": email_id, "raw": message.raw})
                return Claim(email_id=email_id, external_id=identity)

            email_id = email["id"]
            connection.execute(_UPDATE_EMAIL, {**values, "b_email_id": email_id})
            if connection.scalar(_RAW_EXISTS, {"b_email_id": email_id}) is None:
                connection.execute(_INSERT_RAW, {"email_id": email_id, "raw": message.raw})
            return Claim(email_id=email_id, external_id=identity)

    def record_unparsed(
        self, ref: SyncRef, message: RawMessage, identity: str, raw_sha256: str, error: str
    ) -> bool:
        """Store a message that could not be decoded at all; False if it was already stored."""
        with self._sessions.begin() as session:
            email = session.scalar(
                select(Email).where(
                    Email.account_id == ref.account_id, Email.external_id == identity
                )
            )
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
        with self.engine.connect() as connection:
            row = connection.execute(_SELECT_CONTEXT, {"b_email_id": email_id}).one()
        return EmailContext(
            email_id=row.id,
            external_id=row.external_id,
            subject=row.subject,
            sender_domain=row.sender_domain,
            source_location=row.source_location,
            gmail_message_id=row.gmail_message_id,
            gmail_thread_id=row.gmail_thread_id,
            sync_id=row.sync_id,
            sync_source=row.sync_source,
            account_id=row.account_id,
            account_login=row.account_login,
            user_id=row.user_id,
        )

    def save_result(self, email_id: int, result: ExtractionResult) -> int:
        """Store an extraction and its LLM calls, and settle the email's status.

        Raises sqlalchemy.exc.NoResultFound when no email has id `email_id`.
        """
        now = datetime.now(UTC)
        email_type = result.email_type.value if result.email_type else None
        with self.engine.begin() as connection:
            settled = connection.execute(
                _UPDATE_EMAIL,
                {
                    "b_email_id": email_id,
                    "email_type": email_type,
                    "status": "extracted" if result.valid else "failed",
                    "error": result.error,
                    "processed_at": now,
                },
            )
            if settled.rowcount == 0:
                raise NoResultFound(f"email {email_id} not found")

            key = {
                "b_email_id": email_id,
                "b_extractor": result.prompt.name,
                "b_prompt_version": result.prompt.version,
                "b_model": result.model,
            }
            values = {
                "email_type": email_type or "unknown",
                "provenance": result.provenance,
                "gpu_spent": result.gpu_spent,
                "valid": result.valid,
                "fields": result.fields,
                "grounding_flags": result.grounding_flags,
                "repaired": result.repaired,
                "error": result.error,
                "created_at": now,
            }
            extraction_id = connection.scalar(_FIND_EXTRACTION, key)
            if extraction_id is None:
                extraction_id = _insert_returning_id(
                    connection,
                    _INSERT_EXTRACTION,
                    {
                        **values,
                        "email_id": email_id,
                        "extractor": result.prompt.name,
                        "prompt_version": result.prompt.version,
                        "model": result.model,
                    },
                )
            else:
                connection.execute(_UPDATE_EXTRACTION, {**values, "b_extraction_id": extraction_id})

            if result.calls:
                connection.execute(
                    _INSERT_CALL,
                    [
                        _call_values(
                            email_id,
                            extraction_id,
                            call.prompt.name,
                            call.prompt.version,
                            call.record,
                        )
                        for call in result.calls
                    ],
                )
            return int(extraction_id)

    def mark_failed(self, email_id: int, error: str) -> None:
        with self._sessions.begin() as session:
            email = session.get_one(Email, email_id)
            email.status = "failed"
            email.error = error
            email.processed_at = datetime.now(UTC)


def _find(connection: Connection, account_id: int, external_id: str) -> RowMapping | None:
    found = connection.execute(
        _FIND_EMAIL, {"b_account_id": account_id, "b_external_id": external_id}
    )
    return found.mappings().first()


def _insert_returning_id(connection: Connection, statement: Insert, values: dict[str, Any]) -> int:
    key = connection.execute(statement, values).inserted_primary_key
    if key is None:
        raise RuntimeError(f"the database returned no primary key for {statement.table}")
    return int(key[0])


def _email_values(
    ref: SyncRef, message: RawMessage, prepared: PreparedEmail, previous: RowMapping | None
) -> dict[str, Any]:
    """Return the columns a claim writes; Gmail ids already stored survive a source without."""
    return {
        "sync_id": ref.sync_id,
        "raw_sha256": prepared.raw_sha256,
        "size_bytes": prepared.size_bytes,
        "source_location": message.location,
        "message_id": prepared.message_id,
        "gmail_message_id": message.gmail_message_id
        or (previous["gmail_message_id"] if previous is not None else None),
        "gmail_thread_id": message.gmail_thread_id
        or (previous["gmail_thread_id"] if previous is not None else None),
        "subject": prepared.subject,
        "sender": prepared.sender,
        "sender_domain": prepared.sender_domain,
        "sent_at": prepared.sent_at,
        "container": prepared.container,
        "text_chars": len(prepared.body),
        "preheader": prepared.preheader,
        "defects": list(prepared.defects),
        "status": "pending",
        "error": None,
    }


def _call_values(
    email_id: int, extraction_id: int, prompt_name: str, prompt_version: str, record: CallRecord
) -> dict[str, Any]:
    usage = record.usage
    return {
        "email_id": email_id,
        "extraction_id": extraction_id,
        "purpose": record.purpose,
        "prompt_name": prompt_name,
        "prompt_version": prompt_version,
        "request_id": record.request_id,
        "response_id": record.response_id,
        "server_url": record.server_url,
        "model": record.model,
        "status": record.status,
        "http_status": record.http_status,
        "error": record.error,
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
        "cached_tokens": usage.cached_tokens,
        "latency_ms": record.latency_ms,
        "queue_ms": usage.queue_ms,
        "prefill_ms": usage.prefill_ms,
        "decode_ms": usage.decode_ms,
        "server_timings": usage.raw_timings,
        "started_at": record.started_at,
        "finished_at": record.finished_at,
    }


# Statements of the per-email path, built once. Bound parameters that carry a WHERE value
# start with b_, because Core reserves a column's own name for its VALUES or SET parameter.
_FIND_EMAIL = select(
    Email.id,
    Email.raw_sha256,
    Email.status,
    Email.sync_id,
    Email.gmail_message_id,
    Email.gmail_thread_id,
).where(
    Email.account_id == bindparam("b_account_id"),
    Email.external_id == bindparam("b_external_id"),
)
_INSERT_EMAIL = insert(Email)
_UPDATE_EMAIL = update(Email).where(Email.id == bindparam("b_email_id"))
_RAW_EXISTS = select(EmailRaw.email_id).where(EmailRaw.email_id == bindparam("b_email_id"))
_INSERT_RAW = insert(EmailRaw)
_FIND_EXTRACTION = select(Extraction.id).where(
    Extraction.email_id == bindparam("b_email_id"),
    Extraction.extractor == bindparam("b_extractor"),
    Extraction.prompt_version == bindparam("b_prompt_version"),
    Extraction.model == bindparam("b_model"),
)
_INSERT_EXTRACTION = insert(Extraction)
_UPDATE_EXTRACTION = update(Extraction).where(Extraction.id == bindparam("b_extraction_id"))
_INSERT_CALL = insert(LLMCall)
_SELECT_CONTEXT = (
    select(
        Email.id,
        Email.external_id,
        Email.subject,
        Email.sender_domain,
        Email.source_location,
        Email.gmail_message_id,
        Email.gmail_thread_id,
        Sync.id.label("sync_id"),
        Sync.source.label("sync_source"),
        Account.id.label("account_id"),
        Account.login.label("account_login"),
        Account.user_id,
    )
    .join(Sync, Sync.id == Email.sync_id)
    .join(Account, Account.id == Email.account_id)
    .where(Email.id == bindparam("b_email_id"))
)
