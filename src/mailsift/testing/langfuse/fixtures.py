"""pytest fixtures that start Langfuse doubles on loopback.

`langfuse_double` starts one double with default settings (a fresh v4 server in
`events_only` mode); pass settings through indirect parametrization:

    @pytest.mark.parametrize("langfuse_double", [{"mode": "legacy"}], indirect=True)
    def test_something(langfuse_double): ...

`langfuse_double_factory` starts as many doubles as a test needs, each with its own
settings, and stops all of them at teardown.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from mailsift.testing.langfuse.config import DoubleConfig
from mailsift.testing.langfuse.server import LangfuseDouble

DoubleFactory = Callable[..., LangfuseDouble]


@pytest.fixture
def langfuse_double_factory() -> Iterator[DoubleFactory]:
    """A function `(**settings) -> LangfuseDouble` that returns started doubles."""
    started: list[LangfuseDouble] = []

    def start(**settings: Any) -> LangfuseDouble:
        host = settings.pop("host", "127.0.0.1")
        double = LangfuseDouble(DoubleConfig(**settings), host=host).start()
        started.append(double)
        return double

    yield start

    for double in started:
        double.stop()


@pytest.fixture
def langfuse_double(
    request: pytest.FixtureRequest, langfuse_double_factory: DoubleFactory
) -> LangfuseDouble:
    """A started LangfuseDouble; `request.param` (a dict of DoubleConfig fields) sets it up."""
    settings: dict[str, Any] = dict(getattr(request, "param", None) or {})
    return langfuse_double_factory(**settings)
