"""The chat completion behaviour of the double, independent of the HTTP framework.

Order of work for one request: take the next scripted fault, validate the body, choose the
constraint the flavour applies, check the context length, produce the content, then wait for
the batching model to "generate" it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mailsift.testing.llm.answers import (
    INVALID_JSON_ANSWER,
    render_default_answer,
    render_schema_violation,
)
from mailsift.testing.llm.faults import Fault, FaultKind
from mailsift.testing.llm.instances import SchemaInstanceError
from mailsift.testing.llm.protocol import (
    CHARS_PER_TOKEN,
    ChatRequest,
    Flavour,
    InvalidRequest,
    count_tokens,
    select_structured_output,
)
from mailsift.testing.llm.replies import (
    TokenUsage,
    chat_completion_body,
    context_overflow_body,
    error_body,
)
from mailsift.testing.llm.state import DoubleState
from mailsift.testing.llm.timing import BatchScheduler, QueueFull

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChatOutcome:
    """The reply for the HTTP layer: a status and JSON body, or no body to drop the connection."""

    status_code: int
    body: dict[str, Any] | None
    headers: dict[str, str] = field(default_factory=dict)


DROP_CONNECTION = ChatOutcome(status_code=0, body=None)


class ChatHandler:
    """Chat completion logic of one double."""

    def __init__(self, state: DoubleState, scheduler: BatchScheduler) -> None:
        self._state = state
        self._scheduler = scheduler
        self._flavour = state.config.flavour

    async def complete(self, raw_body: bytes, headers: Mapping[str, str]) -> ChatOutcome:
        """Handle one POST /v1/chat/completions; `headers` have lower-case names."""
        fault = self._state.faults.pop()
        if fault is not None:
            logger.info("applying scripted fault %s", fault.kind.value)
            if fault.kind is FaultKind.DELAY:
                await asyncio.sleep(fault.delay_s)
            elif fault.kind is FaultKind.STATUS:
                return self._scripted_error(fault)
            elif fault.kind is FaultKind.CLOSE_CONNECTION:
                return DROP_CONNECTION

        try:
            request, max_tokens = self._parse(raw_body, headers)
        except InvalidRequest as error:
            return self._error(error.status, str(error))

        # vLLM serves only its configured name; the llama.cpp servers ignore the field.
        model = request.body.get("model")
        unknown_model = model is not None and model != self._state.config.model
        if self._flavour is Flavour.VLLM and unknown_model:
            return self._error(404, f"The model `{model}` does not exist.", param="model")

        prompt = request.prompt_text
        prompt_tokens = count_tokens(prompt)
        overflow = context_overflow_body(
            self._flavour,
            max_model_len=self._state.config.max_model_len,
            prompt_tokens=prompt_tokens,
            max_tokens=max_tokens,
        )
        if overflow is not None:
            return ChatOutcome(400, overflow)

        try:
            content, finish_reason = self._content(request, fault)
        except SchemaInstanceError as error:
            message = f"The LLM server double cannot build content for this schema: {error}"
            return self._error(400, message)
        except Exception as error:
            # A responder is test code, so its bug becomes a 500 that the test sees.
            logger.exception("responder raised for a chat completion request")
            return self._error(500, f"responder raised {type(error).__name__}: {error}")

        content_tokens = max(1, count_tokens(content))
        if max_tokens is not None and content_tokens > max_tokens:
            content = content[: max_tokens * CHARS_PER_TOKEN]
            content_tokens = max_tokens
            finish_reason = "length"

        completion_tokens = self._state.config.timing.completion_tokens or content_tokens
        if max_tokens is not None:
            completion_tokens = min(completion_tokens, max_tokens)

        cached_tokens = self._state.take_cached_tokens(prompt, prompt_tokens)
        try:
            timing = await self._scheduler.generate(
                prompt_tokens - cached_tokens, completion_tokens
            )
        except QueueFull as error:
            logger.warning("rejecting chat completion request: %s", error)
            return self._error(503, f"The server is overloaded: {error}. Retry later.")

        reply = chat_completion_body(
            flavour=self._flavour,
            completion_id=self._completion_id(request),
            created=int(time.time()),
            model=self._state.config.model,
            content=content,
            finish_reason=finish_reason,
            usage=TokenUsage(prompt_tokens, completion_tokens, cached_tokens),
            timing=timing,
            per_request_metrics=self._state.config.per_request_metrics,
        )
        return ChatOutcome(200, reply)

    def _parse(self, raw_body: bytes, headers: Mapping[str, str]) -> tuple[ChatRequest, int | None]:
        try:
            body = json.loads(raw_body)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise InvalidRequest(f"the request body is not valid JSON: {error}") from error
        if not isinstance(body, dict):
            raise InvalidRequest("the request body must be a JSON object")

        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise InvalidRequest("`messages` must be a non-empty list of message objects")
        if not all(isinstance(message, dict) for message in messages):
            raise InvalidRequest("every entry of `messages` must be an object")

        # Features the double does not produce are rejected, so no test passes on a silent
        # downgrade.
        if body.get("stream"):
            raise InvalidRequest(
                "streaming is not supported by the LLM server double; send stream=false"
            )
        if body.get("n", 1) != 1:
            raise InvalidRequest(f"n={body['n']!r} is not supported by the double; send n=1")
        if body.get("tools"):
            raise InvalidRequest(
                "tool calling is not supported by the LLM server double; use response_format"
            )

        # max_completion_tokens replaced max_tokens in the OpenAI API; both are accepted.
        max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
        valid_count = isinstance(max_tokens, int) and not isinstance(max_tokens, bool)
        if max_tokens is not None and (not valid_count or max_tokens < 1):
            raise InvalidRequest(f"max_tokens must be a positive integer, got {max_tokens!r}")

        output = select_structured_output(
            self._flavour, body, ignore_schema=self._state.ignore_schema
        )
        request = ChatRequest(
            flavour=self._flavour, body=body, headers=headers, output=output, messages=messages
        )
        return request, max_tokens

    def _content(self, request: ChatRequest, fault: Fault | None) -> tuple[str, str]:
        if fault is not None and fault.kind is FaultKind.INVALID_JSON:
            return (fault.content or INVALID_JSON_ANSWER), "length"
        if fault is not None and fault.kind is FaultKind.SCHEMA_VIOLATION:
            return render_schema_violation(request.schema), "stop"

        responder = self._state.responder
        if responder is not None:
            content = responder(request)
            if content is not None:
                return content, "stop"

        return render_default_answer(request.output), "stop"

    def _completion_id(self, request: ChatRequest) -> str:
        # vLLM builds the id from the client's request id, so logs can be correlated.
        if self._flavour is Flavour.VLLM:
            client_id = request.body.get("request_id") or request.headers.get("x-request-id")
            if isinstance(client_id, str) and client_id:
                return f"chatcmpl-{client_id}"
        return f"chatcmpl-{uuid.uuid4().hex}"

    def _scripted_error(self, fault: Fault) -> ChatOutcome:
        assert fault.status_code is not None and fault.message is not None
        headers = {}
        if fault.retry_after_s is not None:
            headers["retry-after"] = str(fault.retry_after_s)

        body = error_body(
            self._flavour,
            fault.status_code,
            fault.message,
            error_type=fault.error_type,
            param=fault.param,
        )
        return ChatOutcome(fault.status_code, body, headers)

    def _error(self, status_code: int, message: str, *, param: str | None = None) -> ChatOutcome:
        logger.debug("responding with status %d: %s", status_code, message)
        return ChatOutcome(
            status_code, error_body(self._flavour, status_code, message, param=param)
        )
