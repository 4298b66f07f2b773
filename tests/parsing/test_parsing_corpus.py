"""decode_message over every raw message of the public corpus, with per-file expectations."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from mailsift.parsing import DecodedEmail, decode_message

_CORPUS = Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus" / "public"
_NAMES = (
    sorted(path.name for path in _CORPUS.iterdir() if path.suffix in (".eml", ".msg"))
    if _CORPUS.is_dir()
    else ["(corpus missing)"]
)

# Defect codes each file must produce; files not listed may produce any.
_EXPECTED_DEFECTS = {
    "enmime__low-quality_unk-charset-part.eml": {"unknown_charset"},
    "enmime__low-quality_incorrect-charset.eml": {"charset_mismatch"},
    "enmime__mail_html-mime-bad-charset-inline.eml": {"malformed_charset"},
    "enmime__mail_mime-bad-content-transfer-encoding.eml": {"invalid_base64"},
    "enmime__parts_quoted-printable-invalid.eml": {"invalid_quoted_printable"},
    "mailparser__mail_malformed_3.eml": {"missing_boundary"},
    "mailparser__mail_test_12.eml": {"charset_mismatch"},
    "mailparser__mail_test_17.eml": {"missing_close_boundary"},
    "cpython__msg_15.eml": {"missing_boundary"},
    "cpython__msg_25.eml": {"missing_boundary"},
    "cpython__msg_41.eml": {"missing_boundary"},
    "cpython__msg_42.eml": {"missing_boundary"},
    "cpython__msg_47.eml": {"missing_header_separator"},
}


def _decode(corpus: Path, name: str) -> DecodedEmail:
    return decode_message((corpus / name).read_bytes())


def _codes(decoded: DecodedEmail) -> set[str]:
    return {defect.code for defect in decoded.defects}


@pytest.mark.parametrize("name", _NAMES)
def test_corpus_message_decodes_with_body(parsing_corpus: Path, name: str) -> None:
    decoded = _decode(parsing_corpus, name)

    assert "decode_failed" not in _codes(decoded)
    assert (decoded.html or "").strip() or (decoded.text or "").strip()
    assert decoded.body_source is not None or decoded.container == "outlook-msg"
    assert decoded.size_bytes == (parsing_corpus / name).stat().st_size


@pytest.mark.parametrize("name", sorted(_EXPECTED_DEFECTS))
def test_corpus_expected_defects(parsing_corpus: Path, name: str) -> None:
    decoded = _decode(parsing_corpus, name)

    missing = _EXPECTED_DEFECTS[name] - _codes(decoded)
    assert not missing, f"{name}: missing {missing}, got {sorted(_codes(decoded))}"


def test_corpus_unknown_charset_part_text(parsing_corpus: Path) -> None:
    decoded = _decode(parsing_corpus, "enmime__low-quality_unk-charset-part.eml")

    assert decoded.text == "A text section"
    assert [(a.filename, a.size_bytes) for a in decoded.attachments] == [("foo_9E5D72.zip", 7)]
    unknown = [d for d in decoded.defects if d.code == "unknown_charset"]
    assert unknown[0].part == "1"
    assert "fakescii" in unknown[0].detail


def test_corpus_incorrect_charset_reads_utf8(parsing_corpus: Path) -> None:
    decoded = _decode(parsing_corpus, "enmime__low-quality_incorrect-charset.eml")

    assert decoded.text is not None
    assert "\ufffd" not in decoded.text
    assert "∮ E⋅da = Q" in decoded.text
    assert "replacement_characters" not in _codes(decoded)


def test_corpus_gb2312_utf8_body(parsing_corpus: Path) -> None:
    decoded = _decode(parsing_corpus, "mailparser__mail_test_12.eml")

    assert decoded.subject == "代开各地增值税发票"
    assert decoded.sender_name == "张先生"
    assert decoded.text is not None
    assert "增值税发票" in decoded.text
    assert "\ufffd" not in decoded.text
    assert decoded.recipients == ["danglüe@email.com"]


def test_corpus_gbk_subject_uses_gb18030(parsing_corpus: Path) -> None:
    decoded = _decode(parsing_corpus, "mailparser__mail_test_9.eml")

    gbk_only_character = b"\x8c\xc2".decode("gb18030")
    assert decoded.subject is not None
    assert decoded.subject.startswith("我把镜头拉近些")
    assert gbk_only_character in decoded.subject
    assert "\ufffd" not in decoded.subject
    assert "header_decode_error" not in _codes(decoded)


def test_corpus_latin1_body_declared_ascii(parsing_corpus: Path) -> None:
    decoded = _decode(parsing_corpus, "enmime__parts_chardet-success-iso-8859-1.eml")

    assert decoded.text is not None
    assert decoded.text.startswith("DIE Drachenköpfe unserer Boote")
    assert "dreißig" in decoded.text
    assert "\ufffd" not in decoded.text


def test_corpus_bad_base64_kept_as_text(parsing_corpus: Path) -> None:
    decoded = _decode(parsing_corpus, "enmime__mail_mime-bad-content-transfer-encoding.eml")

    assert decoded.text is not None
    assert decoded.text.startswith("ploozdect  nispplul")
    assert decoded.html is not None
    assert "This is an example" in decoded.html


def test_corpus_doubled_charset_label(parsing_corpus: Path) -> None:
    decoded = _decode(parsing_corpus, "enmime__mail_html-mime-bad-charset-inline.eml")

    assert decoded.text == "Test of text section"
    assert decoded.html is not None
    assert decoded.body_source == "2.1"


@pytest.mark.parametrize(
    ("name", "text", "html_fragment"),
    [
        ("cpython__msg_15.eml", "Some removed test. \n", "Some removed text."),
        ("cpython__msg_41.eml", "Blah blah blah\n", None),
    ],
)
def test_corpus_missing_boundary_bodies(
    parsing_corpus: Path, name: str, text: str, html_fragment: str | None
) -> None:
    decoded = _decode(parsing_corpus, name)

    assert decoded.text == text
    if html_fragment is None:
        assert decoded.html is None
    else:
        assert decoded.html is not None
        assert html_fragment in decoded.html


def test_corpus_report_without_boundary_resplit(parsing_corpus: Path) -> None:
    decoded = _decode(parsing_corpus, "cpython__msg_25.eml")

    assert decoded.text is not None
    assert decoded.text.startswith("The original message was received at Fri, 6 Apr 2001")
    assert [a.content_type for a in decoded.attachments] == [
        "message/delivery-status",
        "text/rfc822-headers",
    ]
    resplit = [d for d in decoded.defects if d.code == "missing_boundary"]
    assert "JAB03225.986577786/zinfandel.lacita.com" in resplit[0].detail


def test_corpus_wrong_start_boundary_html(parsing_corpus: Path) -> None:
    decoded = _decode(parsing_corpus, "mailparser__mail_malformed_3.eml")

    assert decoded.html is not None
    assert "Problemas para visualizar" in decoded.html
    assert "\u201c<em>brochure</em>\u201d" in decoded.html
    assert decoded.html.endswith("</body></html>")
    assert decoded.subject == "Ahorre Dinero en su Recibo de Luz"


def test_corpus_forward_in_bounce(parsing_corpus: Path) -> None:
    decoded = _decode(parsing_corpus, "cpython__msg_42.eml")

    assert decoded.text == "Stuff\n"
    assert len(decoded.forwarded) == 1
    forward = decoded.forwarded[0]
    assert forward.sender == "webmaster@python.org"
    assert forward.recipients == ["zzz@example.com"]
    assert any(d.code == "missing_boundary" and d.part == "2" for d in forward.defects)


def test_corpus_bom_before_headers(parsing_corpus: Path) -> None:
    raw = (parsing_corpus / "talon__gmail.eml").read_bytes()

    decoded = decode_message(b"\xef\xbb\xbf" + raw)

    assert decoded.subject == "Re: Test"
    assert decoded.sender == "xxx@gmail.com"
    assert "bom_stripped" in _codes(decoded)
    assert decoded.size_bytes == len(raw) + 3


def test_corpus_outlook_msg_file(parsing_corpus: Path) -> None:
    decoded = _decode(parsing_corpus, "mailparser__mail_outlook_1.msg")

    assert decoded.container == "outlook-msg"
    assert decoded.subject == "Newsletter Prüfung Personalwesen / Prüfung Eröffnungsbilanz"
    assert decoded.sender == "NueblingV@w-vwa.de"
    assert decoded.sender_domain == "w-vwa.de"
    assert decoded.date == datetime(2017, 9, 18, 10, 0, 18, tzinfo=UTC)
    assert decoded.html is not None
    assert decoded.text is not None
    assert "Sehr geehrte Frau" in decoded.text
    assert [a.filename for a in decoded.attachments][:2] == ["newsletter.png", "spacer.gif"]


def test_corpus_tnef_attachments(parsing_corpus: Path) -> None:
    decoded = _decode(parsing_corpus, "constructed__tnef-winmail-dat.eml")

    assert decoded.text == "Please see the attached files.\n"
    assert decoded.container == "mime"
    assert [(a.filename, a.size_bytes) for a in decoded.attachments] == [
        ("AUTHORS", 244),
        ("README", 893),
    ]


def test_corpus_headers_parsed(parsing_corpus: Path) -> None:
    french = _decode(parsing_corpus, "mailparser__mail_test_5.eml")
    russian = _decode(parsing_corpus, "mailparser__mail_test_6.eml")
    phishing = _decode(parsing_corpus, "mailparser__mail_test_17.eml")
    terse_date = _decode(parsing_corpus, "cpython__msg_47.eml")

    assert french.subject == "Je prépare mon été zéro complexe !"
    assert french.sender_name == "Marina de Carlance"
    assert russian.subject == "Быстрее вкладывайте в золото!"
    assert russian.sender_name == "Время пришло"
    assert phishing.sender == "notificaccion-clientes@bbva.mx"
    assert phishing.sender_domain == "bbva.mx"
    assert terse_date.date == datetime(2001, 1, 1, 0, 1, tzinfo=UTC)
    assert terse_date.text == "bar\n"
