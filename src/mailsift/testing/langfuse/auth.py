"""API key authentication as the Langfuse server performs it.

The server looks a key pair up by a hash of the secret key alone, and a public key that
does not belong to that secret key is only logged. The double does the same, so a client
with the right secret key and a wrong public key is accepted, as in production.
`Authorization: Bearer <public key>` is also accepted, but only with access to scores.
"""

from __future__ import annotations

import base64
import binascii
import logging
from dataclasses import dataclass
from enum import StrEnum

from mailsift.testing.langfuse.config import DoubleConfig

logger = logging.getLogger(__name__)

NO_HEADER = "No authorization header"
INVALID_HEADER = "Invalid authorization header"
INVALID_CREDENTIALS = "Invalid credentials. Confirm that you've configured the correct host."
ORGANIZATION_KEY = "Missing projectId in scope. Are you using an organization key?"
INSUFFICIENT_PERMISSIONS = "Access denied - insufficient permissions for this endpoint"
INGESTION_SUSPENDED = "Ingestion suspended: Usage threshold exceeded. Please upgrade your plan."


class Access(StrEnum):
    """Access level of an authenticated key."""

    PROJECT = "project"
    # A Bearer public key: only score-create and sdk-log events pass on the batch route.
    SCORES = "scores"
    # A key pair without project scope, such as an organization key.
    ORGANIZATION = "organization"


@dataclass(frozen=True)
class AuthResult:
    """Outcome of checking one Authorization header; `failure` is the 401 message."""

    access: Access | None
    failure: str | None = None
    public_key: str | None = None


def authenticate(header: str | None, config: DoubleConfig) -> AuthResult:
    if not header:
        return AuthResult(None, NO_HEADER)

    scheme, _, credentials = header.strip().partition(" ")
    credentials = credentials.strip()
    if scheme.lower() == "bearer":
        if any(pair.public_key == credentials for pair in config.project_keys):
            return AuthResult(Access.SCORES, public_key=credentials)
        return AuthResult(None, INVALID_CREDENTIALS)
    if scheme.lower() != "basic":
        return AuthResult(None, INVALID_HEADER)

    try:
        decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return AuthResult(None, INVALID_HEADER)
    public_key, separator, secret_key = decoded.partition(":")
    if not separator or not public_key or not secret_key:
        return AuthResult(None, INVALID_HEADER)

    return _look_up(public_key, secret_key, config)


def _look_up(public_key: str, secret_key: str, config: DoubleConfig) -> AuthResult:
    for pairs, access in (
        (config.project_keys, Access.PROJECT),
        (config.organization_keys, Access.ORGANIZATION),
    ):
        for pair in pairs:
            if pair.secret_key != secret_key:
                continue
            if pair.public_key != public_key:
                # Faithful to the server: logged, not rejected.
                logger.warning(
                    "Langfuse double: public key %s does not match the secret key's key pair "
                    "(%s); accepted as the real server does",
                    public_key,
                    pair.public_key,
                )
            return AuthResult(access, public_key=pair.public_key)
    return AuthResult(None, INVALID_CREDENTIALS)
