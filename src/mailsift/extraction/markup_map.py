"""Map harvested schema.org objects onto mailsift's field models.

Markup is sender-asserted, machine-written data: when it carries every key field of a type,
mailsift stores it without an LLM call. When it carries some, it fixes the email's type and
is given to the LLM as context, and markup values win over the model's for the fields they
cover.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mailsift.extraction.schemas import EmailType

RESERVATION_KINDS = {
    "FlightReservation": "flight",
    "TrainReservation": "train",
    "BusReservation": "bus",
    "LodgingReservation": "hotel",
    "EventReservation": "event",
    "RentalCarReservation": "car",
    "FoodEstablishmentReservation": "restaurant",
    "TaxiReservation": "taxi",
    "BoatReservation": "boat",
    "Reservation": None,
}

DELIVERY_STATUS = {
    "OrderInTransit": "in_transit",
    "OrderDelivered": "delivered",
    "OrderPickupAvailable": "out_for_delivery",
    "OrderProblem": "exception",
    "OrderReturned": "exception",
    "OrderProcessing": "label_created",
}

KEY_FIELDS: dict[EmailType, tuple[tuple[str, ...], ...]] = {
    # Each inner tuple is satisfied when any one of its fields is present.
    EmailType.ORDER: (("order_id",), ("total",)),
    EmailType.SHIPPING: (("tracking_number",), ("carrier",)),
    EmailType.INVOICE: (("total",), ("invoice_number", "vendor")),
    EmailType.BOOKING: (("reference",), ("start",)),
}


@dataclass(frozen=True, slots=True)
class MarkupFields:
    email_type: EmailType
    fields: dict[str, Any]
    schema_type: str
    complete: bool
    """True when every key field of the type is present, so no LLM call is needed."""


def fields_from_markup(items: list[dict[str, Any]]) -> MarkupFields | None:
    """Return the fields of the first item mailsift can map, or None."""
    for item in items:
        schema_type = _type_name(item)
        mapped = _map_item(schema_type, item)
        if mapped is None:
            continue
        email_type, fields = mapped
        fields = {key: value for key, value in fields.items() if value not in (None, "", [])}
        return MarkupFields(
            email_type=email_type,
            fields=fields,
            schema_type=schema_type,
            complete=_has_key_fields(email_type, fields),
        )
    return None


def _map_item(schema_type: str, item: dict[str, Any]) -> tuple[EmailType, dict[str, Any]] | None:
    if schema_type == "Order":
        return EmailType.ORDER, _order(item)
    if schema_type == "ParcelDelivery":
        return EmailType.SHIPPING, _parcel(item)
    if schema_type == "Invoice":
        return EmailType.INVOICE, _invoice(item)
    if schema_type in RESERVATION_KINDS:
        return EmailType.BOOKING, _reservation(schema_type, item)
    return None


def _order(item: dict[str, Any]) -> dict[str, Any]:
    offers = item.get("acceptedOffer")
    line_items = []
    for offer in offers if isinstance(offers, list) else [offers] if offers else []:
        if not isinstance(offer, dict):
            continue
        line_items.append(
            {
                "name": _name(offer.get("itemOffered")) or "item",
                "quantity": _int(_dig(offer, "eligibleQuantity", "value")),
                "unit_price": _text(offer.get("price")),
            }
        )
    return {
        "merchant": _name(item.get("merchant") or item.get("seller")),
        "order_id": _text(item.get("orderNumber")),
        "order_date": _text(item.get("orderDate")),
        "currency": _text(item.get("priceCurrency")),
        "total": _text(item.get("price") or _dig(item, "totalPaymentDue", "price")),
        "line_items": line_items,
    }


def _parcel(item: dict[str, Any]) -> dict[str, Any]:
    status = _text(item.get("deliveryStatus"))
    return {
        "carrier": _name(item.get("carrier") or item.get("provider")),
        "tracking_number": _text(item.get("trackingNumber")),
        "status": DELIVERY_STATUS.get(status or ""),
        "estimated_delivery": _text(
            item.get("expectedArrivalUntil") or item.get("expectedArrivalFrom")
        ),
        "order_id": _text(_dig(item, "partOfOrder", "orderNumber")),
    }


def _invoice(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "vendor": _name(item.get("provider") or item.get("broker")),
        "invoice_number": _text(item.get("confirmationNumber") or item.get("identifier")),
        "due_date": _text(item.get("paymentDueDate") or item.get("paymentDue")),
        "currency": _text(_dig(item, "totalPaymentDue", "priceCurrency")),
        "total": _text(_dig(item, "totalPaymentDue", "price")),
    }


def _reservation(schema_type: str, item: dict[str, Any]) -> dict[str, Any]:
    target = item.get("reservationFor")
    target = target[0] if isinstance(target, list) and target else target
    target = target if isinstance(target, dict) else {}
    provider = (
        _name(target.get("airline"))
        or _name(target.get("provider"))
        or _name(item.get("provider"))
        or _name(item.get("bookingAgent"))
        or _name(target)
    )
    start = (
        target.get("departureTime")
        or item.get("checkinDate")
        or item.get("checkinTime")
        or target.get("startDate")
        or item.get("startTime")
        or item.get("pickupTime")
    )
    end = (
        target.get("arrivalTime")
        or item.get("checkoutDate")
        or item.get("checkoutTime")
        or target.get("endDate")
        or item.get("endTime")
        or item.get("dropoffTime")
    )
    return {
        "provider": provider,
        "reference": _text(item.get("reservationNumber")),
        "kind": RESERVATION_KINDS.get(schema_type),
        "start": _text(start),
        "end": _text(end),
        "location": _location(target, item),
        "traveller": _name(item.get("underName")),
    }


def _location(target: dict[str, Any], item: dict[str, Any]) -> str | None:
    departure = target.get("departureAirport") or target.get("departureStation")
    arrival = target.get("arrivalAirport") or target.get("arrivalStation")
    if departure or arrival:
        return f"{_place(departure) or '?'} -> {_place(arrival) or '?'}"
    return _place(target.get("location")) or _place(target.get("address") or target)


def _place(value: Any) -> str | None:
    if isinstance(value, dict):
        address = value.get("address")
        return (
            _text(value.get("iataCode"))
            or _text(value.get("name"))
            or (_text(address) if not isinstance(address, dict) else None)
            or _text(_dig(value, "address", "addressLocality"))
        )
    return _text(value)


def _type_name(item: dict[str, Any]) -> str:
    value = item.get("@type")
    if isinstance(value, list):
        value = value[0] if value else ""
    return str(value or "").rsplit("/", 1)[-1]


def _name(value: Any) -> str | None:
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, dict):
        return _text(value.get("name"))
    return _text(value)


def _dig(value: Any, *keys: str) -> Any:
    for key in keys:
        if isinstance(value, list):
            value = value[0] if value else None
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _text(value: Any) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float | str):
        text = str(value).strip()
        return text.rsplit("/", 1)[-1] if text.startswith("http://schema.org/") else text or None
    return None


def _int(value: Any) -> int | None:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


def _has_key_fields(email_type: EmailType, fields: dict[str, Any]) -> bool:
    requirements = KEY_FIELDS.get(email_type)
    if requirements is None:
        return False
    return all(any(fields.get(name) for name in options) for options in requirements)
