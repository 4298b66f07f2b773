"""`python -m mailsift.testing.langfuse` as a separate process."""

from __future__ import annotations

import socket
import subprocess
import sys
import time

import httpx


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_module_serves_health_on_given_port() -> None:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mailsift.testing.langfuse",
            "--port",
            str(port),
            "--mode",
            "legacy",
            "--version",
            "3.200.0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first_line = process.stdout.readline()
        response = httpx.get(f"http://127.0.0.1:{port}/api/public/health", timeout=5.0)
    finally:
        process.terminate()
        return_code = process.wait(timeout=10)

    assert first_line.strip() == f"Langfuse double listening on http://127.0.0.1:{port}"
    assert response.json() == {"status": "OK", "version": "3.200.0"}
    assert return_code == 0


def test_module_rejects_non_loopback_host() -> None:
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "mailsift.testing.langfuse", "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=30,
    )

    assert result.returncode == 2
    assert "binds only to loopback" in result.stderr
    assert time.monotonic() - started < 30
