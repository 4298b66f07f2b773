"""harvest_schema_org on KItinerary's structured-data cases and on hand-written markup."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from mailsift.text import harvest_schema_org

STRUCTURED_DATA_CASES = [
    "structureddata__empty-microdata-with-json-ld-inside",
    "structureddata__eventbrite-broken-json",
    "structureddata__google-flight-reservation-microdata",
    "structureddata__lh-invalid-microdata",
]

# KItinerary's expected files are its output after post-processing: it adds airport
# coordinates and countries, turns times into {"@type": "QDateTime", "timezone": ...}
# objects, renames properties (programMembership -> programMembershipUsed), maps status
# values (Confirmed -> ReservationConfirmed) and derives actions. The harvest reports the
# markup as the sender wrote it, so only these identifying fields are compared.
COMPARED_KEYS = frozenset(
    {
        "@type", "reservationNumber", "reservationStatus", "name", "flightNumber", "iataCode",
        "departureTime", "arrivalTime", "startDate", "endDate", "description", "url",
    }
)  # fmt: skip

ENUM_URL = re.compile(r"https?://schema\.org/(\w+)")


def compared_fields(value: Any, path: str = "") -> set[tuple[str, str]]:
    """Return (path, value) pairs of COMPARED_KEYS leaves, in the harvest's normal form.

    Enumeration URLs become bare names and whitespace is collapsed (KItinerary keeps a
    U+00A0 inside "VOLKER KRAUSE"), because the harvest normalises both.
    """
    pairs: set[tuple[str, str]] = set()
    if isinstance(value, list):
        for element in value:
            pairs |= compared_fields(element, path)
    elif isinstance(value, dict):
        if value.get("@type") == "QDateTime":
            return {(path, str(value["@value"]))}
        for key, child in value.items():
            child_path = f"{path}/{key}"
            if isinstance(child, dict | list):
                pairs |= compared_fields(child, child_path)
            elif key in COMPARED_KEYS:
                text = " ".join(str(child).split())
                match = ENUM_URL.fullmatch(text)
                pairs.add((child_path, match.group(1) if match and key != "url" else text))
    return pairs


@pytest.mark.parametrize("case", STRUCTURED_DATA_CASES)
def test_structured_data_matches_kitinerary(kitinerary: Path, case: str) -> None:
    html = (kitinerary / f"{case}.html").read_text(encoding="utf-8")
    expected = json.loads((kitinerary / f"{case}.json").read_text(encoding="utf-8"))

    harvest = harvest_schema_org(html)

    assert len(harvest.items) == len(expected)
    for item, expected_item in zip(harvest.items, expected, strict=True):
        assert compared_fields(item) == compared_fields(expected_item)


def test_structured_data_repairs_reported(kitinerary: Path) -> None:
    broken = (kitinerary / "structureddata__eventbrite-broken-json.html").read_text()
    wrapper = (kitinerary / "structureddata__empty-microdata-with-json-ld-inside.html").read_text()

    broken_harvest = harvest_schema_org(broken)
    wrapper_harvest = harvest_schema_org(wrapper)

    assert broken_harvest.problems == [
        "JSON-LD script 1: invalid JSON repaired (removed trailing commas)"
    ]
    assert broken_harvest.items[0]["reservationStatus"] == "Confirmed"
    assert wrapper_harvest.problems == ["skipped empty microdata item of type WebPage"]


def test_lufthansa_microdata_four_legs(kitinerary: Path) -> None:
    html = (kitinerary / "structureddata__lh-invalid-microdata.html").read_text(encoding="utf-8")

    items = harvest_schema_org(html).items

    legs = [
        (
            item["reservationFor"]["departureAirport"]["iataCode"],
            item["reservationFor"]["arrivalAirport"]["iataCode"],
            item["reservationFor"]["flightNumber"],
        )
        for item in items
    ]
    assert legs == [("TXL", "MUC", "2029"), ("MUC", "TLS", "2218"), ("TLS", "MUC", "2221"),
                    ("MUC", "TXL", "2054")]  # fmt: skip
    assert {item["underName"]["name"] for item in items} == {"VOLKER KRAUSE"}


def test_synthetic_flight_booking_reservation(
    corpus_html_bodies: dict[str, str], kitinerary: Path
) -> None:
    html = corpus_html_bodies["kitinerary__synthetic_flight-booking.eml#1"]
    expected_file = kitinerary / "synthetic_flight-booking.eml.expected.json"
    expected = json.loads(expected_file.read_text(encoding="utf-8"))[0]

    harvest = harvest_schema_org(html)

    assert harvest.problems == []
    reservations = [item for item in harvest.items if item["@type"] == "FlightReservation"]
    assert len(reservations) == 1
    reservation = reservations[0]
    flight = reservation["reservationFor"]
    expected_flight = expected["reservationFor"]
    assert reservation["reservationNumber"] == expected["reservationNumber"] == "RXJ34P"
    assert reservation["underName"]["name"] == expected["underName"]["name"] == "Eva Green"
    assert flight["airline"]["iataCode"] == expected_flight["airline"]["iataCode"] == "UA"
    assert flight["flightNumber"] == expected_flight["flightNumber"] == "110"
    departure = flight["departureAirport"]["iataCode"]
    arrival = flight["arrivalAirport"]["iataCode"]
    assert departure == expected_flight["departureAirport"]["iataCode"] == "SFO"
    assert arrival == expected_flight["arrivalAirport"]["iataCode"] == "JFK"
    assert flight["departureTime"] == expected_flight["departureTime"]["@value"]
    assert flight["arrivalTime"] == expected_flight["arrivalTime"]["@value"]
    assert reservation["reservationStatus"] == "Confirmed"


BROKEN_JSON_LD = """
<html><head><script type="application/ld+json">
<!-- order markup, generated -->
{
  "@context": "http://schema.org",
  "@type": "Order",
  "orderNumber": "A-1042",
  "orderStatus": "http://schema.org/OrderProcessing",
  <!-- the merchant comes from the shop settings -->
  "merchant": {"@type": "Organization", "name": "Acme Store",},
}
{
  "@context": "https://schema.org",
  "@type": "ParcelDelivery",
  "trackingNumber": "1Z999AA10123456784",
  "partOfOrder": {"@type": "Order", "orderNumber": "A-1042"}
}
</script></head><body><p>Your order</p></body></html>
"""


def test_broken_json_ld_repaired() -> None:
    harvest = harvest_schema_org(BROKEN_JSON_LD)

    assert [item["@type"] for item in harvest.items] == ["Order", "ParcelDelivery"]
    order, delivery = harvest.items
    assert order["orderNumber"] == "A-1042"
    assert order["orderStatus"] == "OrderProcessing"
    assert order["merchant"] == {"@type": "Organization", "name": "Acme Store"}
    assert delivery["trackingNumber"] == "1Z999AA10123456784"
    assert delivery["partOfOrder"]["orderNumber"] == "A-1042"
    assert harvest.problems == [
        "JSON-LD script 1: invalid JSON repaired (removed HTML comments and CDATA markers, "
        "inserted missing commas between objects, removed trailing commas, "
        "wrapped several top-level objects in an array)"
    ]


def test_html_escaped_json_ld_repaired() -> None:
    html = (
        '<script type="application/ld+json">{&quot;@type&quot;: &quot;Invoice&quot;, '
        "&quot;accountId&quot;: &quot;ACC-9&quot;}</script>"
    )

    harvest = harvest_schema_org(html)

    assert harvest.items == [
        {"@context": "https://schema.org", "@type": "Invoice", "accountId": "ACC-9"}
    ]
    assert harvest.problems == ["JSON-LD script 1: invalid JSON repaired (unescaped HTML entities)"]


def test_cdata_and_line_breaks_repaired() -> None:
    html = (
        '<script type="application/ld+json">//<![CDATA[\n'
        '{"@type": "EventReservation", "reservationNumber": "EV-1",\n'
        '"description": "Doors open\n at 19:00"}\n//]]></script>'
    )

    harvest = harvest_schema_org(html)

    assert harvest.items[0]["reservationNumber"] == "EV-1"
    assert harvest.items[0]["description"] == "Doors open at 19:00"
    assert "removed HTML comments and CDATA markers" in harvest.problems[0]
    assert "accepted raw control characters inside strings" in harvest.problems[0]


def test_graph_and_prefixes_normalised() -> None:
    html = (
        '<script type="Application/LD+JSON">{"@context": "https://schema.org", "@graph": ['
        '{"@type": "https://schema.org/ParcelDelivery", "trackingNumber": "T1"},'
        '{"@type": ["http://schema.org/Order"], "orderNumber": "O1",'
        ' "orderStatus": "https://schema.org/OrderDelivered"}]}</script>'
        '<script type="application/ld+json">[{"@type": "Invoice", "accountId": "A1"}]</script>'
    )

    harvest = harvest_schema_org(html)

    assert harvest.items == [
        {"@context": "https://schema.org", "@type": "ParcelDelivery", "trackingNumber": "T1"},
        {
            "@context": "https://schema.org",
            "@type": "Order",
            "orderNumber": "O1",
            "orderStatus": "OrderDelivered",
        },
        {"@context": "https://schema.org", "@type": "Invoice", "accountId": "A1"},
    ]
    assert harvest.problems == []


def test_microdata_value_attributes() -> None:
    html = """
    <div itemscope itemtype="http://schema.org/ParcelDelivery">
      <link itemprop="deliveryStatus" href="http://schema.org/OrderInTransit">
      <meta itemprop="trackingNumber" content="1Z 999&#x200C;AA1">
      <a itemprop="trackingUrl" href="https://carrier.example/t?n=1Z999AA1">Track it</a>
      <time itemprop="expectedArrivalUntil" datetime="2027-03-10T18:00:00+01:00">10 March</time>
      <div itemprop="carrier" itemscope itemtype="https://schema.org/Organization">
        <span itemprop="name">Parcel   Way</span>
      </div>
      <div itemprop="itemShipped" itemscope itemtype="http://schema.org/Product">
        <span itemprop="name">Blue mug</span></div>
      <div itemprop="itemShipped" itemscope itemtype="http://schema.org/Product">
        <span itemprop="name">Green tea</span></div>
    </div>
    <span itemprop="name">stray property</span>
    """

    harvest = harvest_schema_org(html)

    assert harvest.items == [
        {
            "@context": "https://schema.org",
            "@type": "ParcelDelivery",
            "deliveryStatus": "OrderInTransit",
            "trackingNumber": "1Z 999AA1",
            "trackingUrl": "https://carrier.example/t?n=1Z999AA1",
            "expectedArrivalUntil": "2027-03-10T18:00:00+01:00",
            "carrier": {"@type": "Organization", "name": "Parcel Way"},
            "itemShipped": [
                {"@type": "Product", "name": "Blue mug"},
                {"@type": "Product", "name": "Green tea"},
            ],
        }
    ]
    assert harvest.problems == ["ignored 1 microdata properties outside any itemscope"]


def test_script_with_microdata_html() -> None:
    html = (
        '<script type="application/ld+json"><div itemscope '
        'itemtype="http://schema.org/ParcelDelivery">'
        '<meta itemprop="trackingNumber" content="JD0002"></div></script>'
    )

    harvest = harvest_schema_org(html)

    assert harvest.items == [
        {"@context": "https://schema.org", "@type": "ParcelDelivery", "trackingNumber": "JD0002"}
    ]
    assert harvest.problems == [
        "JSON-LD script 1 contains microdata HTML instead of JSON; read it as microdata"
    ]


def test_unrepairable_json_ld_skipped() -> None:
    html = (
        '<script type="application/ld+json">{"@type": "Order", orderNumber: 12}</script>'
        '<script type="application/ld+json">{"@type": "Invoice", "accountId": "A1"}</script>'
    )

    harvest = harvest_schema_org(html)

    assert [item["@type"] for item in harvest.items] == ["Invoice"]
    assert harvest.problems == [
        "JSON-LD script 1 skipped: invalid JSON that no repair fixed "
        "(Expecting property name enclosed in double quotes at line 1 column 20)"
    ]


def test_repeated_markup_kept_once() -> None:
    script = '<script type="application/ld+json">{"@type": "Order", "orderNumber": "9"}</script>'

    harvest = harvest_schema_org(script + script)

    assert len(harvest.items) == 1


def test_mail_without_markup_empty() -> None:
    harvest = harvest_schema_org("<p>No structured data here</p><script>var a = 1;</script>")

    assert harvest.items == []
    assert harvest.problems == []
