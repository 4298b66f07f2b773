"""An OpenAI-compatible LLM server double for testing code that calls vLLM or llama.cpp.

    from mailsift.testing.llm import Fault, LLMServerDouble

    with LLMServerDouble(flavour="vllm") as server:
        server.script(Fault.status(503))
        client = SomeClient(base_url=server.base_url)

Responses are deterministic: a schema-constrained request gets a valid instance of its schema,
token counts are ceil(characters / 4), and an optional batching model adds GPU-like delays.
Run it standalone with `python -m mailsift.testing.llm --port 8000`.
"""

from mailsift.testing.llm.app import create_app
from mailsift.testing.llm.faults import Fault, FaultKind
from mailsift.testing.llm.instances import SchemaInstanceError, build_instance
from mailsift.testing.llm.protocol import (
    ChatRequest,
    Flavour,
    OutputMode,
    Responder,
    StructuredOutput,
    count_tokens,
)
from mailsift.testing.llm.recording import RecordedRequest
from mailsift.testing.llm.server import LLMServerDouble
from mailsift.testing.llm.state import DoubleConfig, DoubleState
from mailsift.testing.llm.timing import RequestTiming, TimingModel

__all__ = [
    "ChatRequest",
    "DoubleConfig",
    "DoubleState",
    "Fault",
    "FaultKind",
    "Flavour",
    "LLMServerDouble",
    "OutputMode",
    "RecordedRequest",
    "RequestTiming",
    "Responder",
    "SchemaInstanceError",
    "StructuredOutput",
    "TimingModel",
    "build_instance",
    "count_tokens",
    "create_app",
]
