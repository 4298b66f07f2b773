"""Run the doctor's checks in order, skipping every layer above the first failed one."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from mailsift.doctor.canary import DEFAULT_TIMEOUT_S, POLL_INTERVAL_S, check_canary
from mailsift.doctor.langfuse_checks import (
    WritePlan,
    check_auth,
    check_configuration,
    check_write_path,
    host_variable,
)
from mailsift.doctor.llm_checks import check_llm
from mailsift.doctor.model import LANGFUSE_LAYERS, CheckResult, DoctorReport, Layer, Status
from mailsift.doctor.network_checks import Endpoint, check_dns, check_tcp, check_tls
from mailsift.telemetry.exporters.base import make_http_client

logger = logging.getLogger(__name__)

SECRET_VARIABLES = ("LANGFUSE_SECRET_KEY", "MAILSIFT_LLM_API_KEY", "OPENAI_API_KEY")
REDACTED = "***"


@dataclass(frozen=True, slots=True)
class DoctorOptions:
    llm_url: str | None = None
    """None: MAILSIFT_LLM_URL or OPENAI_BASE_URL."""
    model: str | None = None
    skip_llm: bool = False
    skip_langfuse: bool = False
    canary_timeout_s: float = DEFAULT_TIMEOUT_S
    poll_interval_s: float = POLL_INTERVAL_S


def run_doctor(options: DoctorOptions) -> DoctorReport:
    """Check every layer with the settings in os.environ, and report all of them in order."""
    environ = dict(os.environ)
    checks = _langfuse_checks(options, environ)
    if options.skip_llm:
        checks.append(CheckResult.skipped(Layer.LLM, "--skip-llm"))
    else:
        checks.append(_timed(Layer.LLM, lambda: check_llm(options.llm_url, options.model)))

    # Details quote server replies and exception texts verbatim, so secrets are removed
    # here, whatever those texts turn out to contain.
    secrets = [value for name in SECRET_VARIABLES if len(value := _env(environ, name)) >= 4]
    return DoctorReport([_redact(check, secrets) for check in checks])


def _langfuse_checks(options: DoctorOptions, environ: dict[str, str]) -> list[CheckResult]:
    if options.skip_langfuse:
        return [CheckResult.skipped(layer, "--skip-langfuse") for layer in LANGFUSE_LAYERS]

    started = time.perf_counter()
    first, config = check_configuration(environ)
    results = [replace(first, duration_ms=_elapsed_ms(started))]
    if config is None:
        reason = "telemetry off" if first.status is Status.SKIPPED else "configuration failed"
        return results + [CheckResult.skipped(layer, reason) for layer in LANGFUSE_LAYERS[1:]]

    endpoint = Endpoint.from_url(config.host, host_variable(environ) or "LANGFUSE_HOST")
    plan: WritePlan | None = None

    with make_http_client(config, None) as client:

        def write_path() -> CheckResult:
            nonlocal plan
            result, plan = check_write_path(client, config)
            return result

        def canary() -> CheckResult:
            # Runs only after write_path passed, which is when the plan is set.
            assert plan is not None
            return check_canary(
                config,
                plan,
                timeout_s=options.canary_timeout_s,
                poll_interval_s=options.poll_interval_s,
            )

        steps: list[tuple[Layer, Callable[[], CheckResult]]] = [
            (Layer.DNS, lambda: check_dns(endpoint)),
            (Layer.TCP, lambda: check_tcp(endpoint, config.connect_timeout_s)),
            (Layer.TLS, lambda: check_tls(endpoint, config.connect_timeout_s)),
            (Layer.AUTH, lambda: check_auth(client)),
            (Layer.WRITE_PATH, write_path),
            (Layer.CANARY, canary),
        ]
        failed: Layer | None = None
        for layer, step in steps:
            if failed is not None:
                results.append(CheckResult.skipped(layer, f"{failed.value} failed"))
                continue
            result = _timed(layer, step)
            results.append(result)
            if result.status is Status.FAIL:
                failed = layer
    return results


def _timed(layer: Layer, step: Callable[[], CheckResult]) -> CheckResult:
    """Run one check and record its duration. An unexpected error becomes a failed result."""
    started = time.perf_counter()
    try:
        result = step()
    except Exception as exc:
        # The one broad catch: a bug in one check must not hide the report of the others.
        logger.exception("doctor: the %s check failed with an unexpected error", layer.value)
        result = CheckResult.failed(
            layer,
            f"unexpected error {type(exc).__name__}: {exc}",
            "this is a bug in mailsift doctor; report it with the traceback it logged",
        )
    return replace(result, duration_ms=_elapsed_ms(started))


def _elapsed_ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def _env(environ: dict[str, str], name: str) -> str:
    # Strip quotes the way the settings loaders do, so a quoted secret is found too.
    return environ.get(name, "").strip().strip("\"'").strip()


def _redact(check: CheckResult, secrets: list[str]) -> CheckResult:
    detail, hint = check.detail, check.hint
    for secret in secrets:
        detail = detail.replace(secret, REDACTED)
        hint = hint.replace(secret, REDACTED) if hint is not None else None
    return replace(check, detail=detail, hint=hint)
