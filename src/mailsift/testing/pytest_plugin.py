"""pytest fixtures that start mailsift's test doubles on loopback.

Registered through the `pytest11` entry point, so installing `mailsift[testing]` makes
these fixtures available in any project's tests:

- `llm_server_double`: an OpenAI-compatible server (vLLM flavour) with scripted faults;
- `langfuse_double`, `langfuse_double_factory`: a Langfuse server with its write modes,
  read-back endpoints and fault injection.
"""

from mailsift.testing.langfuse.fixtures import langfuse_double, langfuse_double_factory
from mailsift.testing.llm.fixtures import llm_server_double

__all__ = ["langfuse_double", "langfuse_double_factory", "llm_server_double"]
