"""Process lifecycle helpers: turn SIGTERM into a normal exit, serve health as metrics.

Python's default SIGTERM action ends the process without running `finally` blocks or
`atexit` hooks, so a container stop would skip the reporter's final flush. Turning SIGTERM
into SystemExit gives the same path as a normal exit: the flush runs within its deadline,
and what is left stays in the outbox.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType

from mailsift.telemetry.health import HealthSnapshot, prometheus_text

logger = logging.getLogger(__name__)

SIGTERM_EXIT_CODE = 128 + signal.SIGTERM


def exit_on_sigterm() -> bool:
    """Make SIGTERM raise SystemExit in the main thread; False when not possible here."""
    if threading.current_thread() is not threading.main_thread():
        return False
    if signal.getsignal(signal.SIGTERM) not in (signal.SIG_DFL, None):
        return False  # the application installed its own handler; leave it alone

    def handle(signum: int, frame: FrameType | None) -> None:
        logger.warning("received SIGTERM: stopping and flushing telemetry")
        raise SystemExit(SIGTERM_EXIT_CODE)

    signal.signal(signal.SIGTERM, handle)
    return True


class MetricsServer:
    """Serve `/metrics` (Prometheus text) and `/health` (JSON) on a loopback port."""

    def __init__(
        self, snapshot: Callable[[], HealthSnapshot], port: int, host: str = "127.0.0.1"
    ) -> None:
        if host not in ("127.0.0.1", "::1", "localhost"):
            raise ValueError(f"the metrics port only listens on loopback, not {host!r}")
        self._snapshot = snapshot
        handler = self._handler_class()
        self._server = ThreadingHTTPServer((host, port), handler)
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="mailsift-metrics", daemon=True
        )

    def start(self) -> MetricsServer:
        self._thread.start()
        logger.info("telemetry metrics on http://127.0.0.1:%d/metrics", self.port)
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        snapshot = self._snapshot

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                import json

                current = snapshot()
                if self.path.startswith("/metrics"):
                    body = prometheus_text(current).encode()
                    content_type = "text/plain; version=0.0.4"
                elif self.path.startswith("/health"):
                    body = json.dumps(current.to_dict()).encode()
                    content_type = "application/json"
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return None

        return Handler
