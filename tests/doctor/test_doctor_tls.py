"""The TLS check against a loopback server with a good, expired, self-signed or foreign cert."""

from __future__ import annotations

import pytest

from mailsift.doctor.model import Status
from mailsift.doctor.network_checks import Endpoint, check_tls

from .helpers import make_certificates


@pytest.fixture
def trust(monkeypatch):
    """Trust only the test CA, the way a user points httpx at a private CA."""

    def use(ca_file) -> None:
        monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))

    return use


def test_trusted_certificate_passes(tmp_path, tls_server, trust):
    certificates = make_certificates(tmp_path)
    trust(certificates.ca_file)
    server = tls_server(certificates)

    result = check_tls(Endpoint("https", "127.0.0.1", server.port, "LANGFUSE_HOST"), 5.0)

    assert result.status is Status.PASS, result.detail
    assert result.detail.startswith("TLSv1.")
    assert "certificate for 127.0.0.1 valid until" in result.detail


def test_expired_certificate_fails(tmp_path, tls_server, trust):
    certificates = make_certificates(tmp_path, expired=True)
    trust(certificates.ca_file)
    server = tls_server(certificates)

    result = check_tls(Endpoint("https", "127.0.0.1", server.port, "LANGFUSE_HOST"), 5.0)

    assert result.status is Status.FAIL
    assert "the certificate has expired" in result.detail
    assert result.hint == "renew the server's TLS certificate"


def test_self_signed_certificate_fails(tmp_path, tls_server, trust):
    certificates = make_certificates(tmp_path, self_signed=True)
    trust(certificates.ca_file)
    server = tls_server(certificates)

    result = check_tls(Endpoint("https", "127.0.0.1", server.port, "LANGFUSE_HOST"), 5.0)

    assert result.status is Status.FAIL
    assert "the certificate is self-signed" in result.detail
    assert result.hint is not None
    assert "SSL_CERT_FILE" in result.hint


def test_hostname_mismatch_fails(tmp_path, tls_server, trust):
    certificates = make_certificates(tmp_path, names=("mailsift-other.invalid",))
    trust(certificates.ca_file)
    server = tls_server(certificates)

    result = check_tls(Endpoint("https", "localhost", server.port, "LANGFUSE_BASE_URL"), 5.0)

    assert result.status is Status.FAIL
    assert "hostname mismatch" in result.detail
    assert result.hint == "use the host name the certificate was issued for in LANGFUSE_BASE_URL"


def test_plain_http_port_fails_handshake(langfuse_double):
    endpoint = Endpoint("https", "127.0.0.1", langfuse_double.port, "LANGFUSE_HOST")

    result = check_tls(endpoint, 5.0)

    assert result.status is Status.FAIL
    assert result.detail.startswith(f"TLS handshake with 127.0.0.1:{langfuse_double.port} failed")
    assert result.hint == (
        f"check that port {langfuse_double.port} serves https, or use http:// in LANGFUSE_HOST"
    )


def test_http_is_skipped():
    result = check_tls(Endpoint("http", "127.0.0.1", 3000, "LANGFUSE_HOST"), 5.0)

    assert result.status is Status.SKIPPED
    assert result.detail == "plain http"
