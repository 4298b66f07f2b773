"""Structured-output field handling per flavour, seen through HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import jsonschema
import pytest

from mailsift.testing.llm import ChatRequest, Flavour, LLMServerDouble

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "subject": {"type": "string"},
        "priority": {"enum": ["low", "normal", "high"]},
        "amount": {"anyOf": [{"type": "number"}, {"type": "null"}]},
    },
    "required": ["subject", "priority", "amount"],
    "additionalProperties": False,
}
MESSAGES = [{"role": "user", "content": "Extract the fields from this email."}]

# The structured-output fields a client may send, as request body fragments.
JSON_SCHEMA_FORMAT = {
    "response_format": {
        "type": "json_schema",
        "json_schema": {"name": "email", "schema": SCHEMA, "strict": True},
    }
}
JSON_OBJECT_WITH_SCHEMA = {"response_format": {"type": "json_object", "schema": SCHEMA}}
STRUCTURED_OUTPUTS = {"structured_outputs": {"json": SCHEMA}}
STRUCTURED_OUTPUTS_STRING = {"structured_outputs": {"json": json.dumps(SCHEMA)}}
GUIDED_JSON = {"guided_json": SCHEMA}
NATIVE_JSON_SCHEMA = {"json_schema": SCHEMA}

# (flavour, request fragment, whether the content must follow SCHEMA)
CONSTRAINT_CASES = [
    (Flavour.VLLM, JSON_SCHEMA_FORMAT, True),
    (Flavour.VLLM, STRUCTURED_OUTPUTS, True),
    (Flavour.VLLM, STRUCTURED_OUTPUTS_STRING, True),
    (Flavour.VLLM, GUIDED_JSON, False),
    (Flavour.VLLM, JSON_OBJECT_WITH_SCHEMA, False),
    (Flavour.LLAMA_CPP_PYTHON, JSON_OBJECT_WITH_SCHEMA, True),
    (Flavour.LLAMA_CPP_PYTHON, STRUCTURED_OUTPUTS, False),
    (Flavour.LLAMA_CPP, JSON_SCHEMA_FORMAT, True),
    (Flavour.LLAMA_CPP, JSON_OBJECT_WITH_SCHEMA, True),
    (Flavour.LLAMA_CPP, NATIVE_JSON_SCHEMA, True),
    (Flavour.LLAMA_CPP, GUIDED_JSON, False),
]


def test_llama_cpp_python_rejects_json_schema_type(servers):
    # llama-cpp-python 0.3.36 types response_format.type as "text" | "json_object" and wraps
    # the validation error in a 500, which is what its real server answered here.
    response = post_chat(servers[Flavour.LLAMA_CPP_PYTHON], **JSON_SCHEMA_FORMAT)

    assert response.status_code == 500
    assert "Input should be 'text' or 'json_object'" in response.json()["error"]["message"]


def follows_schema(content: str) -> bool:
    try:
        document = json.loads(content)
    except json.JSONDecodeError:
        return False
    return bool(jsonschema.validators.validator_for(SCHEMA)(SCHEMA).is_valid(document))


def post_chat(server: LLMServerDouble, **fields: Any) -> httpx.Response:
    body = {"model": server.config.model, "messages": MESSAGES, **fields}
    return httpx.post(f"{server.base_url}/chat/completions", json=body, timeout=10)


def content_of(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    content = response.json()["choices"][0]["message"]["content"]
    assert isinstance(content, str)
    return content


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[Flavour, LLMServerDouble]]:
    doubles = {flavour: LLMServerDouble(flavour=flavour) for flavour in Flavour}
    for double in doubles.values():
        double.start()
    yield doubles
    for double in doubles.values():
        double.stop()


@pytest.mark.parametrize(("flavour", "fragment", "constrained"), CONSTRAINT_CASES)
def test_flavour_constrains_or_ignores(
    servers: dict[Flavour, LLMServerDouble],
    flavour: Flavour,
    fragment: dict[str, Any],
    constrained: bool,
) -> None:
    response = post_chat(servers[flavour], **fragment)

    assert follows_schema(content_of(response)) is constrained


def test_guided_json_silently_ignored_on_vllm(llm_server_double: LLMServerDouble) -> None:
    response = post_chat(llm_server_double, **GUIDED_JSON)

    assert response.status_code == 200
    content = content_of(response)
    assert not follows_schema(content)
    with pytest.raises(json.JSONDecodeError):
        json.loads(content)


def test_schema_answer_is_exact(llm_server_double: LLMServerDouble) -> None:
    response = post_chat(llm_server_double, **JSON_SCHEMA_FORMAT)

    assert json.loads(content_of(response)) == {
        "subject": "example subject",
        "priority": "low",
        "amount": 1.5,
    }


@pytest.mark.parametrize("flavour", list(Flavour))
def test_json_object_gives_object(
    servers: dict[Flavour, LLMServerDouble], flavour: Flavour
) -> None:
    response = post_chat(servers[flavour], response_format={"type": "json_object"})

    assert isinstance(json.loads(content_of(response)), dict)


def test_vllm_response_format_beats_structured_outputs(
    llm_server_double: LLMServerDouble,
) -> None:
    other_schema = {"type": "object", "properties": {"other": {"type": "integer"}}}

    response = post_chat(
        llm_server_double, **JSON_SCHEMA_FORMAT, structured_outputs={"json": other_schema}
    )

    assert follows_schema(content_of(response))


def test_vllm_choice_returns_first_option(llm_server_double: LLMServerDouble) -> None:
    response = post_chat(llm_server_double, structured_outputs={"choice": ["spam", "ham"]})

    assert content_of(response) == "spam"


def test_vllm_regex_rejected(llm_server_double: LLMServerDouble) -> None:
    response = post_chat(llm_server_double, structured_outputs={"regex": "[a-z]+"})

    assert response.status_code == 400
    assert "structured_outputs.regex" in response.json()["error"]["message"]


def test_ignore_schema_flag_unconstrains(llm_server_double: LLMServerDouble) -> None:
    llm_server_double.ignore_schema = True

    response = post_chat(llm_server_double, **JSON_SCHEMA_FORMAT)

    assert not follows_schema(content_of(response))
    llm_server_double.ignore_schema = False
    assert follows_schema(content_of(post_chat(llm_server_double, **JSON_SCHEMA_FORMAT)))


def test_responder_supplies_content(llm_server_double: LLMServerDouble) -> None:
    seen: list[ChatRequest] = []

    def responder(request: ChatRequest) -> str | None:
        seen.append(request)
        if request.last_user_message == "use the default":
            return None
        return json.dumps({"subject": "Invoice 42", "priority": "high", "amount": 99.5})

    llm_server_double.responder = responder

    custom = post_chat(llm_server_double, **JSON_SCHEMA_FORMAT)
    fallback = post_chat(
        llm_server_double,
        **JSON_SCHEMA_FORMAT,
        messages=[{"role": "user", "content": "use the default"}],
    )

    assert json.loads(content_of(custom))["subject"] == "Invoice 42"
    assert json.loads(content_of(fallback))["subject"] == "example subject"
    assert seen[0].schema == SCHEMA
    assert seen[0].output.source == "response_format.json_schema"
    assert seen[0].headers["content-type"] == "application/json"


def test_responder_error_gives_500(llm_server_double: LLMServerDouble) -> None:
    def responder(request: ChatRequest) -> str | None:
        raise KeyError("no canned answer")

    llm_server_double.responder = responder

    response = post_chat(llm_server_double)

    assert response.status_code == 500
    assert "KeyError" in response.json()["error"]["message"]


def test_stream_rejected(llm_server_double: LLMServerDouble) -> None:
    response = post_chat(llm_server_double, stream=True)

    assert response.status_code == 400
    assert "streaming is not supported" in response.json()["error"]["message"]
