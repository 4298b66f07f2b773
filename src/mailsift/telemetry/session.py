"""Wire configuration, exporters, the reporter and the trace builder for one process."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import httpx
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

import mailsift
from mailsift.extraction.extractor import ExtractionResult
from mailsift.pipeline.prepare import PreparedEmail, StageTiming
from mailsift.store.repository import EmailContext
from mailsift.telemetry.config import IngestionPath, LangfuseConfig
from mailsift.telemetry.exporters.base import SpanExporter, make_http_client
from mailsift.telemetry.exporters.legacy import LegacyExporter
from mailsift.telemetry.exporters.otlp import OtlpExporter
from mailsift.telemetry.health import HealthSnapshot
from mailsift.telemetry.ids import DerivedIdGenerator
from mailsift.telemetry.reporter import Reporter, ReporterSettings, ReporterStats
from mailsift.telemetry.server_info import ServerInfo, choose_path, detect_server
from mailsift.telemetry.trace_builder import TraceBuilder, TraceDefaults

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class Telemetry:
    config: LangfuseConfig
    provider: TracerProvider
    reporter: Reporter
    builder: TraceBuilder
    server: ServerInfo | None
    reason: str

    def record(
        self,
        context: EmailContext,
        prepared: PreparedEmail,
        result: ExtractionResult,
        store: StageTiming,
        source_format: str,
    ) -> str:
        return self.builder.record(context, prepared, result, store, source_format)

    @property
    def stats(self) -> ReporterStats:
        return self.reporter.stats

    def close(self, timeout_s: float | None = None) -> None:
        self.reporter.shutdown(timeout_s)

    def health(self) -> HealthSnapshot:
        stats = self.stats
        return HealthSnapshot(
            outbox_path=str(self.reporter.outbox.path),
            counts=self.reporter.counts(),
            path=stats.path,
            breaker=stats.breaker,
            last_error=(
                f"{stats.last_error.at} {stats.last_error.message}" if stats.last_error else None
            ),
            write_failures=stats.write_failures,
            unidentified_rejections=stats.unidentified_rejections,
        )

    def summary_line(self) -> str:
        stats = self.stats
        counts = self.reporter.counts()
        line = (
            f"Langfuse {self.config.host} via {stats.path}: {stats.ended} spans this run, "
            f"{stats.exported} exported, {stats.rejected} quarantined"
        )
        if counts.pending:
            line += f", {counts.pending} pending in the outbox"
        if stats.last_error:
            line += f" (last error: {stats.last_error.message[:120]})"
        return line


def start_telemetry(
    config: LangfuseConfig,
    *,
    outbox_path: Path,
    transport: httpx.BaseTransport | None = None,
    settings: ReporterSettings | None = None,
) -> Telemetry:
    """Detect the server, pick the ingestion path and start the background reporter."""
    # The version is read even when the path is forced: OTLP to a v3 server must go
    # without the v4 ingestion header, or the spans land where v3 never shows them.
    with make_http_client(config, transport) as client:
        server: ServerInfo | None = detect_server(client)
    if server is not None and server.error:
        logger.warning("telemetry: could not learn the Langfuse server's version: %s", server.error)
    path, reason = choose_path(config, server)
    logger.info("telemetry: sending to %s over %s (%s)", config.host, path.value, reason)

    def make_exporter(chosen: IngestionPath) -> SpanExporter:
        if chosen is IngestionPath.LEGACY:
            return LegacyExporter(config, transport=transport)
        v3_server = server is not None and server.major is not None and server.major < 4
        return OtlpExporter(config, transport=transport, send_ingestion_version=not v3_server)

    reporter = Reporter(
        make_exporter,
        path,
        settings or ReporterSettings(outbox_path=outbox_path),
        switch_on_refusal=config.ingestion is not IngestionPath.LEGACY,
    )
    resource = Resource.create(
        {"service.name": "mailsift", "service.version": mailsift.__version__}
    )
    provider = TracerProvider(resource=resource, id_generator=DerivedIdGenerator())
    provider.add_span_processor(reporter)
    builder = TraceBuilder(
        provider.get_tracer("mailsift", mailsift.__version__),
        TraceDefaults(environment=config.environment, release=config.release),
    )
    return Telemetry(
        config=config,
        provider=provider,
        reporter=reporter,
        builder=builder,
        server=server,
        reason=reason,
    )
