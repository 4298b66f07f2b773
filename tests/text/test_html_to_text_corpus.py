"""html_to_text and harvest_schema_org over every HTML body of the public corpus."""

from __future__ import annotations

import re

from mailsift.text import harvest_schema_org, html_to_text

INVISIBLE = re.compile("[\u200b-\u200d\u2060\ufeff\u00ad\u00a0]")


def test_corpus_bodies_convert_cleanly(corpus_html_bodies: dict[str, str]) -> None:
    assert len(corpus_html_bodies) >= 10

    for name, html in corpus_html_bodies.items():
        result = html_to_text(html)
        text = result.text

        assert text, f"{name}: no text"
        assert INVISIBLE.search(text) is None, f"{name}: invisible character left"
        assert "<!--" not in text, f"{name}: comment left"
        assert "[endif]" not in text, f"{name}: MSO conditional left"
        assert "\n\n\n" not in text, f"{name}: run of blank lines"
        assert not text.startswith("\n"), f"{name}: leading blank line"
        for line in text.split("\n"):
            assert line == line.strip(), f"{name}: untrimmed line {line!r}"


def test_corpus_bodies_harvest_cleanly(corpus_html_bodies: dict[str, str]) -> None:
    with_markup = []
    for name, html in corpus_html_bodies.items():
        harvest = harvest_schema_org(html)
        if harvest.items:
            with_markup.append(name)
        assert all(isinstance(item, dict) for item in harvest.items)

    # Only the synthetic KItinerary message carries schema.org markup.
    assert with_markup == ["kitinerary__synthetic_flight-booking.eml#1"]


def test_newsletter_pixel_and_hidden_blocks_go(corpus_html_bodies: dict[str, str]) -> None:
    # A French newsletter with a 1x1 open-tracking image, two display:none spacer blocks
    # and an MSO conditional comment in its head.
    html = corpus_html_bodies["mailparser__mail_test_5.eml#1"]

    result = html_to_text(html)

    assert result.removed_tracking_pixels == 1
    assert result.removed_hidden_elements == 2
    assert result.preheader is None
    assert "* Offre valable du 8 mars au 8 avril 2017" in result.text
    assert "Aimez notre page Facebook" in result.text
    assert "mso" not in result.text.lower()


def test_russian_notice_pixel_goes(corpus_html_bodies: dict[str, str]) -> None:
    html = corpus_html_bodies["mailparser__mail_test_6.eml#1"]

    result = html_to_text(html)

    assert result.removed_tracking_pixels == 1
    assert result.text.split("\n")[0] == "Профиль | Сообщения | Контакты | Сообщества"
