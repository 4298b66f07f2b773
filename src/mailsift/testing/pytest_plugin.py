"""pytest fixtures that start mailsift's test doubles on loopback.

Registered through the `pytest11` entry point, so installing `mailsift[testing]` makes
`llm_server_double` available in any project's tests.
"""

from mailsift.testing.llm.fixtures import llm_server_double

__all__ = ["llm_server_double"]
