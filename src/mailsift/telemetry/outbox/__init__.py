"""The durable outbox between a finished span and the Langfuse server."""

from mailsift.telemetry.outbox.store import LeasedRow, Outbox, OutboxCounts, new_owner_id

__all__ = ["LeasedRow", "Outbox", "OutboxCounts", "new_owner_id"]
