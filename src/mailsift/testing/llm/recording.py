"""Records every HTTP request the double receives and how many were in flight at once.

`RecordingMiddleware` is the outermost ASGI layer, so it also records requests that end in an
error status or a dropped connection. It keeps the raw ASGI `send` in the scope because
dropping a connection needs the server's transport, which inner layers wrap away.
A request counts as in flight from the end of its body until its response is complete.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

RAW_SEND_SCOPE_KEY = "mailsift.llm_double.raw_send"
# A callable that marks the request finished; for responses that never send a body.
FINISH_SCOPE_KEY = "mailsift.llm_double.finish"


@dataclass(frozen=True)
class RecordedRequest:
    """One request as received: headers have lower-case names, `body` is the parsed JSON."""

    method: str
    path: str
    headers: dict[str, str]
    content: bytes
    body: Any
    received_at: float  # time.time() when the full body had arrived


class RequestLog:
    """Thread-safe record of requests and in-flight counts, shared by server and test threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._in_flight = 0
        self._max_in_flight = 0

    def record(self, request: RecordedRequest) -> None:
        """Store a request and count it as in flight until `finish` is called."""
        with self._lock:
            self._requests.append(request)
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)

    def finish(self) -> None:
        """Count one request as no longer in flight."""
        with self._lock:
            self._in_flight -= 1

    @property
    def requests(self) -> list[RecordedRequest]:
        """A copy of the recorded requests, oldest first."""
        with self._lock:
            return list(self._requests)

    @property
    def in_flight(self) -> int:
        """Requests whose body has arrived and whose response has not finished."""
        with self._lock:
            return self._in_flight

    @property
    def max_in_flight(self) -> int:
        """The highest `in_flight` value since start or the last `reset`."""
        with self._lock:
            return self._max_in_flight

    def reset(self) -> None:
        """Forget recorded requests and restart max_in_flight from the current in-flight count."""
        with self._lock:
            self._requests.clear()
            self._max_in_flight = self._in_flight


class RecordingMiddleware:
    """ASGI middleware that records each HTTP request before the app handles it."""

    def __init__(self, app: ASGIApp, log: RequestLog, clock: Callable[[], float] = time.time):
        self._app = app
        self._log = log
        self._clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return

        content = await _read_body(receive)
        self._log.record(
            RecordedRequest(
                method=scope["method"],
                path=scope["path"],
                headers=_decode_headers(scope["headers"]),
                content=content,
                body=_parse_json(content),
                received_at=self._clock(),
            )
        )

        finished = False

        def finish_once() -> None:
            nonlocal finished
            if not finished:
                finished = True
                self._log.finish()

        async def send_and_count(message: Message) -> None:
            # Count the request as finished before its last bytes leave, so a client holding
            # the whole response never finds the request still counted as in flight.
            if message["type"] == "http.response.body" and not message.get("more_body"):
                finish_once()
            await send(message)

        scope[RAW_SEND_SCOPE_KEY] = send
        scope[FINISH_SCOPE_KEY] = finish_once
        try:
            await self._app(scope, _replay(content, receive), send_and_count)
        finally:
            finish_once()


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(content: bytes, receive: Receive) -> Receive:
    # The app reads the buffered body first; later calls reach the server, which then reports
    # a client disconnect as http.disconnect.
    delivered = False

    async def replay() -> Message:
        nonlocal delivered
        if delivered:
            return await receive()
        delivered = True
        return {"type": "http.request", "body": content, "more_body": False}

    return replay


def _decode_headers(raw_headers: list[tuple[bytes, bytes]]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for raw_name, raw_value in raw_headers:
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        # Repeated headers are joined with ", " as RFC 9110 allows for list-valued fields.
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers


def _parse_json(content: bytes) -> Any:
    if not content:
        return None
    try:
        return json.loads(content)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
