"""message_identity: Message-ID when sane, else the hash of the raw bytes."""

from __future__ import annotations

import hashlib

import pytest

from mailsift.parsing import DecodedEmail, decode_message, message_identity


def _with_message_id(message_id: str | None) -> DecodedEmail:
    return DecodedEmail(raw_sha256="ab" * 32, size_bytes=10, message_id=message_id)


def test_sane_message_id() -> None:
    identity = message_identity(_with_message_id("<Order.123@Shop.Example.COM>"))

    assert identity == "mid:Order.123@shop.example.com"


def test_message_id_without_brackets() -> None:
    assert message_identity(_with_message_id("abc@example.org")) == "mid:abc@example.org"


@pytest.mark.parametrize(
    "message_id",
    [
        None,
        "",
        "<>",
        "<xxxx>",
        "<a@b@c>",
        "<has space@example.com>",
        "<tab\t@example.com>",
        "<ctrl\x01@example.com>",
        "<@example.com>",
        "<local@>",
        "<a<b@example.com>",
        "<" + "x" * 250 + "@example.com>",
    ],
)
def test_insane_message_id_uses_hash(message_id: str | None) -> None:
    assert message_identity(_with_message_id(message_id)) == "sha256:" + "ab" * 32


def test_identity_of_decoded_message_without_id() -> None:
    raw = b"Subject: no id\r\n\r\nbody\r\n"

    identity = message_identity(decode_message(raw))

    assert identity == "sha256:" + hashlib.sha256(raw).hexdigest()


def test_identity_of_decoded_message_with_id() -> None:
    raw = b"Message-ID: <42@Mail.Example>\r\n\r\nbody\r\n"

    assert message_identity(decode_message(raw)) == "mid:42@mail.example"
