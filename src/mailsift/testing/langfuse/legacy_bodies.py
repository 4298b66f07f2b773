"""Schemas of the batch route's events, as the server's zod definitions enforce them.

Where the server's zod and the OpenAPI file disagree, these follow the server as of
v4.16.0:
- `body.id` is required on span, generation and event bodies, although the OpenAPI marks
  it optional;
- datetimes need seconds and a zone;
- the seven `*-create` types for agent, tool, chain, retriever, evaluator, embedding and
  guardrail observations exist, although the OpenAPI union lacks them;
- `observation-*` bodies allow only GENERATION, SPAN and EVENT and carry no environment;
- `promptName` and `promptVersion` come together or not at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mailsift.testing.langfuse.schema import (
    MISSING,
    Issues,
    Validator,
    any_value,
    boolean,
    entity_id,
    enum,
    integer,
    nullish,
    number,
    required,
    strict_datetime,
    string,
    string_array,
    validate_object,
)
from mailsift.testing.langfuse.usage import (
    cost_details,
    environment,
    legacy_usage,
    model_parameters,
    usage_details,
)

LEVELS = ("DEBUG", "DEFAULT", "WARNING", "ERROR")
SCORE_DATA_TYPES = ("NUMERIC", "CATEGORICAL", "BOOLEAN", "CORRECTION", "TEXT")
MAX_TEXT_SCORE_LENGTH = 500

TRACE_FIELDS: Mapping[str, Validator] = {
    "id": nullish(entity_id()),
    "timestamp": nullish(strict_datetime()),
    "name": nullish(string(max_length=1000)),
    "userId": nullish(string()),
    "sessionId": nullish(string()),
    "release": nullish(string()),
    "version": nullish(string()),
    "input": any_value(),
    "output": any_value(),
    "metadata": any_value(),
    "tags": nullish(string_array()),
    "public": nullish(boolean()),
    "environment": environment(),
}

_OBSERVATION_COMMON: Mapping[str, Validator] = {
    "id": required(entity_id()),
    "traceId": nullish(entity_id()),
    "parentObservationId": nullish(string()),
    "name": nullish(string()),
    "startTime": nullish(strict_datetime()),
    "metadata": any_value(),
    "input": any_value(),
    "output": any_value(),
    "level": nullish(enum(*LEVELS)),
    "statusMessage": nullish(string()),
    "version": nullish(string()),
    "environment": environment(),
}
EVENT_FIELDS: Mapping[str, Validator] = _OBSERVATION_COMMON
SPAN_FIELDS: Mapping[str, Validator] = {
    **_OBSERVATION_COMMON,
    "endTime": nullish(strict_datetime()),
}
_GENERATION_EXTRA: Mapping[str, Validator] = {
    "completionStartTime": nullish(strict_datetime()),
    "model": nullish(string()),
    "modelParameters": nullish(model_parameters()),
    "usage": nullish(legacy_usage()),
    "usageDetails": nullish(usage_details()),
    "costDetails": nullish(cost_details()),
}
GENERATION_FIELDS: Mapping[str, Validator] = {
    **SPAN_FIELDS,
    **_GENERATION_EXTRA,
    "promptName": nullish(string()),
    "promptVersion": nullish(integer()),
}
# observation-create/update: an optional id (a missing one is dropped after the 201),
# a required type, and no environment or prompt fields.
LEGACY_OBSERVATION_FIELDS: Mapping[str, Validator] = {
    **{key: value for key, value in SPAN_FIELDS.items() if key != "environment"},
    **_GENERATION_EXTRA,
    "id": nullish(entity_id()),
    "type": required(enum("GENERATION", "SPAN", "EVENT")),
}
SCORE_FIELDS: Mapping[str, Validator] = {
    "id": nullish(entity_id()),
    "name": required(string(min_length=1)),
    "value": required(lambda value, path, issues: _score_value(value, path, issues)),
    "dataType": nullish(enum(*SCORE_DATA_TYPES)),
    "traceId": nullish(string()),
    "sessionId": nullish(string()),
    "datasetRunId": nullish(string()),
    "observationId": nullish(string()),
    "comment": nullish(string()),
    "metadata": any_value(),
    "environment": environment(),
    "source": nullish(enum("API", "EVAL", "ANNOTATION")),
    "configId": nullish(string()),
    "queueId": nullish(string()),
    "executionTraceId": nullish(string()),
}
SDK_LOG_FIELDS: Mapping[str, Validator] = {
    "log": required(lambda value, path, issues: _non_null(value, path, issues)),
    "id": nullish(string()),
}

# Observation type stored for each event type that writes an observation.
OBSERVATION_EVENT_TYPES: Mapping[str, str] = {
    "span-create": "SPAN",
    "span-update": "SPAN",
    "generation-create": "GENERATION",
    "generation-update": "GENERATION",
    "event-create": "EVENT",
    "agent-create": "AGENT",
    "tool-create": "TOOL",
    "chain-create": "CHAIN",
    "retriever-create": "RETRIEVER",
    "evaluator-create": "EVALUATOR",
    "embedding-create": "EMBEDDING",
    "guardrail-create": "GUARDRAIL",
}
_GENERATION_BODY_TYPES = (
    "generation-create",
    "generation-update",
    "agent-create",
    "tool-create",
    "chain-create",
    "retriever-create",
    "evaluator-create",
    "embedding-create",
    "guardrail-create",
)
BODY_FIELDS: Mapping[str, Mapping[str, Validator]] = {
    "trace-create": TRACE_FIELDS,
    "span-create": SPAN_FIELDS,
    "span-update": SPAN_FIELDS,
    "event-create": EVENT_FIELDS,
    **dict.fromkeys(_GENERATION_BODY_TYPES, GENERATION_FIELDS),
    "observation-create": LEGACY_OBSERVATION_FIELDS,
    "observation-update": LEGACY_OBSERVATION_FIELDS,
    "score-create": SCORE_FIELDS,
    "sdk-log": SDK_LOG_FIELDS,
}
DATASET_RUN_ITEM_TYPE = "dataset-run-item-create"
KNOWN_EVENT_TYPES = (*BODY_FIELDS, DATASET_RUN_ITEM_TYPE)


@dataclass(frozen=True)
class ValidatedEvent:
    """One event that passed validation, with its body normalised."""

    event_id: str
    event_type: str
    timestamp: datetime
    body: dict[str, Any]

    @property
    def entity(self) -> str:
        """Entity the event writes: trace, observation, score or sdk-log."""
        if self.event_type == "trace-create":
            return "trace"
        if self.event_type == "score-create":
            return "score"
        if self.event_type == "sdk-log":
            return "sdk-log"
        return "observation"

    @property
    def observation_type(self) -> str | None:
        if self.event_type in ("observation-create", "observation-update"):
            return str(self.body["type"])
        return OBSERVATION_EVENT_TYPES.get(self.event_type)

    @property
    def entity_id(self) -> str | None:
        """The `body.id` that the store upserts by."""
        value = self.body.get("id")
        return value if isinstance(value, str) else None


def validate_body(event_type: str, body: Any, issues: Issues) -> dict[str, Any]:
    """Validate and normalise the body of a known event type."""
    fields = BODY_FIELDS[event_type]
    normalised = validate_object(body, fields, ("body",), issues)

    if fields is LEGACY_OBSERVATION_FIELDS:
        # The legacy observation schema has no environment, so it always ends up default.
        normalised["environment"] = "default"
    if fields is GENERATION_FIELDS:
        _check_prompt_pair(normalised, issues)
    if fields is SCORE_FIELDS and not issues:
        _check_score_rules(normalised, issues)
    return normalised


def _check_prompt_pair(body: dict[str, Any], issues: Issues) -> None:
    has_name = body.get("promptName") is not None
    has_version = body.get("promptVersion") is not None
    if has_name != has_version:
        message = "promptName and promptVersion must be provided together or both omitted"
        issues.add(("body",), "custom", message)


def _check_score_rules(body: dict[str, Any], issues: Issues) -> None:
    targets = [key for key in ("traceId", "sessionId", "datasetRunId") if body.get(key) is not None]
    if len(targets) != 1:
        message = "Exactly one of traceId, sessionId or datasetRunId must be provided"
        issues.add(("body",), "custom", message)
    if body.get("observationId") is not None and body.get("traceId") is None:
        issues.add(("body", "observationId"), "custom", "observationId requires traceId")

    value, data_type = body["value"], body.get("dataType")
    is_number = isinstance(value, int | float)
    if data_type == "NUMERIC" and not is_number:
        issues.add(("body", "value"), "custom", "NUMERIC scores require a numeric value")
    elif data_type == "BOOLEAN" and (not is_number or value not in (0, 1)):
        issues.add(("body", "value"), "custom", "BOOLEAN scores require a value of 0 or 1")
    elif data_type in ("CATEGORICAL", "CORRECTION") and not isinstance(value, str):
        issues.add(("body", "value"), "custom", f"{data_type} scores require a string value")
    elif data_type == "TEXT" and (
        not isinstance(value, str) or not 1 <= len(value) <= MAX_TEXT_SCORE_LENGTH
    ):
        message = f"TEXT scores require a string of 1 to {MAX_TEXT_SCORE_LENGTH} characters"
        issues.add(("body", "value"), "custom", message)


def _score_value(value: Any, path: tuple[str | int, ...], issues: Issues) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return number()(value, path, issues)
    return value


def _non_null(value: Any, path: tuple[str | int, ...], issues: Issues) -> Any:
    if value is None or value is MISSING:
        issues.invalid_type(path, "JSON", value)
        return MISSING
    return value
