"""`LLMServerDouble`: the double served by uvicorn on a background thread, for use in tests."""

from __future__ import annotations

import logging
import socket
import threading
import time
from types import TracebackType
from typing import Self

import uvicorn

from mailsift.testing.llm.app import create_app
from mailsift.testing.llm.faults import Fault
from mailsift.testing.llm.protocol import Flavour, Responder
from mailsift.testing.llm.recording import RecordedRequest
from mailsift.testing.llm.state import (
    DEFAULT_MAX_MODEL_LEN,
    DEFAULT_MODEL,
    DoubleConfig,
    DoubleState,
)
from mailsift.testing.llm.timing import TimingModel

logger = logging.getLogger(__name__)

CHAT_COMPLETIONS_PATH = "/v1/chat/completions"


class LLMServerDouble:
    """An OpenAI-compatible LLM server double listening on a free loopback port.

    Use it as a context manager, or call `start()` and `stop()`. Clients talk to `base_url`.
    Faults, the responder and the ignore_schema switch may be changed while it runs.
    """

    def __init__(
        self,
        *,
        flavour: Flavour | str = Flavour.VLLM,
        model: str = DEFAULT_MODEL,
        max_model_len: int = DEFAULT_MAX_MODEL_LEN,
        timing: TimingModel | None = None,
        per_request_metrics: bool = False,
        responder: Responder | None = None,
        ignore_schema: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
        startup_timeout_s: float = 10.0,
        shutdown_timeout_s: int = 5,
    ) -> None:
        config = DoubleConfig(
            flavour=Flavour(flavour),
            model=model,
            max_model_len=max_model_len,
            timing=timing or TimingModel(),
            per_request_metrics=per_request_metrics,
        )
        self._state = DoubleState(config, responder=responder, ignore_schema=ignore_schema)
        self._host = host
        self._requested_port = port
        self._startup_timeout_s = startup_timeout_s
        self._shutdown_timeout_s = shutdown_timeout_s
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None

    # Lifecycle

    def start(self) -> Self:
        """Bind the port, start uvicorn on a daemon thread and wait until it accepts requests."""
        if self._thread is not None:
            raise RuntimeError("the LLM server double is already running")

        # Binding here, before uvicorn starts, makes the port known without a race for it.
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self._host, self._requested_port))
        except OSError:
            sock.close()
            raise
        self._port = sock.getsockname()[1]

        config = uvicorn.Config(
            create_app(self._state),
            lifespan="on",
            http="h11",
            loop="asyncio",
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=self._shutdown_timeout_s,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [sock]},
            name=f"llm-server-double-{self._port}",
            daemon=True,
        )
        self._thread.start()

        deadline = time.monotonic() + self._startup_timeout_s
        while not self._server.started:
            if not self._thread.is_alive():
                self._thread = None
                raise RuntimeError("the LLM server double exited during start-up; see its log")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(
                    f"the LLM server double did not start within {self._startup_timeout_s} s"
                )
            time.sleep(0.01)

        logger.info("LLM server double listening on %s", self.base_url)
        return self

    def stop(self) -> None:
        """Stop uvicorn and wait for its thread; open connections get shutdown_timeout_s."""
        if self._thread is None or self._server is None:
            return

        self._server.should_exit = True
        self._thread.join(self._shutdown_timeout_s + 5)
        if self._thread.is_alive():
            logger.warning("LLM server double on port %s did not stop in time", self._port)
            self._server.force_exit = True
            self._thread.join(5)

        self._thread = None
        self._server = None
        logger.info("LLM server double on port %s stopped", self._port)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # Addresses

    @property
    def port(self) -> int:
        """The TCP port the double listens on; known once `start()` has returned."""
        if self._port is None:
            raise RuntimeError("the LLM server double has not been started")
        return self._port

    @property
    def url(self) -> str:
        """The server root, e.g. http://127.0.0.1:43123 (GET /health lives here)."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The OpenAI API base URL, ending in /v1, to give to a client."""
        return f"{self.url}/v1"

    # Behaviour and assertions

    @property
    def config(self) -> DoubleConfig:
        """The fixed settings: flavour, model, max_model_len, timing, per_request_metrics."""
        return self._state.config

    @property
    def timing(self) -> TimingModel:
        """The batching model; `timing.capacity_tokens_per_s()` gives the throughput ceiling."""
        return self._state.config.timing

    def script(self, *faults: Fault) -> None:
        """Queue faults for the next chat completion requests, one per request, in order."""
        self._state.faults.push(*faults)

    @property
    def pending_faults(self) -> list[Fault]:
        """Scripted faults that no request has taken yet."""
        return self._state.faults.pending()

    @property
    def responder(self) -> Responder | None:
        """The function that supplies completion content; None means default content."""
        return self._state.responder

    @responder.setter
    def responder(self, responder: Responder | None) -> None:
        self._state.responder = responder

    @property
    def ignore_schema(self) -> bool:
        """When true the double ignores every structured-output field, as if none were sent."""
        return self._state.ignore_schema

    @ignore_schema.setter
    def ignore_schema(self, ignore: bool) -> None:
        self._state.ignore_schema = ignore

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received on any path, oldest first."""
        return self._state.requests.requests

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        """The POST /v1/chat/completions requests received, oldest first."""
        return [
            request
            for request in self.requests
            if request.method == "POST" and request.path == CHAT_COMPLETIONS_PATH
        ]

    @property
    def in_flight(self) -> int:
        """Requests being handled right now."""
        return self._state.requests.in_flight

    @property
    def max_in_flight(self) -> int:
        """The maximum number of requests handled at once since start or `reset()`."""
        return self._state.requests.max_in_flight

    def reset(self) -> None:
        """Forget recorded requests, pending faults and the prefix cache; restart max_in_flight."""
        self._state.reset()
