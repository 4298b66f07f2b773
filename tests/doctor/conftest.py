"""Fixtures of the doctor tests: invoking the command, and loopback TLS servers."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from click.testing import Result
from typer.testing import CliRunner

import mailsift.cli.doctor_command  # noqa: F401  (registers the command)
from mailsift.cli import app

from .helpers import Certificates, TlsServer

Doctor = Callable[..., Result]


@pytest.fixture
def doctor() -> Doctor:
    """Return `run(env, *args)`, which invokes `mailsift doctor` with only `env` set."""
    runner = CliRunner()

    def run(env: dict[str, str], *args: str) -> Result:
        return runner.invoke(app, ["doctor", *args], env=env)

    return run


@pytest.fixture
def tls_server() -> Iterator[Callable[[Certificates], TlsServer]]:
    started: list[TlsServer] = []

    def start(certificates: Certificates) -> TlsServer:
        server = TlsServer(certificates)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
