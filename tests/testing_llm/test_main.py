"""`python -m mailsift.testing.llm` as a separate process."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time

import httpx

from mailsift.testing.llm.__main__ import build_parser


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_module_serves_health_until_stopped() -> None:
    port = free_port()
    command = [sys.executable, "-m", "mailsift.testing.llm", "--port", str(port)]
    command += ["--flavour", "llama.cpp", "--log-level", "warning"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    try:
        deadline = time.monotonic() + 20
        status = None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                status = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code
                break
            except httpx.TransportError:
                time.sleep(0.1)

        assert status == 200
        models = httpx.get(f"http://127.0.0.1:{port}/v1/models").json()
        assert models["data"][0]["owned_by"] == "llamacpp"
    finally:
        process.send_signal(signal.SIGINT)
        try:
            output, _ = process.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()

    assert process.returncode == 0, output.decode(errors="replace")


def test_module_rejects_invalid_timing() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mailsift.testing.llm", "--max-batch-size", "0"],
        capture_output=True,
        text=True,
        timeout=30,
    )

    assert result.returncode == 2
    assert "max_batch_size must be >= 1" in result.stderr


def test_parser_maps_timing_options() -> None:
    options = build_parser().parse_args(
        ["--decode-step-s", "0.01", "--max-queue", "5", "--per-request-metrics"]
    )

    assert options.decode_step_s == 0.01
    assert options.max_queue == 5
    assert options.per_request_metrics is True
