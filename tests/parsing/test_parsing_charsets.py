"""Charset handling: label mapping, BOMs, UTF-8 overrides, HTML meta and detection."""

from __future__ import annotations

import pytest

from mailsift.parsing import DecodedEmail, decode_message
from mailsift.parsing.charsets import decode_bytes, resolve_label


def _eml(text: str) -> bytes:
    """Build raw message bytes: CRLF line ends, characters below U+0100 as single bytes."""
    return text.replace("\n", "\r\n").encode("latin-1")


def _codes(decoded: DecodedEmail) -> list[str]:
    return [defect.code for defect in decoded.defects]


def test_bom_before_headers_is_stripped() -> None:
    raw = b"\xef\xbb\xbf" + _eml("From: a@example.com\nSubject: Hello\n\nBody\n")

    decoded = decode_message(raw)

    assert decoded.subject == "Hello"
    assert decoded.sender == "a@example.com"
    assert decoded.text == "Body\n"
    assert _codes(decoded) == ["bom_stripped", "missing_date"]


def test_bom_at_start_of_part_is_removed() -> None:
    raw = _eml("Subject: x\nContent-Type: text/plain; charset=utf-8\n\n") + b"\xef\xbb\xbfHi\r\n"

    decoded = decode_message(raw)

    assert decoded.text == "Hi\n"


def test_unknown_charset_is_undeclared() -> None:
    body = "Caf\u00e9 cr\u00e8me".encode()
    raw = _eml("Subject: x\nContent-Type: text/plain; charset=bogus\n\n") + body

    decoded = decode_message(raw)

    assert decoded.text == "Café crème"
    unknown = [d for d in decoded.defects if d.code == "unknown_charset"]
    assert len(unknown) == 1
    assert unknown[0].part == "1"
    assert "'bogus'" in unknown[0].detail


def test_outlook_cp1252_under_latin1_label() -> None:
    raw = _eml(
        "Subject: x\n"
        'Content-Type: text/plain; charset="iso-8859-1"\n'
        "Content-Transfer-Encoding: quoted-printable\n\n"
        "Wait=85 it=92s =80 5 =93quoted=94\n"
    )

    decoded = decode_message(raw)

    assert decoded.text == "Wait\u2026 it\u2019s \u20ac 5 \u201cquoted\u201d\n"
    assert "replacement_characters" not in _codes(decoded)


def test_cp1252_undefined_bytes_fall_back_to_latin1() -> None:
    decoded = decode_bytes(b"a\x81b\x9dc", "windows-1252", part="1")

    assert decoded.text == "a\x81b\x9dc"
    assert decoded.charset == "cp1252"


def test_ascii_label_with_utf8_bytes_reads_utf8() -> None:
    raw = (
        _eml("Subject: x\nContent-Type: text/plain; charset=us-ascii\n\n")
        + "Straße → Zürich".encode()
    )

    decoded = decode_message(raw)

    assert decoded.text == "Straße → Zürich"
    assert "charset_mismatch" in _codes(decoded)


def test_short_gbk_text_is_not_read_as_utf8() -> None:
    # Two GBK characters (模膜) whose bytes are also valid UTF-8 (ģĤ).
    data = b"\xc4\xa3\xc4\xa4"
    assert data.decode("utf-8") == "ģĤ"

    decoded = decode_bytes(data, "gb2312", part="1")

    assert decoded.charset == "gb18030"
    assert decoded.text == "模膜"


@pytest.mark.parametrize(
    ("label", "codec"),
    [
        ("iso-8859-1", "cp1252"),
        ("LATIN1", "cp1252"),
        ("us-ascii", "cp1252"),
        ('"ascii"', "cp1252"),
        ("gb2312", "gb18030"),
        ("GBK", "gb18030"),
        ("x-gbk", "gb18030"),
        ("ks_c_5601-1987", "cp949"),
        ("shift_jis", "cp932"),
        ("big5", "big5hkscs"),
        ("charset=us-ascii", "cp1252"),
        ("utf-8*en", "utf-8"),
        ("UTF8", "utf-8"),
    ],
)
def test_label_maps_to_superset(label: str, codec: str) -> None:
    assert resolve_label(label).codec == codec


@pytest.mark.parametrize("label", ["bogus", "base64", "rot13", "x-unknown"])
def test_unusable_label_is_unknown(label: str) -> None:
    resolved = resolve_label(label)

    assert resolved.codec is None
    assert resolved.problem == "unknown_charset"


def test_html_meta_charset_when_mime_silent() -> None:
    html = '<html><head><meta charset="koi8-r"></head><body>Привет</body></html>'
    raw = _eml("Subject: x\nContent-Type: text/html\n\n") + html.encode("koi8-r")

    decoded = decode_message(raw)

    assert decoded.html == html
    assert "charset_guessed" not in _codes(decoded)


def test_mime_charset_overrides_html_meta() -> None:
    html = '<html><head><meta charset="iso-8859-1"></head><body>Grüße</body></html>'
    raw = _eml("Subject: x\nContent-Type: text/html; charset=utf-8\n\n") + html.encode()

    decoded = decode_message(raw)

    assert decoded.html == html


def test_undeclared_body_uses_subject_charset() -> None:
    body = "你的订单已经发货了谢谢".encode("gbk")
    raw = _eml("Subject: =?gb2312?B?xOO6ww==?=\nContent-Type: text/plain\n\n") + body

    decoded = decode_message(raw)

    assert decoded.subject == "你好"
    assert decoded.text == "你的订单已经发货了谢谢"
    assert "charset_guessed" in _codes(decoded)


def test_undeclared_western_text_reads_cp1252() -> None:
    body = "Très bien, à bientôt, señor Núñez. Grüße aus München.".encode("cp1252")
    raw = _eml("Subject: x\nContent-Type: text/plain\n\n") + body

    decoded = decode_message(raw)

    assert decoded.text == "Très bien, à bientôt, señor Núñez. Grüße aus München."


def test_iso2022jp_without_label() -> None:
    body = "ご注文ありがとうございます".encode("iso2022_jp")
    raw = _eml("Subject: x\nContent-Type: text/plain\n\n") + body

    decoded = decode_message(raw)

    assert decoded.text == "ご注文ありがとうございます"


def test_declared_charset_with_one_bad_byte_kept() -> None:
    data = "Привет, мир. ".encode() * 20 + b"\xd1\x66"

    decoded = decode_bytes(data, "utf-8", part="1")

    assert decoded.charset == "utf-8"
    assert decoded.text.count("\ufffd") == 1
    assert [d.code for d in decoded.defects] == ["replacement_characters"]
