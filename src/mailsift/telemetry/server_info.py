"""Learn a Langfuse server's version and write mode, and pick the ingestion path.

No endpoint reports the write mode, so it is inferred (Langfuse 4.16 behaviour):
- `GET /api/public/health` returns the version; 3.x servers default to the legacy mode,
  4.x servers to events_only.
- A batch with one deliberately invalid `trace-create` stores nothing and tells the modes
  apart: events_only rejects it as "Event type not accepted", the others as
  "Invalid request data".
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from enum import StrEnum

import httpx

from mailsift.telemetry.config import IngestionPath, LangfuseConfig
from mailsift.telemetry.exporters.base import server_message

logger = logging.getLogger(__name__)


class WriteMode(StrEnum):
    LEGACY = "legacy"
    """v3 servers: only the legacy tables; batch ingestion stores traces."""
    WRITES_LEGACY_EVENTS = "legacy-or-dual"
    """Batch ingestion accepted: a v3 server, or v4 in the temporary dual mode."""
    EVENTS_ONLY = "events_only"
    """v4 default: batch ingestion refuses traces and observations."""
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class ServerInfo:
    version: str | None
    write_mode: WriteMode
    error: str | None = None

    @property
    def major(self) -> int | None:
        if not self.version:
            return None
        head = self.version.lstrip("v").split(".", 1)[0]
        return int(head) if head.isdigit() else None


def fetch_version(client: httpx.Client) -> tuple[str | None, str | None]:
    """Return (version, error) from the unauthenticated health endpoint."""
    try:
        response = client.get("/api/public/health")
    except httpx.HTTPError as exc:
        return None, f"health check failed: {type(exc).__name__}: {exc}"
    try:
        body = response.json()
    except ValueError:
        body = None
    version = body.get("version") if isinstance(body, dict) else None
    if response.status_code != 200:
        return version, f"health check answered {response.status_code}"
    return (str(version) if version else None), None


def probe_write_mode(client: httpx.Client) -> tuple[WriteMode, str | None]:
    """Send one invalid trace-create (no timestamp) that no mode stores, and read the verdict."""
    probe = {
        "batch": [
            {
                "id": f"mailsift-probe-{uuid.uuid4()}",
                "type": "trace-create",
                "body": {"id": f"mailsift-probe-{uuid.uuid4()}"},
            }
        ]
    }
    try:
        response = client.post("/api/public/ingestion", json=probe)
    except httpx.HTTPError as exc:
        return WriteMode.UNKNOWN, f"write-mode probe failed: {type(exc).__name__}: {exc}"
    if response.status_code != 207:
        message = server_message(response)
        return WriteMode.UNKNOWN, f"write-mode probe answered {response.status_code}: {message}"
    try:
        errors = response.json().get("errors") or []
    except (ValueError, AttributeError):
        return WriteMode.UNKNOWN, "write-mode probe reply is not JSON"
    messages = " ".join(str(item.get("message", "")) for item in errors if isinstance(item, dict))
    if "Event type not accepted" in messages:
        return WriteMode.EVENTS_ONLY, None
    return WriteMode.WRITES_LEGACY_EVENTS, None


def detect_server(client: httpx.Client, *, probe: bool = False) -> ServerInfo:
    """Read the version; with `probe`, also send the write-mode probe.

    A run does not probe: the version alone decides the path, and a v4 server that refuses
    legacy writes is caught by the reporter's switch to OTLP. The probe is for diagnosis,
    because the server answers it with one (harmless) rejected event.
    """
    version, error = fetch_version(client)
    if not probe:
        return ServerInfo(version=version, write_mode=WriteMode.UNKNOWN, error=error)
    mode, probe_error = probe_write_mode(client)
    return ServerInfo(version=version, write_mode=mode, error=error or probe_error)


def choose_path(config: LangfuseConfig, info: ServerInfo | None) -> tuple[IngestionPath, str]:
    """Pick OTLP or legacy ingestion; return the path and the reason, for one log line."""
    if config.ingestion is not IngestionPath.AUTO:
        return config.ingestion, f"LANGFUSE_INGESTION={config.ingestion.value}"
    if info is None or info.major is None:
        return IngestionPath.OTLP, "server version unknown; OTLP is the path current servers take"
    if info.major >= 4:
        return IngestionPath.OTLP, f"server {info.version} is v4, which stores traces from OTLP"
    if info.write_mode is WriteMode.EVENTS_ONLY:
        return IngestionPath.OTLP, f"server {info.version} refuses legacy trace events"
    return IngestionPath.LEGACY, (
        f"server {info.version} is v{info.major}; its batch ingestion API stores traces"
    )
