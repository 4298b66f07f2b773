"""Exporters to Langfuse: OTLP/HTTP for v4 and Cloud, batch ingestion for v2/v3 servers.

Both return an ExportResult instead of raising: telemetry must never break the pipeline,
and the caller decides what a failure means (retry, quarantine, switch path).
"""

from mailsift.telemetry.exporters.base import ExportResult, Rejection, SpanExporter

__all__ = ["ExportResult", "Rejection", "SpanExporter"]
