"""DNS, TCP and TLS checks of the Langfuse host, below HTTP, so a failure names its layer.

The TLS check builds its context with `httpx.create_ssl_context()`, the one the exporters
use, so it trusts the same roots: certifi's bundle, or SSL_CERT_FILE / SSL_CERT_DIR.
"""

from __future__ import annotations

import logging
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpx

from mailsift.doctor.model import CheckResult, Layer

logger = logging.getLogger(__name__)

# Limit: these checks connect directly and ignore HTTP_PROXY / HTTPS_PROXY, which httpx
# (and so the exporters) honour. Behind a proxy they test the direct route, not the proxy.

# OpenSSL verify codes (X509_V_ERR_*) that have a plain-words reason and a fix.
_VERIFY_REASONS: dict[int, tuple[str, str]] = {
    9: (
        "the certificate is not yet valid",
        "check the clock of this machine and of the server",
    ),
    10: (
        "the certificate has expired",
        "renew the server's TLS certificate",
    ),
    18: (
        "the certificate is self-signed",
        "set SSL_CERT_FILE to a bundle that contains the server's certificate, "
        "or give the server a certificate from a trusted CA",
    ),
    19: (
        "the chain ends in a self-signed CA that is not trusted here",
        "set SSL_CERT_FILE to a bundle that contains your CA certificate",
    ),
    20: (
        "the certificate's issuer is not a trusted CA",
        "set SSL_CERT_FILE to a bundle that contains the issuing CA certificate",
    ),
    21: (
        "the certificate's issuer is not a trusted CA",
        "set SSL_CERT_FILE to a bundle that contains the issuing CA certificate",
    ),
    62: (
        "hostname mismatch",
        "use the host name the certificate was issued for in {variable}",
    ),
    64: (
        "IP address mismatch",
        "use the host name the certificate was issued for in {variable}",
    ),
}


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Address of the Langfuse server, and the variable that set it (named in hints)."""

    scheme: str
    hostname: str
    port: int
    variable: str

    @classmethod
    def from_url(cls, url: str, variable: str) -> Endpoint:
        parts = urlsplit(url)
        default_port = 443 if parts.scheme == "https" else 80
        return cls(parts.scheme, parts.hostname or "", parts.port or default_port, variable)

    @property
    def address(self) -> str:
        host = f"[{self.hostname}]" if ":" in self.hostname else self.hostname
        return f"{host}:{self.port}"


def check_dns(endpoint: Endpoint) -> CheckResult:
    # Limit: getaddrinfo has no timeout parameter, so a hung resolver is bounded only by the
    # system resolver's own timeout and attempts (resolv.conf).
    try:
        infos = socket.getaddrinfo(endpoint.hostname, endpoint.port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        return CheckResult.failed(
            Layer.DNS,
            f"cannot resolve {endpoint.hostname}: {exc}",
            f"check the host name in {endpoint.variable} and this machine's DNS settings",
        )
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    return CheckResult.passed(Layer.DNS, f"{endpoint.hostname} resolves to {', '.join(addresses)}")


def check_tcp(endpoint: Endpoint, timeout_s: float) -> CheckResult:
    try:
        with socket.create_connection(
            (endpoint.hostname, endpoint.port), timeout=timeout_s
        ) as sock:
            peer = str(sock.getpeername()[0])
    except TimeoutError:
        return CheckResult.failed(
            Layer.TCP,
            f"connecting to {endpoint.address} timed out after {timeout_s:g} s",
            f"check that a firewall allows this machine to reach {endpoint.address}",
        )
    except ConnectionRefusedError:
        return CheckResult.failed(
            Layer.TCP,
            f"connection to {endpoint.address} refused: nothing listens on port {endpoint.port}",
            f"start the Langfuse server, or fix the port in {endpoint.variable}",
        )
    except OSError as exc:
        return CheckResult.failed(
            Layer.TCP,
            f"cannot connect to {endpoint.address}: {exc}",
            f"check the network route to {endpoint.address} and the port in {endpoint.variable}",
        )
    via = f" ({peer})" if peer != endpoint.hostname else ""
    return CheckResult.passed(Layer.TCP, f"connected to {endpoint.address}{via}")


def check_tls(endpoint: Endpoint, timeout_s: float) -> CheckResult:
    if endpoint.scheme != "https":
        return CheckResult.skipped(Layer.TLS, "plain http")

    context = httpx.create_ssl_context()
    try:
        with (
            socket.create_connection((endpoint.hostname, endpoint.port), timeout=timeout_s) as raw,
            context.wrap_socket(raw, server_hostname=endpoint.hostname) as tls,
        ):
            version = tls.version() or "TLS"
            certificate = tls.getpeercert() or {}
    except ssl.SSLCertVerificationError as exc:
        reason, hint = _VERIFY_REASONS.get(
            exc.verify_code, ("certificate verification failed", "check the server's certificate")
        )
        return CheckResult.failed(
            Layer.TLS,
            f"TLS handshake with {endpoint.address} failed: {reason} ({exc.verify_message})",
            hint.format(variable=endpoint.variable),
        )
    except ssl.SSLError as exc:
        return CheckResult.failed(
            Layer.TLS,
            f"TLS handshake with {endpoint.address} failed: {exc.reason or exc}",
            f"check that port {endpoint.port} serves https, or use http:// in {endpoint.variable}",
        )
    except OSError as exc:
        return CheckResult.failed(
            Layer.TLS,
            f"TLS handshake with {endpoint.address} failed: {exc}",
            f"check that port {endpoint.port} serves https, or use http:// in {endpoint.variable}",
        )
    return CheckResult.passed(Layer.TLS, f"{version}, {_describe(certificate)}")


def _describe(certificate: Mapping[str, object]) -> str:
    """Summarise a verified peer certificate: subject common name and expiry date."""
    subject = certificate.get("subject")
    common_name = None
    if isinstance(subject, tuple):
        for rdn in subject:
            for key, value in rdn:
                if key == "commonName":
                    common_name = value
    not_after = certificate.get("notAfter")
    expires = "unknown"
    if isinstance(not_after, str):
        expires = (
            datetime.fromtimestamp(ssl.cert_time_to_seconds(not_after), UTC).date().isoformat()
        )
    return f"certificate for {common_name or 'the host'} valid until {expires}"
