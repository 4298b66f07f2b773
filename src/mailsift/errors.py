"""mailsift's exception tree.

Every error that crosses a module boundary is one of these, so callers catch a small,
documented set and third-party errors (httpx, SQLAlchemy, email) never leak raw:

    MailsiftError
    ├── ConfigError            invalid or missing setting; the CLI exits with code 2
    ├── SourceError            a mail source (folder, mbox, Maildir) cannot be read
    ├── MessageRejected        one message breaks a parser limit (size, depth, parts, time)
    ├── LLMError               a call to the LLM server failed
    │   ├── LLMUnavailable     connection refused, DNS, timeout: the server is not answering
    │   ├── LLMOverloaded      503 or 429: the server is up but shedding load
    │   ├── LLMContextTooLong  400 because the prompt does not fit the model's context
    │   └── LLMBadResponse     any other non-2xx, or a body that is not a chat completion
    └── ExtractionFailed       the model's output stayed invalid after the repair attempt

Messages name the input (email identity, server URL, file) and what is wrong, in one line.
"""

from __future__ import annotations

from typing import Any


class MailsiftError(Exception):
    """Base class of every error mailsift raises on purpose."""


class ConfigError(MailsiftError):
    """An invalid or missing setting."""


class SourceError(MailsiftError):
    """A mail source that cannot be opened or listed."""


class MessageRejected(MailsiftError):
    """A message that breaks one of the parser's limits and is not parsed."""

    def __init__(self, reason: str, limit: str) -> None:
        super().__init__(reason)
        self.limit = limit


class LLMError(MailsiftError):
    """A failed call to the OpenAI-compatible server."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        # Every HTTP attempt made for this call, failed ones included, so they can be stored.
        self.records: list[Any] = []


class LLMUnavailable(LLMError):
    """The server refused the connection, timed out, or could not be resolved."""


class LLMOverloaded(LLMError):
    """The server answered 503 or 429."""


class LLMContextTooLong(LLMError):
    """The prompt plus the requested completion exceed the model's context length."""


class LLMBadResponse(LLMError):
    """A non-2xx status other than the above, or a body that is not a chat completion."""


class ExtractionFailed(MailsiftError):
    """The model's output stayed invalid after the repair attempt."""
