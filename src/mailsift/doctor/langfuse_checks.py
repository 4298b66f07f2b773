"""Langfuse checks above the network: settings, authentication, version and write path.

Each function returns a CheckResult for one layer. The write-path check also returns the
plan the canary needs: which exporter `mailsift run` would build for this server.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

import httpx

from mailsift.doctor.model import CheckResult, Layer
from mailsift.errors import ConfigError
from mailsift.telemetry.config import (
    HOST_VARIABLES,
    IngestionPath,
    LangfuseConfig,
    load_langfuse_config,
)
from mailsift.telemetry.exporters.base import server_message
from mailsift.telemetry.server_info import (
    ServerInfo,
    WriteMode,
    choose_path,
    fetch_version,
    probe_write_mode,
)

logger = logging.getLogger(__name__)

TRACES_PATH = "/api/public/traces"
OBSERVATIONS_V2_PATH = "/api/public/v2/observations"
OTLP_MIN_VERSION = (3, 22, 0)
"""First Langfuse release with `POST /api/public/otel/v1/traces`."""
KEYS_HINT = "check LANGFUSE_PUBLIC_KEY/SECRET_KEY belong to this project"
TELEMETRY_OFF = "telemetry off (LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY are not set)"

# Substrings of the server's two 404 bodies on the v1 read routes (Langfuse 4.16).
_EVENTS_ONLY_MARKER = "events_only"
_NOT_FOUND_MARKER = "not found"


@dataclass(frozen=True, slots=True)
class WritePlan:
    """The ingestion path `mailsift run` would take, and the server facts behind the choice."""

    path: IngestionPath
    server: ServerInfo
    send_ingestion_version: bool


def host_variable(environ: dict[str, str]) -> str | None:
    """Return the variable the Langfuse host came from, or None for the default host."""
    for name in HOST_VARIABLES:
        if environ.get(name, "").strip():
            return name
    return None


def check_configuration(environ: dict[str, str]) -> tuple[CheckResult, LangfuseConfig | None]:
    try:
        config = load_langfuse_config(environ)
    except ConfigError as exc:
        hint = _config_hint(str(exc), host_variable(environ) or "LANGFUSE_HOST")
        return CheckResult.failed(Layer.CONFIGURATION, str(exc), hint), None
    if config is None:
        return CheckResult.skipped(Layer.CONFIGURATION, TELEMETRY_OFF), None

    source = host_variable(environ) or "the default"
    detail = (
        f"public key {config.redacted_public_key}, host {config.host} (from {source}), "
        f"LANGFUSE_INGESTION={config.ingestion.value}"
    )
    unusual = [
        name
        for name, value, prefix in (
            ("LANGFUSE_PUBLIC_KEY", config.public_key, "pk-lf-"),
            ("LANGFUSE_SECRET_KEY", config.secret_key, "sk-lf-"),
        )
        if not value.startswith(prefix)
    ]
    if unusual:
        # Langfuse issues keys with these prefixes. Other values may still work (behind a
        # proxy that maps keys), so they are reported without failing the check.
        detail += f"; note: {' and '.join(unusual)} lack the usual pk-lf-/sk-lf- prefix"
    return CheckResult.passed(Layer.CONFIGURATION, detail), config


def _config_hint(message: str, variable: str) -> str:
    # Matches the wording of load_langfuse_config's errors. The tests pin the common ones.
    if "swapped" in message:
        return "swap the values of LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY"
    if "missing" in message:
        return (
            "set both LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY, or neither to turn telemetry off"
        )
    if "holds a" in message:
        return "put the pk-lf- key in LANGFUSE_PUBLIC_KEY and the sk-lf- key in LANGFUSE_SECRET_KEY"
    if "LANGFUSE_INGESTION" in message:
        return "set LANGFUSE_INGESTION to otlp, legacy or auto (or leave it unset)"
    return f"set {variable} to the server's base URL, such as https://cloud.langfuse.com"


def check_auth(client: httpx.Client) -> CheckResult:
    """Make an authenticated read: a trace that cannot exist, else the v2 observations list.

    A v4 server in events_only mode returns 404 on every v1 read route before checking
    credentials. Its body differs from the "trace not found" 404, which the server sends
    only after it accepted the key pair.
    """
    path = f"{TRACES_PATH}/mailsift-doctor-{uuid.uuid4().hex}"
    try:
        response = client.get(path)
    except httpx.HTTPError as exc:
        return _transport_failure(path, exc)

    if response.status_code == 404:
        message = server_message(response)
        if _EVENTS_ONLY_MARKER in message:
            return _check_auth_v2(client)
        if _NOT_FOUND_MARKER in message.lower():
            return CheckResult.passed(
                Layer.AUTH,
                f"key pair accepted by GET {TRACES_PATH}/{{id}} (404 trace not found, as "
                "expected for a made-up id)",
            )
        return CheckResult.failed(
            Layer.AUTH,
            f"GET {TRACES_PATH}/{{id}} answered 404 with an unknown body: {message}",
            "check that LANGFUSE_HOST points at the Langfuse server itself",
        )
    return _auth_verdict(response, f"GET {TRACES_PATH}/{{id}}", "")


def _check_auth_v2(client: httpx.Client) -> CheckResult:
    try:
        response = client.get(OBSERVATIONS_V2_PATH, params={"limit": 1})
    except httpx.HTTPError as exc:
        return _transport_failure(OBSERVATIONS_V2_PATH, exc)
    return _auth_verdict(
        response, f"GET {OBSERVATIONS_V2_PATH}", " (the v1 read routes are off in events_only mode)"
    )


def _auth_verdict(response: httpx.Response, request: str, note: str) -> CheckResult:
    status = response.status_code
    if status == 401:
        return CheckResult.failed(
            Layer.AUTH,
            f"{request} answered 401: {server_message(response)}",
            KEYS_HINT,
        )
    if status == 403:
        message = server_message(response)
        return CheckResult.failed(
            Layer.AUTH,
            f"{request} answered 403: {message}",
            f"use a project API key pair; the server denied access: {message}",
        )
    if response.is_success:
        return CheckResult.passed(Layer.AUTH, f"key pair accepted by {request}{note}")
    return CheckResult.failed(
        Layer.AUTH,
        f"{request} answered {status}: {server_message(response)}",
        "check that LANGFUSE_HOST points at the Langfuse server and that its logs show no errors",
    )


def _transport_failure(path: str, exc: httpx.HTTPError) -> CheckResult:
    kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "failed"
    return CheckResult.failed(
        Layer.AUTH,
        f"GET {path} {kind}: {type(exc).__name__}: {exc}",
        "check that the server answers HTTP; a proxy or load balancer may be dropping requests",
    )


def check_write_path(
    client: httpx.Client, config: LangfuseConfig
) -> tuple[CheckResult, WritePlan | None]:
    """Learn the version and write mode, then check the path `mailsift run` would take.

    The write-mode probe sends one invalid trace-create that no write mode stores.
    """
    version, health_error = fetch_version(client)
    if health_error is not None:
        return CheckResult.failed(
            Layer.WRITE_PATH,
            f"GET /api/public/health: {health_error}",
            "the server reports itself unhealthy; check the Langfuse web and database logs",
        ), None
    mode, probe_error = probe_write_mode(client)
    info = ServerInfo(version=version, write_mode=mode, error=probe_error)
    path, reason = choose_path(config, info)

    mode_text = mode.value if probe_error is None else f"unknown ({probe_error})"
    found = f"Langfuse {version or 'of unknown version'}, write mode {mode_text}"
    if path is IngestionPath.LEGACY and mode is WriteMode.EVENTS_ONLY:
        return CheckResult.failed(
            Layer.WRITE_PATH,
            f"{found}: LANGFUSE_INGESTION=legacy cannot work, because this server rejects "
            "trace events on its batch route",
            "set LANGFUSE_INGESTION=otlp or auto",
        ), None
    parsed = _version_tuple(version)
    if path is IngestionPath.OTLP and parsed is not None and parsed < OTLP_MIN_VERSION:
        return CheckResult.failed(
            Layer.WRITE_PATH,
            f"{found}: OTLP was chosen ({reason}) but servers before 3.22.0 have no OTLP route",
            "set LANGFUSE_INGESTION=legacy or auto, or upgrade Langfuse to 3.22 or later",
        ), None

    # Mirrors start_telemetry: `mailsift run` always reads the version, and leaves the v4
    # ingestion-version header off when that version is below 4.
    known_major = info.major
    plan = WritePlan(
        path, info, send_ingestion_version=not (known_major is not None and known_major < 4)
    )
    return CheckResult.passed(
        Layer.WRITE_PATH, f"{found}; mailsift will use {path.value} ({reason})"
    ), plan


def _version_tuple(version: str | None) -> tuple[int, ...] | None:
    """Parse "3.225.4" or "v3.22.0-rc.1" into three numbers, or return None for other text."""
    if not version:
        return None
    numbers: list[int] = []
    for part in version.lstrip("v").split("-", 1)[0].split(".")[:3]:
        if not part.isdigit():
            return None
        numbers.append(int(part))
    # Pad so that "3.22" compares equal to (3, 22, 0), not below it.
    return tuple(numbers + [0] * (3 - len(numbers)))
