"""Langfuse settings, read from the standard environment variables and checked at startup.

Telemetry is off when neither key is set. When either is set, every problem is reported as
one ConfigError line before any email is processed: a missing key, keys swapped between
the two variables, a URL that is not http(s), or one with a path (the path would be
silently dropped or doubled by the exporters).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from enum import StrEnum
from urllib.parse import urlsplit

from mailsift.errors import ConfigError

DEFAULT_HOST = "https://cloud.langfuse.com"
HOST_VARIABLES = ("LANGFUSE_HOST", "LANGFUSE_BASE_URL", "LANGFUSE_ENDPOINT")


class IngestionPath(StrEnum):
    OTLP = "otlp"
    LEGACY = "legacy"
    AUTO = "auto"


@dataclass(frozen=True, slots=True)
class LangfuseConfig:
    public_key: str
    secret_key: str = field(repr=False)
    host: str
    ingestion: IngestionPath = IngestionPath.AUTO
    environment: str | None = None
    release: str | None = None
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 15.0

    @property
    def redacted_public_key(self) -> str:
        return f"{self.public_key[:10]}..." if len(self.public_key) > 10 else self.public_key


def _env(name: str, environ: dict[str, str]) -> str | None:
    value = environ.get(name, "").strip()
    # `.env` loaders and compose files sometimes keep the quotes around a value.
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        value = value[1:-1].strip()
    return value or None


def load_langfuse_config(environ: dict[str, str] | None = None) -> LangfuseConfig | None:
    """Return the validated configuration, or None when telemetry is not configured."""
    env = dict(os.environ if environ is None else environ)
    public_key = _env("LANGFUSE_PUBLIC_KEY", env)
    secret_key = _env("LANGFUSE_SECRET_KEY", env)
    if public_key is None and secret_key is None:
        return None

    if public_key is None:
        raise ConfigError("LANGFUSE_SECRET_KEY is set but LANGFUSE_PUBLIC_KEY is missing")
    if secret_key is None:
        raise ConfigError("LANGFUSE_PUBLIC_KEY is set but LANGFUSE_SECRET_KEY is missing")
    if public_key.startswith("sk-lf-") and secret_key.startswith("pk-lf-"):
        raise ConfigError(
            "LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY are swapped: the public key starts "
            "with pk-lf- and the secret key with sk-lf-"
        )
    if public_key.startswith("sk-lf-"):
        raise ConfigError(
            "LANGFUSE_PUBLIC_KEY holds a secret key (sk-lf-...); set it to the pk-lf- key"
        )
    if secret_key.startswith("pk-lf-"):
        raise ConfigError(
            "LANGFUSE_SECRET_KEY holds a public key (pk-lf-...); set it to the sk-lf- key"
        )

    host_variable, host = next(
        ((name, value) for name in HOST_VARIABLES if (value := _env(name, env))),
        ("default", DEFAULT_HOST),
    )
    host = _validate_host(host_variable, host)

    ingestion_value = (_env("LANGFUSE_INGESTION", env) or "auto").lower()
    try:
        ingestion = IngestionPath(ingestion_value)
    except ValueError:
        raise ConfigError(
            f"LANGFUSE_INGESTION must be otlp, legacy or auto, got {ingestion_value!r}"
        ) from None

    timeout_value = _env("LANGFUSE_TIMEOUT", env)
    try:
        read_timeout_s = float(timeout_value) if timeout_value else 15.0
    except ValueError:
        raise ConfigError(f"LANGFUSE_TIMEOUT must be seconds, got {timeout_value!r}") from None
    if read_timeout_s <= 0:
        raise ConfigError(f"LANGFUSE_TIMEOUT must be positive, got {timeout_value!r}")

    return LangfuseConfig(
        public_key=public_key,
        secret_key=secret_key,
        host=host,
        ingestion=ingestion,
        environment=_env("LANGFUSE_ENVIRONMENT", env),
        release=_env("LANGFUSE_RELEASE", env),
        read_timeout_s=read_timeout_s,
    )


def _validate_host(variable: str, value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"{variable} must be an http(s) URL such as https://cloud.langfuse.com, got {value!r}"
        )
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ConfigError(
            f"{variable} must be the server's base URL without a path, got {value!r}; "
            f"use {parts.scheme}://{parts.netloc}"
        )
    try:
        _ = parts.port
    except ValueError:
        raise ConfigError(f"{variable} has an invalid port: {value!r}") from None
    return f"{parts.scheme}://{parts.netloc}"
