from mailsift.llm.wire import (
    StructuredOutput,
    build_chat_request,
    error_message,
    parse_content,
    parse_usage,
    structured_output_for_owner,
)

SCHEMA = {"type": "object", "properties": {"a": {"type": "string"}}}


def _request(mode: StructuredOutput) -> dict:
    return build_chat_request(
        model="m",
        messages=[{"role": "user", "content": "x"}],
        schema=SCHEMA,
        schema_name="extract-order",
        structured_output=mode,
        max_tokens=64,
        temperature=0.0,
        request_id="r1",
    )


def test_json_schema_request_uses_response_format():
    body = _request(StructuredOutput.JSON_SCHEMA)

    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["schema"] == SCHEMA
    assert "guided_json" not in body


def test_llama_cpp_python_request_uses_json_object_schema():
    body = _request(StructuredOutput.JSON_OBJECT_SCHEMA)

    assert body["response_format"] == {"type": "json_object", "schema": SCHEMA}


def test_owner_me_selects_json_object():
    assert structured_output_for_owner("me") is StructuredOutput.JSON_OBJECT_SCHEMA
    assert structured_output_for_owner("vllm") is StructuredOutput.JSON_SCHEMA
    assert structured_output_for_owner(None) is StructuredOutput.JSON_SCHEMA


def test_usage_missing_values_stay_none():
    usage = parse_usage({"usage": {"prompt_tokens": 10}})

    assert usage.prompt_tokens == 10
    assert usage.completion_tokens is None
    assert usage.cached_tokens is None
    assert usage.prefill_ms is None


def test_usage_reads_llama_cpp_timings():
    body = {
        "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
        "timings": {"prompt_ms": 12.5, "predicted_ms": 40.0, "cache_n": 2},
    }

    usage = parse_usage(body)

    assert usage.prefill_ms == 12.5
    assert usage.decode_ms == 40.0
    assert usage.cached_tokens == 2
    assert usage.queue_ms is None


def test_usage_reads_vllm_metrics():
    body = {
        "usage": {
            "prompt_tokens": 5,
            "completion_tokens": 3,
            "total_tokens": 8,
            "prompt_tokens_details": None,
        },
        "metrics": {
            "queue_time_ms": 3.0,
            "time_to_first_token_ms": 9.0,
            "generation_time_ms": 30.0,
        },
    }

    usage = parse_usage(body)

    assert (usage.queue_ms, usage.prefill_ms, usage.decode_ms) == (3.0, 9.0, 30.0)
    assert usage.cached_tokens is None


def test_content_and_error_shapes():
    assert parse_content({"choices": [{"message": {"content": "{}"}}]}) == "{}"
    assert parse_content({"choices": []}) is None
    assert error_message({"error": {"message": "too long"}}, "x") == "too long"
    assert error_message({"object": "error", "message": "old shape"}, "x") == "old shape"
    assert error_message("nonsense", "fallback") == "fallback"
