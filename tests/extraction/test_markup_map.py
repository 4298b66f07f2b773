from mailsift.extraction.markup_map import fields_from_markup
from mailsift.extraction.schemas import EmailType


def test_lodging_reservation_is_complete_booking():
    item = {
        "@type": "LodgingReservation",
        "reservationNumber": "HV7731Q",
        "underName": {"@type": "Person", "name": "Sam Reader"},
        "reservationFor": {"@type": "LodgingBusiness", "name": "Harbourview Lisbon"},
        "checkinDate": "2027-01-18T15:00:00+00:00",
        "checkoutDate": "2027-01-21T11:00:00+00:00",
    }

    mapped = fields_from_markup([{"@type": "Organization"}, item])

    assert mapped is not None
    assert mapped.email_type is EmailType.BOOKING
    assert mapped.complete
    assert mapped.fields["reference"] == "HV7731Q"
    assert mapped.fields["provider"] == "Harbourview Lisbon"
    assert mapped.fields["kind"] == "hotel"
    assert mapped.fields["traveller"] == "Sam Reader"


def test_flight_route_uses_iata_codes():
    item = {
        "@type": "FlightReservation",
        "reservationNumber": "RXJ34P",
        "reservationFor": {
            "@type": "Flight",
            "flightNumber": "110",
            "airline": {"name": "United", "iataCode": "UA"},
            "departureAirport": {"iataCode": "SFO"},
            "arrivalAirport": {"iataCode": "JFK"},
            "departureTime": "2027-03-04T20:15:00-08:00",
        },
    }

    mapped = fields_from_markup([item])

    assert mapped is not None
    assert mapped.fields["location"] == "SFO -> JFK"
    assert mapped.fields["provider"] == "United"
    assert mapped.fields["start"] == "2027-03-04T20:15:00-08:00"


def test_partial_parcel_delivery_is_not_complete():
    mapped = fields_from_markup([{"@type": "ParcelDelivery", "carrier": {"name": "Parcelway"}}])

    assert mapped is not None
    assert mapped.email_type is EmailType.SHIPPING
    assert not mapped.complete


def test_unknown_types_give_nothing():
    assert fields_from_markup([{"@type": "EmailMessage"}]) is None
