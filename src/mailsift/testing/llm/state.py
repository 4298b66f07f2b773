"""Configuration and the state shared between a test's thread and the double's server thread."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from mailsift.testing.llm.faults import FaultScript
from mailsift.testing.llm.protocol import CHARS_PER_TOKEN, Flavour, Responder
from mailsift.testing.llm.recording import RequestLog
from mailsift.testing.llm.timing import TimingModel

DEFAULT_MODEL = "mailsift-test-model"
DEFAULT_MAX_MODEL_LEN = 8192


@dataclass(frozen=True)
class DoubleConfig:
    """Settings fixed for the lifetime of one double."""

    flavour: Flavour = Flavour.VLLM
    model: str = DEFAULT_MODEL
    max_model_len: int = DEFAULT_MAX_MODEL_LEN  # context size in tokens, prompt plus completion
    timing: TimingModel = field(default_factory=TimingModel)
    # Add vLLM's per-request `metrics` object, as `--enable-per-request-metrics` does.
    per_request_metrics: bool = False

    def __post_init__(self) -> None:
        if not self.model:
            raise ValueError("model must be a non-empty model name")
        if self.max_model_len < 1:
            raise ValueError(f"max_model_len must be >= 1 token, got {self.max_model_len}")


class DoubleState:
    """Mutable state of one double; every method is safe to call from any thread."""

    def __init__(
        self, config: DoubleConfig, responder: Responder | None = None, ignore_schema: bool = False
    ) -> None:
        self.config = config
        self.requests = RequestLog()
        self.faults = FaultScript()
        self._lock = threading.Lock()
        self._responder = responder
        self._ignore_schema = ignore_schema
        self._previous_prompt = ""

    @property
    def responder(self) -> Responder | None:
        """The function that supplies completion content, or None for the default content."""
        with self._lock:
            return self._responder

    @responder.setter
    def responder(self, responder: Responder | None) -> None:
        with self._lock:
            self._responder = responder

    @property
    def ignore_schema(self) -> bool:
        """Whether the double ignores every structured-output field of every request."""
        with self._lock:
            return self._ignore_schema

    @ignore_schema.setter
    def ignore_schema(self, ignore: bool) -> None:
        with self._lock:
            self._ignore_schema = ignore

    def take_cached_tokens(self, prompt: str, prompt_tokens: int) -> int:
        """Return the prompt tokens served from the prefix cache, and remember this prompt.

        The cache is modelled as one slot holding the previous chat request's prompt:
        cached tokens = floor(common prefix characters / 4), at most prompt_tokens - 1
        because a server always computes at least the last prompt token.
        """
        with self._lock:
            previous = self._previous_prompt
            self._previous_prompt = prompt

        common = _common_prefix_length(prompt, previous)
        return max(0, min(common // CHARS_PER_TOKEN, prompt_tokens - 1))

    def reset(self) -> None:
        """Forget recorded requests, pending faults and the cached prompt."""
        self.requests.reset()
        self.faults.clear()
        with self._lock:
            self._previous_prompt = ""


def _common_prefix_length(first: str, second: str) -> int:
    # Binary search on slice equality: string comparison runs in C, a char loop would not.
    low, high = 0, min(len(first), len(second))
    while low < high:
        middle = (low + high + 1) // 2
        if first[:middle] == second[:middle]:
            low = middle
        else:
            high = middle - 1
    return low
