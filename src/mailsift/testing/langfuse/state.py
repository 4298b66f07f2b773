"""Shared state of one double: settings, tables, faults, journal and open connections.

The routes run on the server's event loop thread while tests call into the same objects
from their own thread, so each part guards itself with its own lock.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from mailsift.testing.langfuse.config import DoubleConfig
from mailsift.testing.langfuse.faults import FaultInjector
from mailsift.testing.langfuse.journal import Journal
from mailsift.testing.langfuse.store import TelemetryStore

PeerAddress = tuple[str, int]


@dataclass
class ConnectionRegistry:
    """Open client connections by peer address, so a route can drop its own connection.

    ASGI gives an application no handle on the socket, so the server's protocol class
    registers each transport here and the route looks it up by `scope["client"]`.
    """

    _lock: threading.Lock = field(default_factory=threading.Lock)
    _transports: dict[PeerAddress, asyncio.Transport] = field(default_factory=dict)

    def add(self, peer: PeerAddress, transport: asyncio.Transport) -> None:
        with self._lock:
            self._transports[peer] = transport

    def remove(self, peer: PeerAddress) -> None:
        with self._lock:
            self._transports.pop(peer, None)

    def get(self, peer: PeerAddress) -> asyncio.Transport | None:
        with self._lock:
            return self._transports.get(peer)


@dataclass
class DoubleState:
    """Everything the routes of one double share."""

    config: DoubleConfig
    store: TelemetryStore
    faults: FaultInjector
    journal: Journal
    connections: ConnectionRegistry
    wall_clock: Callable[[], datetime]
    # Toggled at run time by tests; starts from the config value.
    ingestion_suspended: bool = False
