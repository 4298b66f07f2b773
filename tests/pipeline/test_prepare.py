"""Preparation (decode, markup, HTML to text) over the samples and the public corpus."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailsift.errors import MessageRejected
from mailsift.parsing.limits import ParseLimits
from mailsift.pipeline.prepare import prepare_message
from mailsift.sources import open_source

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def _prepare(name: str):
    return prepare_message((SAMPLES / name).read_bytes(), ParseLimits(), 1500)


def test_every_sample_and_corpus_message_prepares(corpus):
    messages = [*open_source(SAMPLES), *open_source(corpus)]

    prepared = [prepare_message(m.raw, ParseLimits(), 1500) for m in messages]

    assert len(prepared) >= 30
    assert all(p.identity.startswith(("mid:", "sha256:")) for p in prepared)
    assert all(p.stages[0].name == "decode" for p in prepared)


def test_order_sample_keeps_rows_and_drops_hidden_parts():
    prepared = _prepare("01-order-confirmation.eml")

    assert prepared.preheader is not None
    assert prepared.preheader.startswith("Order NW-482913 is confirmed")
    assert "Enamel mug, blue | 2 | 12.50 EUR" in prepared.body
    assert "open.php" not in prepared.body
    assert "Outlook-only spacer" not in prepared.body
    assert "is confirmed: 3 items" not in prepared.body
    assert "Northwind Kitchen Supply" in prepared.body


def test_tracking_number_loses_zero_width_space():
    prepared = _prepare("02-shipping-notice.eml")

    assert "1Z4F9W0A0312345678" in prepared.body
    assert "\u2013" in prepared.body  # cp1252 0x96 under an iso-8859-1 label


def test_malformed_sample_records_defects_and_keeps_text():
    prepared = _prepare("06-malformed.eml")

    codes = {defect["code"] for defect in prepared.defects}
    assert {"bom_stripped", "missing_boundary"} <= codes
    assert prepared.subject == "Invoice INV-0093 from Broken Shop"
    assert "Amount due: 249,00 EUR" in prepared.body
    assert prepared.identity.startswith("sha256:")


def test_forwarded_invoice_body_comes_from_the_forward():
    prepared = _prepare("07-forwarded-invoice.eml")

    assert "Total due                       24.60 EUR" in prepared.body
    assert "See attached." not in prepared.body


def test_booking_markup_harvested():
    prepared = _prepare("04-hotel-booking-schemaorg.eml")

    assert [item["@type"] for item in prepared.markup_items] == ["LodgingReservation"]


def test_oversized_message_rejected():
    with pytest.raises(MessageRejected):
        prepare_message(
            b"Subject: x\r\n\r\n" + b"a" * 2048, ParseLimits(max_message_bytes=1024), 100
        )
