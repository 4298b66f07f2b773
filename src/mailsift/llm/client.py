"""The one client mailsift uses to talk to an OpenAI-compatible LLM server.

Created once per run and shared by every worker: one pooled httpx connection pool, explicit
timeouts, a concurrency limit, and retries only for overload and lost connections.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from mailsift.errors import (
    LLMBadResponse,
    LLMContextTooLong,
    LLMError,
    LLMOverloaded,
    LLMUnavailable,
)
from mailsift.llm.concurrency import ConcurrencyLimit, FixedLimit
from mailsift.llm.records import CallRecord, ServerUsage
from mailsift.llm.wire import (
    StructuredOutput,
    build_chat_request,
    error_message,
    parse_content,
    parse_usage,
    structured_output_for_owner,
)

logger = logging.getLogger(__name__)

RETRYABLE_STATUSES = frozenset({429, 503})
CONTEXT_TOO_LONG_HINTS = ("context length", "context_length", "maximum context", "too long")


@dataclass(slots=True)
class LLMSettings:
    base_url: str
    """Server root including `/v1`, e.g. http://127.0.0.1:8000/v1."""
    model: str | None = None
    """Served model name; None means the first model `/v1/models` lists."""
    api_key: str | None = field(default=None, repr=False)
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 300.0
    max_attempts: int = 3
    """Tries per request when the server is overloaded (503/429) or drops the connection."""
    retry_deadline_s: float = 120.0
    structured_output: StructuredOutput | None = None
    """None means: choose from the server's `/v1/models` reply."""
    temperature: float = 0.0

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"LLM URL must start with http:// or https://, got {self.base_url!r}")
        self.base_url = self.base_url.rstrip("/")
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts}")


@dataclass(slots=True)
class ChatOutcome:
    content: str
    records: list[CallRecord]


class LLMClient:
    """Chat completions with JSON-schema-constrained output against one server."""

    def __init__(
        self,
        settings: LLMSettings,
        *,
        limit: ConcurrencyLimit | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings
        self.limit: ConcurrencyLimit = limit or FixedLimit(4)
        headers = {"Accept": "application/json"}
        if settings.api_key:
            headers["Authorization"] = f"Bearer {settings.api_key}"
        self._http = httpx.AsyncClient(
            base_url=settings.base_url,
            headers=headers,
            transport=transport,
            timeout=httpx.Timeout(
                connect=settings.connect_timeout_s,
                read=settings.read_timeout_s,
                write=settings.connect_timeout_s,
                pool=None,
            ),
            limits=httpx.Limits(max_connections=256, max_keepalive_connections=64),
        )
        self.model: str | None = settings.model
        self.structured_output: StructuredOutput = (
            settings.structured_output or StructuredOutput.JSON_SCHEMA
        )
        self.max_model_len: int | None = None

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> LLMClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def discover(self) -> None:
        """Learn the served model name, context length and server kind from `/v1/models`."""
        try:
            response = await self._http.get("/models")
        except httpx.HTTPError as exc:
            raise self._transport_error(exc, context="startup") from exc
        if response.status_code != 200:
            raise LLMBadResponse(
                f"LLM server {self.settings.base_url} answered {response.status_code} to "
                f"GET /models: {error_message(_json_or_none(response), response.text[:200])}",
                status=response.status_code,
            )

        cards = (_json_or_none(response) or {}).get("data") or []
        card = _pick_card(cards, self.model)
        if card is None:
            served = ", ".join(str(c.get("id")) for c in cards if isinstance(c, dict))
            raise LLMBadResponse(
                f"LLM server {self.settings.base_url} does not serve model {self.model!r} "
                f"(it serves: {served or 'nothing'})"
            )
        self.model = str(card["id"])
        if isinstance(card.get("max_model_len"), int):
            self.max_model_len = card["max_model_len"]
        if self.settings.structured_output is None:
            owner = card.get("owned_by")
            self.structured_output = structured_output_for_owner(
                owner if isinstance(owner, str) else None
            )
        logger.info(
            "LLM server %s serves %s (context %s, structured output via %s)",
            self.settings.base_url,
            self.model,
            self.max_model_len or "unknown",
            self.structured_output.value,
        )

    async def chat_json(
        self,
        messages: list[dict[str, str]],
        *,
        schema: dict[str, Any],
        schema_name: str,
        purpose: str,
        max_tokens: int,
        context: str,
    ) -> ChatOutcome:
        """Send one constrained chat request, retrying overload and dropped connections.

        `context` names the email in error messages. Raises an LLMError subclass whose
        `records` attribute lists every attempt, so failed calls are still stored.
        """
        if self.model is None:
            await self.discover()
        assert self.model is not None

        records: list[CallRecord] = []
        deadline = time.monotonic() + self.settings.retry_deadline_s
        for attempt in range(1, self.settings.max_attempts + 1):
            try:
                record, content = await self._send_once(
                    messages, schema, schema_name, purpose, max_tokens, context
                )
            except _AttemptFailed as failure:
                records.append(failure.record)
                error = failure.error
                retryable = isinstance(error, LLMOverloaded | LLMUnavailable)
                delay = _backoff_s(attempt, failure.retry_after_s)
                if not retryable or attempt == self.settings.max_attempts:
                    error.records = records
                    raise error from None
                if time.monotonic() + delay > deadline:
                    error.records = records
                    raise error from None
                logger.warning(
                    "%s; retrying in %.1fs (attempt %d of %d)",
                    error,
                    delay,
                    attempt + 1,
                    self.settings.max_attempts,
                )
                await asyncio.sleep(delay)
                continue
            records.append(record)
            return ChatOutcome(content=content, records=records)
        raise AssertionError("unreachable: the loop returns or raises")

    async def _send_once(
        self,
        messages: list[dict[str, str]],
        schema: dict[str, Any],
        schema_name: str,
        purpose: str,
        max_tokens: int,
        context: str,
    ) -> tuple[CallRecord, str]:
        assert self.model is not None
        request_id = uuid.uuid4().hex
        body = build_chat_request(
            model=self.model,
            messages=messages,
            schema=schema,
            schema_name=schema_name,
            structured_output=self.structured_output,
            max_tokens=max_tokens,
            temperature=self.settings.temperature,
            request_id=request_id,
        )
        record = CallRecord(
            request_id=request_id,
            server_url=self.settings.base_url,
            model=self.model,
            purpose=purpose,
            started_at=datetime.now(UTC),
            finished_at=datetime.now(UTC),
            latency_ms=0.0,
            status="failed",
            messages=messages,
            parameters={"temperature": self.settings.temperature, "max_tokens": max_tokens},
        )

        async with self.limit:
            started = time.perf_counter()
            try:
                response = await self._http.post(
                    "/chat/completions", json=body, headers={"X-Request-Id": request_id}
                )
            except httpx.HTTPError as exc:
                self._finish(record, started)
                error = self._transport_error(exc, context=context)
                record.error = str(error)
                self.limit.record(latency_s=record.latency_ms / 1000, tokens=None, overloaded=True)
                raise _AttemptFailed(record, error, None) from exc
            self._finish(record, started)

        record.http_status = response.status_code
        payload = _json_or_none(response)
        if response.status_code != 200:
            error = self._status_error(response, payload, context)
            record.error = str(error)
            overloaded = isinstance(error, LLMOverloaded)
            self.limit.record(
                latency_s=record.latency_ms / 1000, tokens=None, overloaded=overloaded
            )
            raise _AttemptFailed(record, error, _retry_after_s(response))

        content = parse_content(payload) if isinstance(payload, dict) else None
        if content is None:
            error = LLMBadResponse(
                f"LLM server {self.settings.base_url} returned a body without message content "
                f"for {context}",
                status=200,
            )
            record.error = str(error)
            raise _AttemptFailed(record, error, None)

        assert isinstance(payload, dict)
        record.status = "succeeded"
        record.response_id = payload.get("id") if isinstance(payload.get("id"), str) else None
        record.usage = parse_usage(payload)
        record.output = content
        self.limit.record(
            latency_s=record.latency_ms / 1000,
            tokens=record.usage.completion_tokens,
            overloaded=False,
        )
        return record, content

    @staticmethod
    def _finish(record: CallRecord, started: float) -> None:
        record.latency_ms = (time.perf_counter() - started) * 1000
        record.finished_at = datetime.now(UTC)

    def _transport_error(self, exc: httpx.HTTPError, *, context: str) -> LLMError:
        url = self.settings.base_url
        if isinstance(exc, httpx.ConnectError):
            return LLMUnavailable(f"LLM server {url} refused the connection ({context}): {exc}")
        if isinstance(exc, httpx.TimeoutException):
            kind = type(exc).__name__
            return LLMUnavailable(f"LLM server {url} timed out ({kind}) for {context}")
        return LLMUnavailable(f"LLM server {url} connection failed for {context}: {exc!r}")

    def _status_error(self, response: httpx.Response, payload: Any, context: str) -> LLMError:
        status = response.status_code
        text = error_message(payload, response.text[:300].strip() or response.reason_phrase)
        url = self.settings.base_url
        if status in RETRYABLE_STATUSES:
            return LLMOverloaded(
                f"LLM server {url} is overloaded ({status}) for {context}: {text}", status=status
            )
        if status == 400 and any(hint in text.lower() for hint in CONTEXT_TOO_LONG_HINTS):
            return LLMContextTooLong(
                f"LLM server {url} rejected {context}: prompt too long for the model's context "
                f"({text})",
                status=status,
            )
        return LLMBadResponse(
            f"LLM server {url} answered {status} for {context}: {text}", status=status
        )


class _AttemptFailed(Exception):
    def __init__(self, record: CallRecord, error: LLMError, retry_after_s: float | None) -> None:
        super().__init__(str(error))
        self.record = record
        self.error = error
        self.retry_after_s = retry_after_s


def _backoff_s(attempt: int, retry_after_s: float | None) -> float:
    if retry_after_s is not None:
        return min(retry_after_s, 60.0)
    # Full jitter: spreads the retries of many workers hitting one overloaded server.
    return random.uniform(0, min(30.0, 0.5 * 2**attempt))


def _retry_after_s(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _pick_card(cards: list[Any], model: str | None) -> dict[str, Any] | None:
    for card in cards:
        if isinstance(card, dict) and "id" in card and (model is None or card["id"] == model):
            return card
    return None


__all__ = ["ChatOutcome", "LLMClient", "LLMSettings", "ServerUsage"]
