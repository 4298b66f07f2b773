"""Outlook formats: TNEF (winmail.dat) parts, .msg files and RTF bodies."""

from __future__ import annotations

import base64
import sys
from pathlib import Path

import pytest

from mailsift.parsing import DecodedEmail, decode_message
from mailsift.parsing.outlook import OLE2_MAGIC
from mailsift.parsing.rtf import rtf_to_text


def _codes(decoded: DecodedEmail) -> list[str]:
    return [defect.code for defect in decoded.defects]


def _with_winmail(note: str, tnef: bytes) -> bytes:
    encoded = base64.encodebytes(tnef).decode()
    text = (
        "From: Outlook User <user@example.com>\n"
        "Subject: winmail\n"
        'Content-Type: multipart/mixed; boundary="t"\n\n'
        f"--t\nContent-Type: text/plain; charset=us-ascii\n\n{note}\n"
        '--t\nContent-Type: application/ms-tnef; name="winmail.dat"\n'
        "Content-Transfer-Encoding: base64\n"
        'Content-Disposition: attachment; filename="winmail.dat"\n\n'
        f"{encoded}--t--\n"
    )
    return text.replace("\n", "\r\n").encode("ascii")


@pytest.fixture
def body_tnef(parsing_corpus: Path) -> bytes:
    return (parsing_corpus / "extras" / "tnef" / "body.tnef").read_bytes()


def test_tnef_body_replaces_empty_note(body_tnef: bytes) -> None:
    decoded = decode_message(_with_winmail("", body_tnef))

    assert decoded.container == "tnef"
    assert decoded.body_source == "2"
    assert decoded.html is not None
    assert "THE BILL OF RIGHTS" in decoded.html
    assert "winmail.dat" not in [a.filename for a in decoded.attachments]


def test_tnef_html_fills_missing_html(body_tnef: bytes) -> None:
    note = "This plain text version of the message is long enough to count as a body. " * 6

    decoded = decode_message(_with_winmail(note, body_tnef))

    assert decoded.container == "tnef"
    assert decoded.text == note
    assert decoded.html is not None
    assert "THE BILL OF RIGHTS" in decoded.html


def test_tnef_without_package(body_tnef: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tnefparse", None)

    decoded = decode_message(_with_winmail("see attachment", body_tnef))

    assert decoded.container == "mime"
    assert decoded.text == "see attachment"
    assert [(a.filename, a.size_bytes) for a in decoded.attachments] == [
        ("winmail.dat", len(body_tnef))
    ]
    missing = [d for d in decoded.defects if d.code == "tnef_not_decoded"]
    assert "mailsift[outlook]" in missing[0].detail
    assert missing[0].part == "2"


def test_corrupt_tnef_recorded() -> None:
    decoded = decode_message(_with_winmail("see attachment", b"not a tnef stream at all"))

    assert "tnef_decode_error" in _codes(decoded)
    assert [a.filename for a in decoded.attachments] == ["winmail.dat"]


def test_msg_without_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "extract_msg", None)

    decoded = decode_message(OLE2_MAGIC + b"\x00" * 504)

    assert decoded.container == "outlook-msg"
    assert _codes(decoded) == ["msg_not_decoded"]
    assert "mailsift[outlook]" in decoded.defects[0].detail


def test_corrupt_msg_recorded() -> None:
    decoded = decode_message(OLE2_MAGIC + b"\x00" * 504)

    assert decoded.container == "outlook-msg"
    assert _codes(decoded) == ["msg_decode_error"]
    assert decoded.html is None
    assert decoded.text is None


def test_rtf_text_extraction() -> None:
    rtf = (
        rb"{\rtf1\ansi\ansicpg1252{\fonttbl{\f0 Arial;}}{\colortbl;\red0\green0\blue0;}"
        rb"{\*\generator Msftedit;}\f0 Caf\'e9 total \u8364?42\par"
        rb"{\b Order} A-1\tab shipped\line {\*\htmltag <br>}done\uc0\u55357\u56832}"
    )

    assert rtf_to_text(rtf) == "Café total €42\nOrder A-1\tshipped\ndone\U0001f600"


def test_rtf_code_page_bytes() -> None:
    rtf = rb"{\rtf1\ansi\ansicpg1251 \'cf\'f0\'e8\'e2\'e5\'f2}"

    assert rtf_to_text(rtf) == "Привет"


def _with_property_count(tnef: bytes, count: int) -> bytes:
    """Overwrite the property count of the first message-level MAPI object."""
    offset = 6
    while offset + 12 < len(tnef):
        name = int.from_bytes(tnef[offset + 1 : offset + 3], "little")
        length = int.from_bytes(tnef[offset + 5 : offset + 9], "little")
        if name == 0x9003:
            start = offset + 9
            return tnef[:start] + count.to_bytes(4, "little") + tnef[start + 4 :]
        offset += length + 11
    raise AssertionError("no MAPI properties object in the sample")


def test_tnef_impossible_count_rejected(parsing_corpus: Path) -> None:
    sample = (parsing_corpus / "extras" / "tnef" / "two-files.tnef").read_bytes()
    corrupt = _with_property_count(sample, 0xFFFFFFF0)

    decoded = decode_message(_with_winmail("see attachment", corrupt))

    errors = [d for d in decoded.defects if d.code == "tnef_decode_error"]
    assert len(errors) == 1
    assert "MAPI property count 4294967280" in errors[0].detail
    assert [a.filename for a in decoded.attachments] == ["winmail.dat"]
