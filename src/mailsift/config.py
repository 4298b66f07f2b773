"""Settings resolved in one place: command-line flag, then environment, then default.

An empty environment variable counts as unset, so `MAILSIFT_LLM_URL= mailsift run` falls
back to the embedded server instead of failing on an empty URL.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from mailsift.errors import ConfigError


def env(*names: str) -> str | None:
    """Return the first non-empty value among environment variables `names`."""
    for name in names:
        value = os.environ.get(name, "").strip()
        if value:
            return value
    return None


def default_data_dir() -> Path:
    configured = env("MAILSIFT_DATA_DIR")
    if configured:
        return Path(configured).expanduser()
    base = env("XDG_DATA_HOME")
    return (Path(base) if base else Path.home() / ".local" / "share") / "mailsift"


@dataclass(slots=True)
class LLMConfig:
    url: str | None
    """None means: start the embedded llama.cpp server."""
    model: str | None
    api_key: str | None = field(repr=False)
    concurrency: int
    read_timeout_s: float


def resolve_llm(
    *, url: str | None, model: str | None, concurrency: int, read_timeout_s: float
) -> LLMConfig:
    resolved_url = url or env("MAILSIFT_LLM_URL", "OPENAI_BASE_URL")
    if resolved_url is not None:
        parts = urlsplit(resolved_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(
                f"invalid LLM URL {resolved_url!r}: expected http(s)://host[:port]/v1"
            )
    if concurrency < 1:
        raise ConfigError(
            f"--concurrency must be at least 1, got {concurrency}; give the number of LLM "
            "requests to keep in flight, or 'auto'"
        )
    if read_timeout_s <= 0:
        raise ConfigError(f"--llm-timeout must be positive, got {read_timeout_s}")
    return LLMConfig(
        url=resolved_url,
        model=model or env("MAILSIFT_LLM_MODEL"),
        api_key=env("MAILSIFT_LLM_API_KEY", "OPENAI_API_KEY"),
        concurrency=concurrency,
        read_timeout_s=read_timeout_s,
    )


def resolve_db_url(db: str | None, data_dir: Path) -> str:
    from mailsift.store.database import default_sqlite_url

    return db or env("MAILSIFT_DB_URL") or default_sqlite_url(data_dir)
