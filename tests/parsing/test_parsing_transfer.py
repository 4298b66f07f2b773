"""Content-Transfer-Encoding decoding: base64 quirks, quoted-printable, uuencode."""

from __future__ import annotations

import base64
import binascii

from mailsift.parsing import DecodedEmail, decode_message
from mailsift.parsing.transfer import decode_base64, decode_quoted_printable, normalize_encoding


def _eml(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode("latin-1")


def _codes(decoded: DecodedEmail) -> list[str]:
    return [defect.code for defect in decoded.defects]


def test_base64_with_trailing_space_in_header() -> None:
    encoded = base64.b64encode(b"Order 1234 shipped").decode()
    raw = _eml(
        f"Subject: x\nContent-Type: text/plain\nContent-Transfer-Encoding: base64 \n\n{encoded}\n"
    )

    decoded = decode_message(raw)

    assert decoded.text == "Order 1234 shipped"
    assert "malformed_transfer_encoding" in _codes(decoded)


def test_transfer_encoding_token_normalized() -> None:
    assert normalize_encoding("Base64", part="1") == ("base64", [])
    token, defects = normalize_encoding(" QUOTED-PRINTABLE; x=y", part="1")
    assert token == "quoted-printable"
    assert [d.code for d in defects] == ["malformed_transfer_encoding"]


def test_two_padded_base64_chunks() -> None:
    first = base64.b64encode(b"Hello, ").decode()
    second = base64.b64encode(b"world and more").decode()
    assert first.endswith("=")
    assert second.endswith("=")
    raw = _eml(
        "Subject: x\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n\n"
        f"{first}\n{second}\n"
    )

    decoded = decode_message(raw)

    assert decoded.text == "Hello, world and more"
    assert "base64_chunks" in _codes(decoded)


def test_base64_missing_padding() -> None:
    data, defects = decode_base64(b"SGVsbG8gd29ybGQ", part="1")

    assert data == b"Hello world"
    assert [d.code for d in defects] == ["invalid_base64"]


def test_base64_impossible_length() -> None:
    data, defects = decode_base64(b"SGVsbG8gd29ybGQhX", part="1")

    assert data == b"Hello world!"
    assert "impossible length" in defects[0].detail


def test_base64_label_on_plain_text() -> None:
    prose = b"Dear customer,\r\nyour parcel is on its way.\r\nKind regards\r\n"

    data, defects = decode_base64(prose, part="1")

    assert data == prose
    assert [d.code for d in defects] == ["invalid_base64"]


def test_clean_base64_has_no_defects() -> None:
    encoded = base64.encodebytes(b"x" * 500)

    data, defects = decode_base64(encoded, part="1")

    assert data == b"x" * 500
    assert defects == []


def test_invalid_quoted_printable_kept_literal() -> None:
    data, defects = decode_quoted_printable(b"a=3Db =ZZ c=\r\nd=e9 = \r\nend", part="1")

    assert data == b"a=b =ZZ cd\xe9 end"
    assert [d.code for d in defects] == ["invalid_quoted_printable"]
    assert defects[0].detail.startswith("1 invalid")


def test_uuencoded_body() -> None:
    encoded = binascii.b2a_uu(b"uu payload").decode()
    raw = _eml(
        "Subject: x\nContent-Type: text/plain\nContent-Transfer-Encoding: x-uuencode\n\n"
        f"begin 644 note.txt\n{encoded}`\nend\n"
    )

    decoded = decode_message(raw)

    assert decoded.text == "uu payload"


def test_unknown_transfer_encoding_kept() -> None:
    raw = _eml(
        "Subject: x\nContent-Type: text/plain\nContent-Transfer-Encoding: x-weird\n\nplain\n"
    )

    decoded = decode_message(raw)

    assert decoded.text == "plain\n"
    assert "unknown_transfer_encoding" in _codes(decoded)
