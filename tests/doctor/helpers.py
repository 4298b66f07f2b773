"""Shared helpers of the doctor tests: environments, JSON parsing and a loopback TLS server."""

from __future__ import annotations

import json
import socket
import ssl
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

LAYERS = ["configuration", "dns", "tcp", "tls", "auth", "write_path", "canary", "llm"]


def langfuse_env(double: Any, **extra: str) -> dict[str, str]:
    return {
        "LANGFUSE_PUBLIC_KEY": double.config.public_key,
        "LANGFUSE_SECRET_KEY": double.config.secret_key,
        "LANGFUSE_HOST": double.base_url,
        **extra,
    }


def checks_by_layer(result: Result) -> dict[str, dict[str, Any]]:
    """Parse `--json` output into {layer: check}."""
    document = json.loads(result.stdout)
    return {check["layer"]: check for check in document["checks"]}


# A loopback TLS server whose certificate a test chooses.


@dataclass(frozen=True)
class Certificates:
    ca_file: Path
    cert_file: Path
    key_file: Path


def make_certificates(
    folder: Path,
    *,
    names: tuple[str, ...] = ("127.0.0.1",),
    expired: bool = False,
    self_signed: bool = False,
) -> Certificates:
    """Write a CA and a server certificate for `names` (host names or IPv4 addresses)."""
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.now(UTC)

    def name(common_name: str) -> Any:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(name("mailsift doctor test CA"))
        .issuer_name(name("mailsift doctor test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(x509, ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )

    key = ec.generate_private_key(ec.SECP256R1())
    alternative_names = [
        x509.IPAddress(IPv4Address(n)) if n[0].isdigit() else x509.DNSName(n) for n in names
    ]
    valid_from, valid_to = (
        (now - timedelta(days=2), now - timedelta(days=1))
        if expired
        else (now - timedelta(hours=1), now + timedelta(days=1))
    )
    issuer, signing_key = (name(names[0]), key) if self_signed else (ca.subject, ca_key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name(names[0]))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid_from)
        .not_valid_after(valid_to)
        .add_extension(x509.SubjectAlternativeName(alternative_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(x509, ca=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
    )
    if not self_signed:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
    certificate = builder.sign(signing_key, hashes.SHA256())

    pem = serialization.Encoding.PEM
    files = Certificates(folder / "ca.pem", folder / "server.pem", folder / "server.key")
    files.ca_file.write_bytes(ca.public_bytes(pem))
    files.cert_file.write_bytes(certificate.public_bytes(pem))
    files.key_file.write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return files


def _key_usage(x509: Any, *, ca: bool) -> Any:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


class TlsServer:
    """Accept connections on 127.0.0.1 and complete (or fail) one TLS handshake each."""

    def __init__(self, certificates: Certificates) -> None:
        self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._context.load_cert_chain(certificates.cert_file, certificates.key_file)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.port = self._listener.getsockname()[1]
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stopped.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            connection.settimeout(5)
            # The client aborts the handshake when it rejects the certificate.
            try:
                with self._context.wrap_socket(connection, server_side=True):
                    pass
            except (ssl.SSLError, OSError):
                connection.close()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join(5)
        self._listener.close()
