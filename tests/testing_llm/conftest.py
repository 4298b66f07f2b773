"""Fixtures for the LLM server double's own tests."""

from mailsift.testing.llm.fixtures import llm_server_double

__all__ = ["llm_server_double"]
