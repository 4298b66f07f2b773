"""Network plumbing of the double: the loopback listening socket and uvicorn's protocol.

The double binds its socket itself, with SO_REUSEADDR, so that it can stop and start again
on the same port while old connections linger in TIME_WAIT.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket

from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.utils import get_remote_addr

from mailsift.testing.langfuse.state import ConnectionRegistry


def bind_listener(host: str, port: int) -> socket.socket:
    """Bind a TCP socket on `host`:`port` (0 picks a free port); uvicorn starts listening."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError:
        listener.close()
        raise
    return listener


def tracking_protocol_class(registry: ConnectionRegistry) -> type[H11Protocol]:
    """Build an h11 protocol class that registers each connection's transport in `registry`."""

    class TrackingH11Protocol(H11Protocol):
        # uvicorn's H11Protocol narrows the parameter to Transport the same way.
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self.peer_address = get_remote_addr(transport)
            if self.peer_address is not None:
                registry.add(self.peer_address, transport)

        def connection_lost(self, exc: Exception | None) -> None:
            if self.peer_address is not None:
                registry.remove(self.peer_address)
            super().connection_lost(exc)

    return TrackingH11Protocol


def loopback_host(host: str) -> str:
    if host == "localhost":
        return "127.0.0.1"
    try:
        is_loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        is_loopback = False
    if not is_loopback:
        raise ValueError(f"host: the Langfuse double binds only to loopback, got {host!r}")
    return host
