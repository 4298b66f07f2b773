"""Envelope headers: encoded words, addresses, dates and Message-ID."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from mailsift.parsing import DecodedEmail, decode_message
from mailsift.parsing.encoded_words import decode_header_value


def _eml(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode("latin-1")


def _codes(decoded: DecodedEmail) -> list[str]:
    return [defect.code for defect in decoded.defects]


def test_encoded_word_split_inside_character() -> None:
    # "pasižadėjimu": the bytes of "ė" (C4 97) are split across the two words.
    value = "=?UTF-8?Q?pasi=C5=BEad=C4?=\n =?UTF-8?Q?=97jimu?="

    decoded = decode_header_value(value.replace("\n", ""))

    assert decoded.text == "pasižadėjimu"
    assert decoded.problems == []


def test_encoded_word_glued_to_text() -> None:
    decoded = decode_header_value("[SPAM]=?utf-8?B?w4RyZ2VyIQ==?= now")

    assert decoded.text == "[SPAM]Ärger! now"


def test_space_between_encoded_words_dropped() -> None:
    decoded = decode_header_value("=?iso-8859-1?q?Caf=E9?= =?iso-8859-1?q?_cr=E8me?=")

    assert decoded.text == "Café crème"
    assert decoded.charsets == ["cp1252"]


def test_encoded_word_unknown_charset() -> None:
    raw = _eml("Subject: =?x-nonsense?Q?Hello_w=C3=B6rld?=\n\nbody\n")

    decoded = decode_message(raw)

    assert decoded.subject == "Hello wörld"
    assert "header_decode_error" in _codes(decoded)


def test_encoded_word_bad_base64_kept() -> None:
    decoded = decode_header_value("=?utf-8?B?####?= tail")

    assert decoded.text == "=?utf-8?B?####?= tail"
    assert len(decoded.problems) == 1


def test_raw_utf8_header_bytes() -> None:
    raw = b"Subject: Gr\xc3\xbc\xc3\x9fe\r\nFrom: J\xc3\xb6rg <joerg@example.de>\r\n\r\nbody\r\n"

    decoded = decode_message(raw)

    assert decoded.subject == "Grüße"
    assert decoded.sender_name == "Jörg"


def test_raw_latin1_header_bytes() -> None:
    raw = _eml("Subject: Gr\xfc\xdfe\nContent-Type: text/plain; charset=iso-8859-1\n\nbody\n")

    decoded = decode_message(raw)

    assert decoded.subject == "Grüße"


def test_from_display_name_with_encoded_comma() -> None:
    raw = _eml('From: "=?utf-8?Q?Doe=2C_J=C3=BCrgen?=" <J.Doe@Example.COM>\n\nbody\n')

    decoded = decode_message(raw)

    assert decoded.sender == "J.Doe@Example.COM"
    assert decoded.sender_name == "Doe, Jürgen"
    assert decoded.sender_domain == "example.com"


def test_from_with_encoded_address() -> None:
    raw = _eml("From: =?UTF-8?B?c2hvcEBleGFtcGxlLmNvbQ==?=\n\nbody\n")

    decoded = decode_message(raw)

    assert decoded.sender == "shop@example.com"
    assert decoded.sender_domain == "example.com"


def test_recipients_from_to_and_cc() -> None:
    raw = _eml(
        "To: A <a@example.com>, b@example.com\n"
        "Cc: a@example.com, C <c@example.com>,\n"
        "To: d@example.com\n\nbody\n"
    )

    decoded = decode_message(raw)

    assert decoded.recipients == [
        "a@example.com",
        "b@example.com",
        "d@example.com",
        "c@example.com",
    ]


def test_from_without_address() -> None:
    decoded = decode_message(_eml("From: undisclosed\n\nbody\n"))

    assert decoded.sender is None
    assert decoded.sender_domain is None
    assert "invalid_sender" in _codes(decoded)


def test_date_with_offset() -> None:
    decoded = decode_message(_eml("Date: Wed, 14 Jun 2023 05:41:34 -0700\n\nbody\n"))

    assert decoded.date == datetime(2023, 6, 14, 5, 41, 34, tzinfo=timezone(timedelta(hours=-7)))
    assert "naive_date" not in _codes(decoded)


def test_naive_date_becomes_utc() -> None:
    decoded = decode_message(_eml("Date: Wed, 14 Jun 2023 05:41:34 -0000\n\nbody\n"))

    assert decoded.date == datetime(2023, 6, 14, 5, 41, 34, tzinfo=UTC)
    assert "naive_date" in _codes(decoded)


def test_invalid_date_falls_back_to_received() -> None:
    raw = _eml(
        "Received: from relay by mx; Thu, 15 Jun 2023 08:00:00 +0000\n"
        "Received: from sender by relay; Wed, 14 Jun 2023 07:00:00 +0000\n"
        "Date: sometime last week\n\nbody\n"
    )

    decoded = decode_message(raw)

    assert decoded.date == datetime(2023, 6, 14, 7, 0, tzinfo=UTC)
    assert _codes(decoded) == ["invalid_date", "date_from_received"]


def test_missing_date_recorded() -> None:
    decoded = decode_message(_eml("Subject: x\n\nbody\n"))

    assert decoded.date is None
    assert _codes(decoded) == ["missing_date"]


def test_folded_subject_and_message_id() -> None:
    raw = _eml("Subject: a long\n subject line\nMessage-ID:\n <abc@Example.org>\n\nbody\n")

    decoded = decode_message(raw)

    assert decoded.subject == "a long subject line"
    assert decoded.message_id == "<abc@Example.org>"


def test_control_characters_removed_from_subject() -> None:
    decoded = decode_message(_eml("Subject: =?utf-8?Q?one=0Atwo=00three?=\n\nbody\n"))

    assert decoded.subject == "one two three"
