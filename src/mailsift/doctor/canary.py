"""The canary: one tiny trace sent the way `mailsift run` sends traces, then read back.

The trace is built with the OpenTelemetry SDK and the same id generator, attribute names
and exporter classes as real email traces, so a canary that arrives shows that the
server stores what `mailsift run` sends. Sending is only half of it: Langfuse
acknowledges writes before storing them, so the check polls the read API until the trace
is visible or the deadline passes.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import mailsift
from mailsift.doctor.langfuse_checks import KEYS_HINT, WritePlan
from mailsift.doctor.model import CheckResult, Layer
from mailsift.doctor.read_back import ReadBack
from mailsift.telemetry import attributes as attr
from mailsift.telemetry.config import IngestionPath, LangfuseConfig
from mailsift.telemetry.exporters.base import ExportResult, SpanExporter
from mailsift.telemetry.exporters.legacy import LegacyExporter
from mailsift.telemetry.exporters.otlp import OtlpExporter
from mailsift.telemetry.ids import DerivedIdGenerator, set_next_span, trace_id_for

logger = logging.getLogger(__name__)

CANARY_NAME = "mailsift-doctor-canary"
CANARY_USER_ID = "mailsift-doctor"
CANARY_SESSION_ID = "mailsift-doctor"
"""One session for every canary, so they are easy to find and delete in the Langfuse UI."""
DEFAULT_TIMEOUT_S = 30.0
POLL_INTERVAL_S = 0.5


@dataclass(frozen=True, slots=True)
class Canary:
    spans: list[ReadableSpan]
    trace_id: str
    """32 lowercase hex characters, as Langfuse shows it."""
    started_at: datetime


def build_canary(config: LangfuseConfig) -> Canary:
    """Record one finished root span with the trace-level attributes real traces carry."""
    identity = f"mailsift-doctor-{uuid.uuid4()}"
    memory = InMemorySpanExporter()
    provider = TracerProvider(
        resource=Resource.create(
            {"service.name": "mailsift", "service.version": mailsift.__version__}
        ),
        id_generator=DerivedIdGenerator(),
    )
    provider.add_span_processor(SimpleSpanProcessor(memory))

    payload = attr.encode_json({"check": "canary", "sent_by": "mailsift doctor"})
    attributes: dict[str, str | list[str]] = {
        attr.TRACE_NAME: CANARY_NAME,
        attr.USER_ID: CANARY_USER_ID,
        attr.SESSION_ID: CANARY_SESSION_ID,
        attr.TRACE_TAGS: ["mailsift-doctor"],
        attr.TRACE_INPUT: payload,
        attr.OBSERVATION_TYPE: "span",
        attr.OBSERVATION_INPUT: payload,
    }
    if config.environment:
        attributes[attr.ENVIRONMENT] = config.environment
    if config.release:
        attributes[attr.RELEASE] = config.release

    started_at = datetime.now(UTC)
    set_next_span(identity, "canary")
    span = provider.get_tracer("mailsift.doctor", mailsift.__version__).start_span(
        CANARY_NAME, context=Context(), attributes=attributes
    )
    span.end()
    spans = list(memory.get_finished_spans())
    provider.shutdown()
    return Canary(spans, f"{trace_id_for(identity):032x}", started_at)


def make_exporter(config: LangfuseConfig, plan: WritePlan) -> SpanExporter:
    """Build the exporter `start_telemetry` would build for this plan."""
    # Limit: the canary goes straight to the exporter, so the run's Reporter (batching,
    # retries, the switch to OTLP on an events_only refusal) is not exercised.
    if plan.path is IngestionPath.LEGACY:
        return LegacyExporter(config)
    return OtlpExporter(config, send_ingestion_version=plan.send_ingestion_version)


def check_canary(
    config: LangfuseConfig,
    plan: WritePlan,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    poll_interval_s: float = POLL_INTERVAL_S,
) -> CheckResult:
    canary = build_canary(config)
    sent = time.monotonic()
    exporter = make_exporter(config, plan)
    try:
        result = exporter.export(canary.spans)
    finally:
        exporter.close()
    delivered_ms = (time.monotonic() - sent) * 1000
    failure = _export_failure(result, plan)
    if failure is not None:
        return failure
    logger.info("doctor: canary trace %s delivered over %s", canary.trace_id, plan.path.value)

    # The read route follows the write path: OTLP data is read from the v2 API, which only
    # v4 write modes serve, so ReadBack falls back to the v1 route when v2 is missing.
    with ReadBack(
        config, plan.path, canary.trace_id, canary.started_at - timedelta(minutes=1)
    ) as reader:
        deadline = time.monotonic() + timeout_s
        while True:
            verdict = reader.poll(max(0.5, deadline - time.monotonic()))
            if verdict.failure is not None:
                return CheckResult.failed(Layer.CANARY, verdict.failure, verdict.hint or KEYS_HINT)
            if verdict.visible:
                visible_s = time.monotonic() - sent
                return CheckResult.passed(
                    Layer.CANARY,
                    f"{CANARY_NAME} trace {canary.trace_id} sent over {plan.path.value} "
                    f"(accepted in {delivered_ms:.0f} ms), visible after {visible_s:.2f} s "
                    f"via GET {reader.route}",
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            time.sleep(min(poll_interval_s, remaining))

    return CheckResult.failed(
        Layer.CANARY,
        f"trace {canary.trace_id} was accepted over {plan.path.value} but is not visible "
        f"after {timeout_s:g} s (last read: {reader.last_answer})",
        _invisible_hint(plan),
    )


def _invisible_hint(plan: WritePlan) -> str:
    major = plan.server.major
    header_to_v3 = plan.send_ingestion_version and major is not None and major < 4
    if plan.path is IngestionPath.OTLP and header_to_v3:
        # The v4 header selects the direct write to the v4 events table, which the read
        # API of a server in legacy mode does not serve.
        return (
            f"mailsift sent OTLP with the v4 ingestion header to a v{major} server, which "
            "may store it where its read API cannot see it; set LANGFUSE_INGESTION=auto"
        )
    return (
        "the server queued the trace but has not stored it: check that the Langfuse worker "
        "is running and read its logs, or raise --canary-timeout"
    )


def _export_failure(result: ExportResult, plan: WritePlan) -> CheckResult | None:
    """Turn a failed export into a failed check carrying the server's message."""
    if result.ok and result.delivered == result.sent:
        return None
    if result.events_only_refusal:
        hint = "set LANGFUSE_INGESTION=otlp or auto"
    elif result.status == 401:
        hint = KEYS_HINT
    elif result.status == 403:
        hint = "the server refuses writes for this key or project; see its message"
    elif result.retryable:
        hint = "the server is failing or overloaded; check its logs and run the doctor again"
    else:
        hint = "the server rejected the canary trace; check the server version and its message"

    if result.error is not None:
        detail = f"sending the canary over {plan.path.value} failed: {result.error}"
    elif result.rejected:
        first = result.rejected[0]
        detail = (
            f"the server rejected {len(result.rejected)} canary event(s) sent over "
            f"{plan.path.value}: {first.status} {first.message}"
        )
    else:
        detail = (
            f"the server acknowledged {result.delivered} of {result.sent} canary span(s) "
            f"sent over {plan.path.value}"
        )
    return CheckResult.failed(Layer.CANARY, detail, hint)
