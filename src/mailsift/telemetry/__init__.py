"""Langfuse reporting: one trace per email, one generation per LLM call.

Public entry points: `load_langfuse_config` (settings from the environment) and
`start_telemetry` (tracer provider, reporter and trace builder wired together).
"""

from mailsift.telemetry.config import IngestionPath, LangfuseConfig, load_langfuse_config
from mailsift.telemetry.session import Telemetry, start_telemetry

__all__ = [
    "IngestionPath",
    "LangfuseConfig",
    "Telemetry",
    "load_langfuse_config",
    "start_telemetry",
]
