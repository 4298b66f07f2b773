"""LangfuseDouble: the double running under uvicorn in a background thread on loopback.

The server binds its own socket so that `go_down()` and `come_up()` can stop and restart
it on the same port: while it is down, connections are refused, as with a crashed or
restarting server. Fault injection and read-back helpers are methods of the double, and
are safe to call from the test thread while the server runs.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import datetime
from types import TracebackType
from typing import Self

import uvicorn

from mailsift.testing.langfuse import faults
from mailsift.testing.langfuse.app import create_app
from mailsift.testing.langfuse.config import INGESTION_PATH, OTLP_TRACES_PATH, DoubleConfig
from mailsift.testing.langfuse.journal import EventOutcome, Journal, RecordedRequest
from mailsift.testing.langfuse.listener import (
    bind_listener,
    loopback_host,
    tracking_protocol_class,
)
from mailsift.testing.langfuse.records import ObservationRecord, ScoreRecord, TraceRecord
from mailsift.testing.langfuse.state import ConnectionRegistry, DoubleState
from mailsift.testing.langfuse.store import TelemetryStore, utc_now

logger = logging.getLogger(__name__)

_START_TIMEOUT_S = 10.0
_STOP_TIMEOUT_S = 10.0


class LangfuseDouble:
    """A faithful in-process Langfuse server for tests; use it as a context manager.

    `clock` drives the ingestion delay (monotonic seconds) and `wall_clock` the stored
    timestamps; inject both to test delays without sleeping.
    """

    def __init__(
        self,
        config: DoubleConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.config = config or DoubleConfig()
        self.host = loopback_host(host)
        self.port = port
        self.store = TelemetryStore(
            ingestion_delay_s=self.config.ingestion_delay_s, clock=clock, wall_clock=wall_clock
        )
        self.journal = Journal()
        self._faults = faults.FaultInjector()
        self._state = DoubleState(
            config=self.config,
            store=self.store,
            faults=self._faults,
            journal=self.journal,
            connections=ConnectionRegistry(),
            wall_clock=wall_clock,
            ingestion_suspended=self.config.ingestion_suspended,
        )
        self._app = create_app(self._state)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """The LANGFUSE_HOST / base URL a client should use, e.g. http://127.0.0.1:41234."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def otlp_traces_url(self) -> str:
        return self.base_url + OTLP_TRACES_PATH

    @property
    def is_up(self) -> bool:
        return self._server is not None

    def basic_auth_header(self) -> dict[str, str]:
        """Return the Authorization header for the configured key pair."""
        pair = f"{self.config.public_key}:{self.config.secret_key}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode()}

    def start(self) -> Self:
        """Start serving; returns self once the port accepts connections."""
        if self._server is not None:
            return self
        listener = bind_listener(self.host, self.port)
        self.port = listener.getsockname()[1]

        server_config = uvicorn.Config(
            self._app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            http=tracking_protocol_class(self._state.connections),
            timeout_graceful_shutdown=1,
        )
        server = uvicorn.Server(server_config)
        thread = threading.Thread(
            target=server.run,
            kwargs={"sockets": [listener]},
            name=f"langfuse-double-{self.port}",
            daemon=True,
        )
        thread.start()
        deadline = time.monotonic() + _START_TIMEOUT_S
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                listener.close()
                raise RuntimeError(f"Langfuse double failed to start on {self.base_url}")
            time.sleep(0.01)

        self._server, self._thread = server, thread
        logger.info(
            "Langfuse double listening on %s (mode %s, version %s)",
            self.base_url,
            self.config.mode.value,
            self.config.server_version,
        )
        return self

    def stop(self) -> None:
        """Stop serving and close the port; stored data and the journal are kept."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.should_exit = True
        thread.join(_STOP_TIMEOUT_S)
        if thread.is_alive():
            server.force_exit = True
            thread.join(_STOP_TIMEOUT_S)
        self._server = self._thread = None
        logger.info("Langfuse double on %s stopped", self.base_url)

    def go_down(self) -> None:
        """Stop accepting connections: clients get 'connection refused' until come_up()."""
        self.stop()

    def come_up(self) -> None:
        """Serve again on the same port, with the same data and faults."""
        self.start()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # Fault injection. `path` defaults to the batch route; pass OTLP_TRACES_PATH for OTLP.

    def fail_next(
        self,
        status: int,
        *,
        path: str = INGESTION_PATH,
        times: int = 1,
        retry_after_s: int | None = None,
    ) -> None:
        """Fail the next `times` requests on `path` with `status` and the server's body for it.

        401, 403, 500 and 503 get the route's JSON error, 413 on the batch route the
        plain-text Next.js message, 429 the Cloud rate-limit body and headers, 502 and 504
        a proxy's HTML page. `retry_after_s` adds a Retry-After header.
        """
        reply = faults.reply_for_status(path, status, retry_after_s=retry_after_s)
        self._faults.push(path, reply, times)

    def reply_next(
        self,
        status: int,
        body: bytes | str,
        *,
        path: str = INGESTION_PATH,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
        times: int = 1,
    ) -> None:
        """Reply to the next `times` requests on `path` with exactly this response."""
        raw = body.encode() if isinstance(body, str) else body
        reply = faults.ScriptedReply(status, raw, content_type, tuple((headers or {}).items()))
        self._faults.push(path, reply, times)

    def reject_events_next(
        self,
        *,
        ids: Iterable[str] = (),
        predicate: faults.EventPredicate | None = None,
        path: str = INGESTION_PATH,
        times: int = 1,
        status: int = 400,
        message: str = "Invalid request data",
        error: str = "Rejected by a scripted fault of the Langfuse double",
    ) -> None:
        """Process the next requests but reject the events or OTLP spans chosen by id or predicate.

        On the batch route the predicate receives the raw event. On OTLP it receives
        {"spanId", "traceId", "type", "body"}. OTLP replies become an OTLP partial success.
        """
        rule = faults.RejectEvents(frozenset(ids), predicate, status, message, error)
        self._faults.push(path, rule, times)

    def drop_connection_next(
        self, *, path: str = INGESTION_PATH, times: int = 1, process_first: bool = False
    ) -> None:
        """Read the next requests' bodies, then close the connection without any reply.

        With `process_first` the data is stored before the drop: the acknowledgement is
        lost but the server has the data, as when a response times out in transit.
        """
        self._faults.push(path, faults.DropConnection(process_first), times)

    def add_latency(
        self, seconds: float, *, path: str | None = None, times: int | None = None
    ) -> None:
        """Delay the next `times` requests (all, if None) on `path` (every path, if None)."""
        self._faults.add_latency(seconds, path, times)

    def pending_faults(self, path: str = INGESTION_PATH) -> int:
        return self._faults.pending(path)

    def clear_faults(self) -> None:
        self._faults.clear()

    def set_ingestion_suspended(self, suspended: bool) -> None:
        """Reject writes with the Cloud usage-cap 403 while `suspended` is True."""
        self._state.ingestion_suspended = suspended

    # Read-back helpers for assertions. They see what the HTTP read routes would see.

    def request_count(self, path: str | None = None) -> int:
        return len(self.journal.requests(path))

    def request_counts(self) -> Counter[str]:
        return self.journal.request_counts()

    def requests(self, path: str | None = None) -> list[RecordedRequest]:
        return self.journal.requests(path)

    def outcomes(self) -> list[EventOutcome]:
        return self.journal.outcomes()

    def accepted_events(self) -> list[EventOutcome]:
        return [outcome for outcome in self.journal.outcomes() if outcome.accepted]

    def rejected_events(self) -> list[EventOutcome]:
        return [outcome for outcome in self.journal.outcomes() if not outcome.accepted]

    def traces(self) -> list[TraceRecord]:
        return self.store.traces()

    def get_trace(self, trace_id: str) -> TraceRecord | None:
        return self.store.get_trace(trace_id)

    def observations(self, trace_id: str | None = None) -> list[ObservationRecord]:
        return self.store.observations(trace_id)

    def event_rows(self, trace_id: str | None = None) -> list[ObservationRecord]:
        return self.store.event_rows(trace_id)

    def scores(self, trace_id: str | None = None) -> list[ScoreRecord]:
        return self.store.scores(trace_id)

    def flush_ingestion(self) -> None:
        """Make every pending write visible now, skipping the rest of the ingestion delay."""
        self.store.flush()

    def reset(self) -> None:
        """Forget stored data, recorded requests and queued faults."""
        self.store.clear()
        self.journal.clear()
        self._faults.clear()
