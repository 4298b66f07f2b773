"""Classify an email and extract its typed fields: markup first, then the LLM.

Flow for one email:
1. schema.org markup that covers a type's key fields is stored as it is: no LLM call.
2. Otherwise the type comes from the markup if any, else from a constrained classify call.
3. A constrained extract call fills the type's model; the reply is validated with pydantic
   even though the server was asked to follow the schema, because servers that ignore the
   constraint still answer 200.
4. An invalid reply gets one repair call that shows the model the validation error; if that
   fails too, the failure is recorded with the reason.
5. Identifiers and amounts absent from the source text are flagged, never silently kept.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from mailsift.errors import LLMError
from mailsift.extraction.grounding import check_grounding
from mailsift.extraction.markup_map import MarkupFields, fields_from_markup
from mailsift.extraction.prompts import CLASSIFY, EXTRACT, REPAIR_INSTRUCTION, Prompt, render_email
from mailsift.extraction.schemas import FIELDS_BY_TYPE, Classification, EmailType, json_schema_for
from mailsift.llm.client import LLMClient
from mailsift.llm.records import CallRecord

logger = logging.getLogger(__name__)

MARKUP_PROMPT = Prompt(name="schema.org", version="1", system="")
CLASSIFY_MAX_TOKENS = 32


@dataclass(slots=True)
class EmailForExtraction:
    identity: str
    subject: str | None
    sender: str | None
    date: str | None
    preheader: str | None
    body: str
    markup_items: list[dict[str, Any]] = field(default_factory=list)


@dataclass(slots=True)
class PromptCall:
    """An LLM call together with the prompt it was made for."""

    prompt: Prompt
    record: CallRecord


@dataclass(slots=True)
class ExtractionResult:
    email_type: EmailType | None
    prompt: Prompt
    model: str
    provenance: str
    valid: bool
    fields: dict[str, Any] | None = None
    grounding_flags: list[dict[str, str]] = field(default_factory=list)
    repaired: bool = False
    error: str | None = None
    calls: list[PromptCall] = field(default_factory=list)

    @property
    def gpu_spent(self) -> bool:
        return bool(self.calls)


class Extractor:
    def __init__(self, client: LLMClient, *, max_output_tokens: int = 512) -> None:
        self.client = client
        self.max_output_tokens = max_output_tokens

    async def extract(self, email: EmailForExtraction) -> ExtractionResult:
        markup = fields_from_markup(email.markup_items)
        if markup is not None and markup.complete:
            return self._from_markup(email, markup)

        calls: list[PromptCall] = []
        user_message = render_email(
            subject=email.subject,
            sender=email.sender,
            date=email.date,
            preheader=email.preheader,
            body=email.body,
            markup_hint=json.dumps(markup.fields, default=str) if markup else None,
        )
        try:
            if markup is not None:
                email_type = markup.email_type
            else:
                email_type = await self._classify(email, user_message, calls)
            return await self._extract_fields(email, email_type, user_message, markup, calls)
        except _StageFailed as failure:
            return ExtractionResult(
                email_type=markup.email_type if markup else None,
                prompt=failure.prompt,
                model=self.client.model or "unknown",
                provenance="llm",
                valid=False,
                error=str(failure.error),
                calls=calls,
            )

    def _from_markup(self, email: EmailForExtraction, markup: MarkupFields) -> ExtractionResult:
        model = FIELDS_BY_TYPE[markup.email_type]
        try:
            fields = model.model_validate(markup.fields).model_dump(mode="json")
        except ValidationError as exc:
            return ExtractionResult(
                email_type=markup.email_type,
                prompt=MARKUP_PROMPT,
                model="none",
                provenance="schema.org",
                valid=False,
                error=f"schema.org {markup.schema_type} does not fit: {_first_error(exc)}",
            )
        logger.debug("%s: %s taken from schema.org markup", email.identity, markup.schema_type)
        return ExtractionResult(
            email_type=markup.email_type,
            prompt=MARKUP_PROMPT,
            model="none",
            provenance="schema.org",
            valid=True,
            fields=fields,
            grounding_flags=check_grounding(fields, _source_text(email)),
        )

    async def _classify(
        self, email: EmailForExtraction, user_message: str, calls: list[PromptCall]
    ) -> EmailType:
        parsed, _ = await self._ask_valid(
            CLASSIFY, Classification, user_message, email, calls, CLASSIFY_MAX_TOKENS
        )
        if parsed is None:
            # A classification that stays invalid after repair is not worth failing the
            # email for: "other" still gets a summary extracted.
            logger.warning("%s: classification invalid after repair; using 'other'", email.identity)
            return EmailType.OTHER
        assert isinstance(parsed, Classification)
        return parsed.email_type

    async def _extract_fields(
        self,
        email: EmailForExtraction,
        email_type: EmailType,
        user_message: str,
        markup: MarkupFields | None,
        calls: list[PromptCall],
    ) -> ExtractionResult:
        prompt = EXTRACT[email_type]
        model = FIELDS_BY_TYPE[email_type]
        parsed, error = await self._ask_valid(
            prompt, model, user_message, email, calls, self.max_output_tokens
        )
        result = ExtractionResult(
            email_type=email_type,
            prompt=prompt,
            model=self.client.model or "unknown",
            provenance="schema.org+llm" if markup else "llm",
            valid=parsed is not None,
            repaired=sum(1 for c in calls if c.prompt is prompt) > 1 and parsed is not None,
            error=error,
            calls=calls,
        )
        if parsed is None:
            return result

        fields = parsed.model_dump(mode="json")
        if markup is not None:
            fields.update(markup.fields)
        result.fields = fields
        result.grounding_flags = check_grounding(fields, _source_text(email))
        return result

    async def _ask_valid(
        self,
        prompt: Prompt,
        model: type[BaseModel],
        user_message: str,
        email: EmailForExtraction,
        calls: list[PromptCall],
        max_tokens: int,
    ) -> tuple[BaseModel | None, str | None]:
        """Ask once, and once more with the validation error; return the model or the error."""
        messages = [
            {"role": "system", "content": prompt.system},
            {"role": "user", "content": user_message},
        ]
        schema = json_schema_for(model)
        error: str | None = None
        for purpose in ("extract" if prompt is not CLASSIFY else "classify", "repair"):
            try:
                outcome = await self.client.chat_json(
                    messages,
                    schema=schema,
                    schema_name=prompt.name,
                    purpose=purpose,
                    max_tokens=max_tokens,
                    context=f"email {email.identity}",
                )
            except LLMError as exc:
                calls.extend(PromptCall(prompt, record) for record in exc.records)
                raise _StageFailed(prompt, exc) from exc
            calls.extend(PromptCall(prompt, record) for record in outcome.records)
            try:
                return _validate_reply(model, outcome.content), None
            except ValueError as exc:
                error = _first_error(exc) if isinstance(exc, ValidationError) else str(exc)
                logger.info("%s: %s reply invalid (%s)", email.identity, prompt.name, error)
            messages = [
                *messages,
                {"role": "assistant", "content": outcome.content[:4000]},
                {"role": "user", "content": REPAIR_INSTRUCTION.format(error=error)},
            ]
        return None, f"{prompt.name} output invalid after one repair attempt: {error}"


class _StageFailed(Exception):
    """An LLM error, tagged with the prompt whose call failed."""

    def __init__(self, prompt: Prompt, error: LLMError) -> None:
        super().__init__(str(error))
        self.prompt = prompt
        self.error = error


def _validate_reply(model: type[BaseModel], content: str) -> BaseModel:
    """Parse and validate a reply; raise ValueError (or ValidationError) saying what is wrong.

    Raw control characters inside strings are tolerated: small models behind grammar-based
    decoders emit literal newlines in values, and the data is otherwise intact.
    """
    try:
        decoded = json.loads(content, strict=False)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"reply is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    return model.model_validate(decoded)


def _first_error(exc: ValidationError) -> str:
    errors = exc.errors(include_url=False)
    if not errors:
        return str(exc)
    first = errors[0]
    location = ".".join(str(part) for part in first.get("loc", ())) or "(root)"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{location}: {first.get('msg')}{more}"


def _source_text(email: EmailForExtraction) -> str:
    parts = [email.subject or "", email.preheader or "", email.body]
    parts.extend(json.dumps(item, default=str) for item in email.markup_items)
    return "\n".join(parts)
