"""A faithful Langfuse server double for tests of code that reports to Langfuse.

It serves the legacy batch route, the OTLP traces route, the read routes and health,
with the status codes, body shapes, validation, silent coercions, write modes and
asynchronous visibility of a real Langfuse server (v3.225 / v4.16), plus scripted faults.

    from mailsift.testing.langfuse import DoubleConfig, LangfuseDouble, WriteMode

    with LangfuseDouble(DoubleConfig(mode=WriteMode.DUAL)) as langfuse:
        client = make_reporter(host=langfuse.base_url, ...)
        langfuse.fail_next(503)
        ...
        assert langfuse.get_trace("trace-1") is not None

pytest fixtures live in `mailsift.testing.langfuse.fixtures`.
"""

from mailsift.testing.langfuse.config import (
    DEFAULT_V3_VERSION,
    DEFAULT_V4_VERSION,
    HEALTH_PATH,
    INGESTION_PATH,
    MAX_INGESTION_BODY_BYTES,
    OBSERVATIONS_PATH,
    OBSERVATIONS_V2_PATH,
    OTLP_TRACES_PATH,
    TRACES_PATH,
    DoubleConfig,
    KeyPair,
    WriteMode,
)
from mailsift.testing.langfuse.journal import EventOutcome, RecordedRequest
from mailsift.testing.langfuse.records import (
    ObservationRecord,
    ScoreRecord,
    TraceContext,
    TraceRecord,
)
from mailsift.testing.langfuse.server import LangfuseDouble
from mailsift.testing.langfuse.store import TelemetryStore

__all__ = [
    "DEFAULT_V3_VERSION",
    "DEFAULT_V4_VERSION",
    "HEALTH_PATH",
    "INGESTION_PATH",
    "MAX_INGESTION_BODY_BYTES",
    "OBSERVATIONS_PATH",
    "OBSERVATIONS_V2_PATH",
    "OTLP_TRACES_PATH",
    "TRACES_PATH",
    "DoubleConfig",
    "EventOutcome",
    "KeyPair",
    "LangfuseDouble",
    "ObservationRecord",
    "RecordedRequest",
    "ScoreRecord",
    "TelemetryStore",
    "TraceContext",
    "TraceRecord",
    "WriteMode",
]
