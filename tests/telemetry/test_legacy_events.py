"""Every legacy ingestion event the builders can produce, checked against Langfuse's spec."""

from __future__ import annotations

from datetime import datetime

import pytest

from mailsift.telemetry.exporters.legacy_events import iso, span_events

from .openapi_spec import STRICT_DATETIME, validate_event

FORBIDDEN_KEYS = {"promptTokens", "completionTokens", "totalTokens", "completion", "usage"}


def _all_events(spans):
    return [event for span in spans for event in span_events(span)]


def _walk_keys(value):
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _walk_keys(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk_keys(item)


def test_events_validate_against_openapi(sample_spans):
    events = _all_events(sample_spans)

    kinds = {event["type"] for event in events}
    assert kinds == {"trace-create", "span-create", "generation-create"}
    for event in events:
        validate_event(event)


def test_envelope_separate_from_body(sample_spans):
    events = _all_events(sample_spans)

    ids = [event["id"] for event in events]
    assert len(ids) == len(set(ids))
    for event in events:
        assert set(event) == {"id", "timestamp", "type", "body"}
        assert STRICT_DATETIME.match(event["timestamp"])
        assert event["body"]["id"] != event["id"]


def test_builders_never_emit_flat_usage_or_completion(sample_spans):
    keys = set(_walk_keys([event["body"] for event in _all_events(sample_spans)]))

    assert not keys & FORBIDDEN_KEYS
    generations = [e for e in _all_events(sample_spans) if e["type"] == "generation-create"]
    assert generations
    for event in generations:
        usage = event["body"]["usageDetails"]
        assert usage and all(isinstance(v, int) and v >= 0 for v in usage.values())
        assert isinstance(event["body"]["promptVersion"], int)
        assert event["body"]["output"]


def test_event_ids_stable_across_rebuilds(sample_spans):
    first = [event["id"] for event in _all_events(sample_spans)]
    second = [event["id"] for event in _all_events(sample_spans)]

    assert first == second


def test_naive_datetime_never_leaves():
    with pytest.raises(ValueError, match="naive"):
        iso(datetime(2026, 12, 4, 12, 0, 0))
