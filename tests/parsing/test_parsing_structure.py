"""MIME structure: limits, body ranking, forwards, broken boundaries, attachments."""

from __future__ import annotations

import base64

import pytest

from mailsift.errors import MessageRejected
from mailsift.parsing import DecodedEmail, ParseLimits, decode_message


def _eml(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode("latin-1")


def _codes(decoded: DecodedEmail) -> list[str]:
    return [defect.code for defect in decoded.defects]


def _nested_multiparts(levels: int) -> bytes:
    body = "Content-Type: text/plain\n\nleaf\n"
    for level in range(levels):
        boundary = f"b{level}"
        body = (
            f'Content-Type: multipart/mixed; boundary="{boundary}"\n\n'
            f"--{boundary}\n{body}--{boundary}--\n"
        )
    return _eml("From: a@example.com\nSubject: deep\n" + body)


def _many_parts(count: int) -> bytes:
    parts = "".join(f"--p\nContent-Type: text/plain\n\npart {i}\n" for i in range(count))
    return _eml(f'Subject: wide\nContent-Type: multipart/mixed; boundary="p"\n\n{parts}--p--\n')


_RECEIPT_HTML = (
    "<html><body><h1>Receipt</h1><table><tr><td>Order</td><td>A-1001</td></tr>"
    "<tr><td>Total</td><td>EUR 42.00</td></tr></table>"
    "<p>Thank you for shopping with ACME. Your order will ship within two days.</p>"
    "</body></html>"
)


def _forwarded_receipt(note: str, *, outer_type: str = "multipart/mixed") -> bytes:
    return _eml(
        "From: Anna <anna@example.org>\n"
        "To: receipts@mailsift.example\n"
        "Subject: Fwd: your receipt\n"
        f'Content-Type: {outer_type}; boundary="outer"\n\n'
        "--outer\nContent-Type: text/plain; charset=utf-8\n\n"
        f"{note}\n"
        "--outer\nContent-Type: message/rfc822\n\n"
        "From: ACME Shop <orders@acme.example>\n"
        "To: anna@example.org\n"
        "Subject: Your ACME receipt\n"
        "Date: Tue, 01 Oct 2024 10:00:00 +0200\n"
        "Message-ID: <r1@acme.example>\n"
        'Content-Type: multipart/alternative; boundary="inner"\n\n'
        "--inner\nContent-Type: text/plain\n\nReceipt A-1001, total EUR 42.00\n"
        f"--inner\nContent-Type: text/html\n\n{_RECEIPT_HTML}\n"
        "--inner--\n"
        "--outer--\n"
    )


def test_thousand_nested_multiparts_do_not_crash() -> None:
    raw = _nested_multiparts(1000)

    try:
        decoded = decode_message(raw)
    except MessageRejected as rejected:
        assert rejected.limit == "max_mime_depth"
    else:
        assert "mime_depth_limit" in _codes(decoded)


def test_depth_limit_records_defect() -> None:
    decoded = decode_message(_nested_multiparts(40))

    assert decoded.subject == "deep"
    assert decoded.text is None
    assert _codes(decoded).count("mime_depth_limit") == 1


def test_nesting_within_limit_reaches_leaf() -> None:
    decoded = decode_message(_nested_multiparts(10))

    assert decoded.text == "leaf"
    assert decoded.body_source == ".".join(["1"] * 10)


def test_two_thousand_parts_hit_part_limit() -> None:
    decoded = decode_message(_many_parts(2000))

    assert _codes(decoded).count("part_count_limit") == 1
    assert decoded.text is not None
    # The root multipart counts as one of the 500 parts, so children 0 to 498 are read.
    assert decoded.text.startswith("part 0\n\npart 1\n")
    assert decoded.text.endswith("\n\npart 498")


def test_part_limit_is_configurable() -> None:
    decoded = decode_message(_many_parts(5), ParseLimits(max_parts=3))

    assert decoded.text == "part 0\n\npart 1"
    assert "part_count_limit" in _codes(decoded)


def test_oversized_message_rejected() -> None:
    raw = _eml("Subject: big\n\n" + "x" * 2000)

    with pytest.raises(MessageRejected) as rejected:
        decode_message(raw, ParseLimits(max_message_bytes=1000))

    assert rejected.value.limit == "max_message_bytes"
    assert str(len(raw)) in str(rejected.value)


def test_short_note_yields_forwarded_body() -> None:
    decoded = decode_message(_forwarded_receipt("See attached, thanks!"))

    assert decoded.html == _RECEIPT_HTML
    assert decoded.text == "Receipt A-1001, total EUR 42.00"
    assert decoded.body_source == "2.2"
    assert decoded.subject == "Fwd: your receipt"
    assert len(decoded.forwarded) == 1
    forward = decoded.forwarded[0]
    assert forward.sender == "orders@acme.example"
    assert forward.sender_name == "ACME Shop"
    assert forward.subject == "Your ACME receipt"
    assert forward.message_id == "<r1@acme.example>"
    assert forward.date is not None
    assert forward.date.isoformat() == "2024-10-01T10:00:00+02:00"


def test_long_note_keeps_outer_body() -> None:
    note = "I bought this for the team offsite. " * 12

    decoded = decode_message(_forwarded_receipt(note))

    assert decoded.text == note
    assert decoded.html is None
    assert decoded.body_source == "1"
    assert decoded.forwarded[0].html == _RECEIPT_HTML


def test_bounce_keeps_report_text() -> None:
    decoded = decode_message(_forwarded_receipt("Delivery failed.", outer_type="multipart/report"))

    assert decoded.text == "Delivery failed."
    assert decoded.body_source == "1"
    assert decoded.forwarded[0].subject == "Your ACME receipt"


def test_top_level_message_rfc822_is_forward() -> None:
    raw = _eml(
        "From: relay@example.com\nSubject: wrapped\nContent-Type: message/rfc822\n\n"
        "From: shop@example.com\nSubject: inner\n\nInner body\n"
    )

    decoded = decode_message(raw)

    assert decoded.text == "Inner body\n"
    assert decoded.body_source == "1.1"
    assert decoded.forwarded[0].subject == "inner"


def test_base64_encoded_forward() -> None:
    inner = b"From: shop@example.com\r\nSubject: inner\r\n\r\nEncoded inner body\r\n"
    raw = _eml(
        'Subject: x\nContent-Type: multipart/mixed; boundary="o"\n\n'
        "--o\nContent-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\n"
        f"{base64.b64encode(inner).decode()}\n--o--\n"
    )

    decoded = decode_message(raw)

    assert decoded.forwarded[0].subject == "inner"
    assert decoded.text == "Encoded inner body\n"


def test_empty_text_alternative_loses_to_html() -> None:
    raw = _eml(
        'Subject: bank\nContent-Type: multipart/alternative; boundary="a"\n\n'
        "--a\nContent-Type: text/plain; charset=utf-8\n\n\n"
        "--a\nContent-Type: text/html; charset=utf-8\n\n<p>Your balance is 12.00</p>\n"
        "--a--\n"
    )

    decoded = decode_message(raw)

    assert decoded.html == "<p>Your balance is 12.00</p>"
    assert decoded.text is None
    assert decoded.body_source == "2"


def test_html_only_message() -> None:
    raw = _eml("Subject: x\nContent-Type: text/html\n\n<div>Hello <b>there</b></div>\n")

    decoded = decode_message(raw)

    assert decoded.html == "<div>Hello <b>there</b></div>\n"
    assert decoded.text is None
    assert decoded.body_source == "1"


def test_trivial_html_loses_to_text() -> None:
    raw = _eml(
        'Subject: x\nContent-Type: multipart/alternative; boundary="a"\n\n'
        "--a\nContent-Type: text/plain\n\nYour code is 123456\n"
        "--a\nContent-Type: text/html\n\n"
        "<html><head><style>p{}</style></head><body><img src=x></body></html>\n"
        "--a--\n"
    )

    decoded = decode_message(raw)

    assert decoded.html is None
    assert decoded.text == "Your code is 123456"
    assert decoded.body_source == "1"


def test_mixed_concatenates_inline_parts() -> None:
    raw = _eml(
        'Subject: x\nContent-Type: multipart/mixed; boundary="m"\n\n'
        "--m\nContent-Type: text/html\n\n<p>first</p>\n"
        "--m\nContent-Type: application/pdf; name=invoice.pdf\n"
        "Content-Transfer-Encoding: base64\n\nJVBERi0xLjQ=\n"
        "--m\nContent-Type: text/html\n\n<p>second</p>\n"
        "--m\nContent-Type: text/plain\n\nList footer\n"
        "--m--\n"
    )

    decoded = decode_message(raw)

    assert decoded.html == "<p>first</p>\n<p>second</p>"
    assert decoded.text == "List footer"
    assert decoded.body_source == "1"
    assert [(a.filename, a.content_type, a.size_bytes) for a in decoded.attachments] == [
        ("invoice.pdf", "application/pdf", 8)
    ]


def test_attachment_filename_encoded_word() -> None:
    raw = _eml(
        'Subject: x\nContent-Type: multipart/mixed; boundary="m"\n\n'
        "--m\nContent-Type: text/plain\n\nsee file\n"
        "--m\nContent-Type: application/octet-stream\n"
        'Content-Disposition: attachment; filename="=?utf-8?Q?Rechnung_M=C3=A4rz.pdf?="\n\n'
        "data\n--m--\n"
    )

    decoded = decode_message(raw)

    assert [a.filename for a in decoded.attachments] == ["Rechnung März.pdf"]


def test_start_boundary_mismatch_resplit() -> None:
    raw = _eml(
        'Subject: x\nContent-Type: multipart/alternative; boundary="declared"\n\n'
        "--actual\nContent-Type: text/plain\n\nplain version\n"
        "--actual\nContent-Type: text/html\n\n<p>html version</p>\n"
        "--actual--\n"
    )

    decoded = decode_message(raw)

    assert decoded.text == "plain version"
    assert decoded.html == "<p>html version</p>"
    assert decoded.body_source == "2"
    assert "re-split on --actual" in decoded.defects[-1].detail


def test_multipart_without_boundary_html_payload() -> None:
    raw = _eml(
        "Subject: x\nContent-Type: multipart/alternative\n\n<html><body>Sale!</body></html>\n"
    )

    decoded = decode_message(raw)

    assert decoded.html == "<html><body>Sale!</body></html>\n"
    assert decoded.text is None
    assert "missing_boundary" in _codes(decoded)


def test_header_only_message_has_no_body() -> None:
    decoded = decode_message(_eml("From: a@example.com\nSubject: nothing\n\n"))

    assert decoded.html is None
    assert decoded.text is None
    assert decoded.body_source is None


def test_garbage_input_does_not_raise() -> None:
    raw = bytes(range(256)) * 8

    decoded = decode_message(raw)

    assert decoded.size_bytes == 2048
    assert "decode_failed" not in _codes(decoded)


def test_inline_text_with_filename_is_body() -> None:
    raw = _eml(
        'Subject: x\nContent-Type: multipart/mixed; boundary="m"\n\n'
        "--m\nContent-Type: text/plain\n\nIntro\n"
        '--m\nContent-Type: text/plain; name="notes.txt"\n'
        'Content-Disposition: inline; filename="notes.txt"\n\nInline notes\n'
        '--m\nContent-Type: text/plain; name="log.txt"\n'
        'Content-Disposition: attachment; filename="log.txt"\n\nattached log\n'
        "--m--\n"
    )

    decoded = decode_message(raw)

    assert decoded.text == "Intro\n\nInline notes"
    assert [(a.filename, a.content_type, a.size_bytes) for a in decoded.attachments] == [
        ("log.txt", "text/plain", 12)
    ]


def test_message_global_forward() -> None:
    inner = "From: shop@example.com\nSubject: Bestätigung\n\nDanke für Ihre Bestellung\n"
    raw = _eml('Subject: fwd\nContent-Type: multipart/mixed; boundary="m"\n\n--m\n')
    raw += _eml("Content-Type: message/global\n\n") + inner.replace("\n", "\r\n").encode()
    raw += _eml("--m--\n")

    decoded = decode_message(raw)

    assert decoded.forwarded[0].subject == "Bestätigung"
    assert decoded.text == "Danke für Ihre Bestellung"
    assert decoded.body_source == "1.1"


def test_nested_defects_carry_forward_path() -> None:
    raw = _eml(
        "Subject: fwd\nDate: Tue, 01 Oct 2024 10:00:00 +0000\n"
        'Content-Type: multipart/mixed; boundary="m"\n\n'
        "--m\nContent-Type: text/plain\n\nfyi\n"
        "--m\nContent-Type: message/rfc822\n\n"
        "Subject: inner\nContent-Type: text/plain; charset=bogus\n\nInner text\n"
        "--m--\n"
    )

    decoded = decode_message(raw)

    forward = decoded.forwarded[0]
    assert [(d.code, d.part) for d in forward.defects] == [
        ("missing_date", None),
        ("unknown_charset", "2.1"),
    ]
    assert [(d.code, d.part) for d in decoded.defects] == [
        ("missing_date", "2"),
        ("unknown_charset", "2.1"),
    ]
    assert decoded.text == "Inner text"
