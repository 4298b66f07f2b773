"""Turn one processed email into an OpenTelemetry trace, after the fact.

The pipeline records when each step started and how long it took; this module replays
those records as spans with their real start and end times. Building the trace in one
place, from the context the store loaded, means every span carries the same user, sync and
Gmail ids as the database row: a trace cannot lack a field the database has.

    email (root span)
    ├── decode, markup, html_to_text
    ├── classify ── generation per LLM call
    ├── extract  ── generation per LLM call (the repair call included)
    ├── validate
    └── store
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, Status, StatusCode, Tracer

from mailsift.extraction.extractor import ExtractionResult, PromptCall
from mailsift.pipeline.prepare import PreparedEmail, StageTiming
from mailsift.store.repository import EmailContext
from mailsift.telemetry import attributes as attr
from mailsift.telemetry.ids import set_next_span, trace_id_for

logger = logging.getLogger(__name__)

SUBJECT_MAX_CHARS = 200


@dataclass(frozen=True, slots=True)
class TraceDefaults:
    environment: str | None = None
    release: str | None = None


class TraceBuilder:
    def __init__(self, tracer: Tracer, defaults: TraceDefaults | None = None) -> None:
        self.tracer = tracer
        self.defaults = defaults or TraceDefaults()

    def record(
        self,
        context: EmailContext,
        prepared: PreparedEmail,
        result: ExtractionResult,
        store: StageTiming,
        source_format: str,
    ) -> str:
        """Emit the trace of one email and return its trace id as 32 hex characters."""
        identity = context.external_id
        shared = self._trace_attributes(context, result, source_format)
        started = prepared.stages[0].started_at if prepared.stages else store.started_at
        ended = store.started_at + timedelta(milliseconds=store.duration_ms)

        root = self._start(
            identity,
            "email",
            "email",
            None,
            started,
            {
                **shared,
                attr.OBSERVATION_TYPE: "span",
                attr.OBSERVATION_INPUT: attr.encode_json(_email_summary(prepared)),
                attr.OBSERVATION_OUTPUT: attr.encode_json(result.fields or {}),
                attr.TRACE_INPUT: attr.encode_json(_email_summary(prepared)),
                attr.TRACE_OUTPUT: attr.encode_json(result.fields or {}),
            },
        )
        if not result.valid:
            _mark_error(root, result.error or "extraction failed")

        for stage in prepared.stages:
            span = self._start(
                identity,
                f"email/{stage.name}",
                stage.name,
                root,
                stage.started_at,
                {**shared, attr.OBSERVATION_TYPE: "span"},
            )
            span.end(_ns(stage.started_at + timedelta(milliseconds=stage.duration_ms)))

        self._llm_steps(identity, root, shared, result)
        self._validate_step(identity, root, shared, result, prepared, store)

        store_span = self._start(
            identity,
            "email/store",
            "store",
            root,
            store.started_at,
            {**shared, attr.OBSERVATION_TYPE: "span"},
        )
        store_span.end(_ns(ended))
        root.end(_ns(ended))
        return f"{trace_id_for(identity):032x}"

    def _llm_steps(
        self, identity: str, root: Span, shared: dict[str, Any], result: ExtractionResult
    ) -> None:
        groups: dict[str, list[PromptCall]] = {}
        for call in result.calls:
            step = "classify" if call.record.purpose == "classify" else "extract"
            if call.prompt.name == "classify-email":
                step = "classify"
            groups.setdefault(step, []).append(call)

        for step, calls in groups.items():
            first = min(call.record.started_at for call in calls)
            last = max(call.record.finished_at for call in calls)
            parent = self._start(
                identity,
                f"email/{step}",
                step,
                root,
                first,
                {**shared, attr.OBSERVATION_TYPE: "span"},
            )
            for index, call in enumerate(calls):
                self._generation(identity, f"email/{step}/llm#{index}", parent, shared, call)
            if any(call.record.status == "failed" for call in calls) and not result.valid:
                _mark_error(parent, result.error or "LLM call failed")
            parent.end(_ns(last))

    def _generation(
        self, identity: str, path: str, parent: Span, shared: dict[str, Any], call: PromptCall
    ) -> None:
        record = call.record
        usage = record.usage
        details, problems = attr.usage_details(
            input_tokens=usage.prompt_tokens,
            output_tokens=usage.completion_tokens,
            total_tokens=usage.total_tokens,
            cached_tokens=usage.cached_tokens,
        )
        if record.status == "succeeded" and not details:
            problems.append("the LLM server reported no usage")
        for problem in problems:
            logger.warning("telemetry: usage of LLM call %s: %s", record.request_id, problem)
        attributes: dict[str, Any] = {
            **shared,
            attr.OBSERVATION_TYPE: "generation",
            attr.MODEL_NAME: record.model,
            attr.GEN_AI_OPERATION: "chat",
            attr.GEN_AI_REQUEST_MODEL: record.model,
            attr.MODEL_PARAMETERS: attr.encode_json(record.parameters),
            attr.OBSERVATION_INPUT: attr.encode_json(record.messages),
            attr.USAGE_DETAILS: attr.encode_json(details),
            attr.PROMPT_NAME: call.prompt.name,
            attr.PROMPT_VERSION: _prompt_version(call.prompt.version),
            f"{attr.OBSERVATION_METADATA_PREFIX}request_id": record.request_id,
            f"{attr.OBSERVATION_METADATA_PREFIX}purpose": record.purpose,
            f"{attr.OBSERVATION_METADATA_PREFIX}server_url": record.server_url,
            f"{attr.OBSERVATION_METADATA_PREFIX}latency_ms": round(record.latency_ms, 3),
        }
        if problems:
            attributes[f"{attr.OBSERVATION_METADATA_PREFIX}usage_problems"] = "; ".join(problems)
        if record.output is not None:
            attributes[attr.OBSERVATION_OUTPUT] = record.output
        if record.response_id:
            attributes[f"{attr.OBSERVATION_METADATA_PREFIX}response_id"] = record.response_id
        if record.http_status is not None:
            attributes[f"{attr.OBSERVATION_METADATA_PREFIX}http_status"] = record.http_status
        if usage.raw_timings:
            attributes[f"{attr.OBSERVATION_METADATA_PREFIX}server_timings"] = attr.encode_json(
                usage.raw_timings
            )
        completion_start = _completion_start(record.started_at, usage.queue_ms, usage.prefill_ms)
        if completion_start is not None:
            attributes[attr.COMPLETION_START_TIME] = completion_start.isoformat()

        span = self._start(
            identity, path, f"llm {call.prompt.name}", parent, record.started_at, attributes
        )
        if record.status != "succeeded":
            _mark_error(span, record.error or "LLM call failed")
        span.end(_ns(record.finished_at))

    def _validate_step(
        self,
        identity: str,
        root: Span,
        shared: dict[str, Any],
        result: ExtractionResult,
        prepared: PreparedEmail,
        store: StageTiming,
    ) -> None:
        # Validation runs right after each LLM reply and takes microseconds; its span sits
        # between the last reply and the store step and carries the verdict.
        at = max((c.record.finished_at for c in result.calls), default=store.started_at)
        span = self._start(
            identity,
            "email/validate",
            "validate",
            root,
            at,
            {
                **shared,
                attr.OBSERVATION_TYPE: "span",
                attr.OBSERVATION_OUTPUT: attr.encode_json(
                    {
                        "valid": result.valid,
                        "error": result.error,
                        "repaired": result.repaired,
                        "grounding_flags": result.grounding_flags,
                        "provenance": result.provenance,
                    }
                ),
            },
        )
        if not result.valid:
            _mark_error(span, result.error or "invalid")
        span.end(_ns(max(at, store.started_at)))

    def _trace_attributes(
        self, context: EmailContext, result: ExtractionResult, source_format: str
    ) -> dict[str, Any]:
        metadata = {
            "email_id": context.email_id,
            "external_id": context.external_id,
            "sync_id": context.sync_id,
            "account_id": context.account_id,
            "gmail_message_id": context.gmail_message_id,
            "gmail_thread_id": context.gmail_thread_id,
            "subject": (context.subject or "")[:SUBJECT_MAX_CHARS] or None,
            "sender_domain": context.sender_domain,
            "source": context.source_location,
        }
        tags = [
            f"type:{result.email_type.value if result.email_type else 'unknown'}",
            f"source:{source_format}",
        ]
        attributes: dict[str, Any] = {
            attr.TRACE_NAME: "email",
            attr.USER_ID: context.user_id or context.account_login,
            attr.SESSION_ID: f"sync-{context.sync_id}",
            attr.TRACE_TAGS: tags,
        }
        for key, value in metadata.items():
            if value is not None:
                attributes[f"{attr.TRACE_METADATA_PREFIX}{key}"] = str(value)
        if self.defaults.environment:
            attributes[attr.ENVIRONMENT] = self.defaults.environment
        if self.defaults.release:
            attributes[attr.RELEASE] = self.defaults.release
        return attributes

    def _start(
        self,
        identity: str,
        path: str,
        name: str,
        parent: Span | None,
        start: datetime,
        attributes: dict[str, Any],
    ) -> Span:
        set_next_span(identity, path)
        context = trace.set_span_in_context(parent) if parent is not None else Context()
        return self.tracer.start_span(
            name, context=context, start_time=_ns(start), attributes=attributes
        )


def _email_summary(prepared: PreparedEmail) -> dict[str, Any]:
    """A short description of the email: enough to recognise it, never the whole body."""
    return {
        "subject": (prepared.subject or "")[:SUBJECT_MAX_CHARS],
        "sender_domain": prepared.sender_domain,
        "sent_at": prepared.sent_at.isoformat() if prepared.sent_at else None,
        "preheader": (prepared.preheader or "")[:SUBJECT_MAX_CHARS] or None,
        "body_chars": len(prepared.body),
        "body_truncated": prepared.body_truncated,
        "markup_items": len(prepared.markup_items),
        "defects": sorted({str(d["code"]) for d in prepared.defects}),
    }


def _mark_error(span: Span, message: str) -> None:
    span.set_attribute(attr.OBSERVATION_LEVEL, "ERROR")
    span.set_attribute(attr.OBSERVATION_STATUS_MESSAGE, message[:1000])
    span.set_status(Status(StatusCode.ERROR, message[:1000]))


def _prompt_version(version: str) -> int:
    # Langfuse keeps a prompt link only when the version is an integer; a string version
    # makes the server drop the whole observation on its legacy write path.
    return int(version) if version.isdigit() else 0


def _completion_start(
    started_at: datetime, queue_ms: float | None, prefill_ms: float | None
) -> datetime | None:
    """Estimate when the first token came, from the server's own queue and prefill times."""
    if prefill_ms is None:
        return None
    return started_at + timedelta(milliseconds=(queue_ms or 0.0) + prefill_ms)


def _ns(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000_000)
