"""pytest fixture that runs the LLM server double for one test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mailsift.testing.llm.protocol import Flavour
from mailsift.testing.llm.server import LLMServerDouble


@pytest.fixture
def llm_server_double() -> Iterator[LLMServerDouble]:
    """Yield a started vLLM-flavoured double on a free loopback port, stopped after the test.

    Tests that need another flavour, a timing model or per-request metrics build their own
    `LLMServerDouble(...)` in a `with` block.
    """
    with LLMServerDouble(flavour=Flavour.VLLM) as server:
        yield server
