"""Settings of one Langfuse double instance, and the route paths it serves.

The defaults describe a fresh self-hosted Langfuse v4.16.0: write mode `events_only`, the
4.5 MiB body limit of the legacy batch route, and no rate limiting. Rate limits exist only
on Langfuse Cloud, so the double returns 429 only when a test scripts it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

INGESTION_PATH = "/api/public/ingestion"
OTLP_TRACES_PATH = "/api/public/otel/v1/traces"
HEALTH_PATH = "/api/public/health"
READY_PATH = "/api/public/ready"
TRACES_PATH = "/api/public/traces"
OBSERVATIONS_PATH = "/api/public/observations"
OBSERVATIONS_V2_PATH = "/api/public/v2/observations"

# Next.js parses the batch route's body with `sizeLimit: "4.5mb"`, and the `bytes` package
# reads "mb" as MiB, so the real limit is 4.5 * 1024 * 1024 bytes. The 3.5 MB figure in the
# OpenAPI description is advice only; nothing in the server enforces it.
MAX_INGESTION_BODY_BYTES = 4_718_592

# Versions reported by /api/public/health: the last v3 tag and the v4 release the protocol
# notes were written from.
DEFAULT_V3_VERSION = "3.225.4"
DEFAULT_V4_VERSION = "4.16.0"


class WriteMode(StrEnum):
    """Value of the server's LANGFUSE_MIGRATION_V4_WRITE_MODE."""

    # v3 behaviour: batch and OTLP writes go to the legacy traces/observations tables.
    LEGACY = "legacy"
    # v4 transition mode: writes go to both the legacy tables and the v4 events table.
    DUAL = "dual"
    # v4 default: only the events table exists for reads, so the batch route rejects
    # trace and observation events and the v1 read routes return 404.
    EVENTS_ONLY = "events_only"


@dataclass(frozen=True)
class KeyPair:
    """A Langfuse API key pair: public key as the Basic user, secret key as the password."""

    public_key: str
    secret_key: str


@dataclass(frozen=True)
class DoubleConfig:
    """Settings of one double; every field has the default of a fresh v4 server.

    `version`, `allow_preview_opt_in` and `native_otel_direct` default to None, which picks
    the value that matches `mode`. For `legacy` that is a v3 version, no v2 observations API
    and the OTLP dual-write path. For the other modes it is the v4 version, the v2 API and
    direct OTLP writes.
    """

    mode: WriteMode = WriteMode.EVENTS_ONLY
    version: str | None = None
    public_key: str = "pk-lf-mailsift-test"
    secret_key: str = "sk-lf-mailsift-test"
    # Key pairs that authenticate but carry no project scope, like organization keys:
    # the batch route returns 401 and the OTLP route 403 for them.
    organization_keys: tuple[KeyPair, ...] = ()
    project_id: str = "mailsift-test-project"
    ingestion_delay_s: float = 0.0
    max_body_bytes: int = MAX_INGESTION_BODY_BYTES
    # The real OTLP route has no body limit. A value here makes the double respond like a
    # proxy in front of it (413 with an HTML page), to test size-based splitting.
    max_otlp_body_bytes: int | None = None
    allow_preview_opt_in: bool | None = None
    native_otel_direct: bool | None = None
    ingestion_suspended: bool = False
    # More project-scoped key pairs, for clients that rotate keys.
    extra_key_pairs: tuple[KeyPair, ...] = ()

    def __post_init__(self) -> None:
        # Accept plain strings from the CLI and from fixture parameters.
        try:
            object.__setattr__(self, "mode", WriteMode(self.mode))
        except ValueError:
            allowed = ", ".join(mode.value for mode in WriteMode)
            raise ValueError(
                f"mode: invalid value {self.mode!r}, expected one of {allowed}"
            ) from None

        for name in ("organization_keys", "extra_key_pairs"):
            object.__setattr__(self, name, _key_pairs(name, getattr(self, name)))

        if self.ingestion_delay_s < 0:
            raise ValueError(f"ingestion_delay_s: must be >= 0, got {self.ingestion_delay_s}")
        if self.max_body_bytes <= 0:
            raise ValueError(f"max_body_bytes: must be > 0, got {self.max_body_bytes}")
        if self.max_otlp_body_bytes is not None and self.max_otlp_body_bytes <= 0:
            raise ValueError(f"max_otlp_body_bytes: must be > 0, got {self.max_otlp_body_bytes}")
        if not self.public_key or not self.secret_key:
            raise ValueError("public_key and secret_key: both must be non-empty")
        if self.version is not None and not self.version:
            raise ValueError("version: must be non-empty when given")
        if self.mode is WriteMode.LEGACY and self.native_otel_direct:
            # The real worker refuses to start with this combination.
            raise ValueError("native_otel_direct: cannot be True when mode is 'legacy'")

    @property
    def server_version(self) -> str:
        """Version string that /api/public/health reports, without a leading 'v'."""
        if self.version is not None:
            return self.version.removeprefix("v")
        return DEFAULT_V3_VERSION if self.mode is WriteMode.LEGACY else DEFAULT_V4_VERSION

    @property
    def v2_observations_enabled(self) -> bool:
        """Whether GET /api/public/v2/observations exists on this server."""
        if self.allow_preview_opt_in is not None:
            return self.allow_preview_opt_in
        return self.mode is not WriteMode.LEGACY

    @property
    def otel_direct_by_default(self) -> bool:
        """Whether every OTLP batch takes the direct events-table path."""
        if self.native_otel_direct is not None:
            return self.native_otel_direct
        return self.mode is not WriteMode.LEGACY

    @property
    def project_keys(self) -> tuple[KeyPair, ...]:
        """All key pairs with project scope."""
        return (KeyPair(self.public_key, self.secret_key), *self.extra_key_pairs)


def _key_pairs(setting: str, pairs: Iterable[object]) -> tuple[KeyPair, ...]:
    """Accept KeyPair objects, {"public_key", "secret_key"} mappings or (public, secret) pairs."""
    converted: list[KeyPair] = []
    for pair in pairs:
        if isinstance(pair, KeyPair):
            converted.append(pair)
        elif isinstance(pair, Mapping):
            converted.append(KeyPair(str(pair["public_key"]), str(pair["secret_key"])))
        elif isinstance(pair, tuple | list) and len(pair) == 2:
            converted.append(KeyPair(str(pair[0]), str(pair[1])))
        else:
            raise ValueError(f"{setting}: invalid key pair {pair!r}, expected (public, secret)")
    return tuple(converted)
