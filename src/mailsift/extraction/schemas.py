"""One pydantic model per email type: the typed fields mailsift extracts.

The models double as the JSON schemas sent for constrained decoding, so they stay narrow:
small models fail on wide schemas, and every optional field is a chance to hallucinate.
Amounts are strings in the schema (models write "12.50", not 12.5000001) and become
Decimal on validation.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator


class EmailType(StrEnum):
    ORDER = "order"
    SHIPPING = "shipping"
    INVOICE = "invoice"
    BOOKING = "booking"
    ACCOUNT = "account"
    NEWSLETTER = "newsletter"
    OTHER = "other"


class _Fields(BaseModel):
    # Closed schemas: vLLM and llama.cpp only constrain what the schema pins down, and
    # `additionalProperties: false` stops the model from inventing keys.
    model_config = ConfigDict(extra="forbid")


def _parse_amount(value: Any) -> Any:
    """Accept "1,234.50", "$12.00" or 12.5 as an amount; leave anything else to pydantic."""
    if isinstance(value, str):
        cleaned = value.strip().replace(",", "")
        for symbol in ("$", "€", "£", "¥"):
            cleaned = cleaned.replace(symbol, "")
        return cleaned.strip() or None
    return value


Amount = Annotated[Decimal, Field(description="Amount as written, digits and a dot, e.g. 12.50")]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code, e.g. EUR")]


class LineItem(_Fields):
    name: str = Field(max_length=200)
    quantity: int | None = Field(default=None, ge=0)
    unit_price: Amount | None = None

    _amount = field_validator("unit_price", mode="before")(_parse_amount)


class OrderFields(_Fields):
    merchant: str | None = Field(default=None, max_length=120)
    order_id: str | None = Field(default=None, max_length=80)
    order_date: str | None = Field(default=None, description="ISO 8601 date, e.g. 2026-11-30")
    currency: Currency | None = None
    total: Amount | None = None
    line_items: list[LineItem] = Field(default_factory=list, max_length=50)

    _amount = field_validator("total", mode="before")(_parse_amount)


class ShippingStatus(StrEnum):
    LABEL_CREATED = "label_created"
    SHIPPED = "shipped"
    IN_TRANSIT = "in_transit"
    OUT_FOR_DELIVERY = "out_for_delivery"
    DELIVERED = "delivered"
    EXCEPTION = "exception"


class ShippingFields(_Fields):
    carrier: str | None = Field(default=None, max_length=80)
    tracking_number: str | None = Field(default=None, max_length=80)
    status: ShippingStatus | None = None
    estimated_delivery: str | None = Field(default=None, description="ISO 8601 date")
    order_id: str | None = Field(default=None, max_length=80)


class InvoiceFields(_Fields):
    vendor: str | None = Field(default=None, max_length=120)
    invoice_number: str | None = Field(default=None, max_length=80)
    invoice_date: str | None = Field(default=None, description="ISO 8601 date")
    due_date: str | None = Field(default=None, description="ISO 8601 date")
    currency: Currency | None = None
    total: Amount | None = None
    tax: Amount | None = None

    _amount = field_validator("total", "tax", mode="before")(_parse_amount)


class BookingFields(_Fields):
    provider: str | None = Field(default=None, max_length=120)
    reference: str | None = Field(default=None, max_length=80)
    kind: str | None = Field(default=None, description="flight, hotel, train, event, car, ...")
    start: str | None = Field(default=None, description="ISO 8601 date or date-time")
    end: str | None = Field(default=None, description="ISO 8601 date or date-time")
    location: str | None = Field(default=None, max_length=200)
    traveller: str | None = Field(default=None, max_length=120)


class AccountFields(_Fields):
    service: str | None = Field(default=None, max_length=120)
    action: str | None = Field(
        default=None, description="password_reset, login_alert, verification, ..."
    )
    code: str | None = Field(default=None, max_length=20, description="One-time code if any")


class NewsletterFields(_Fields):
    sender_name: str | None = Field(default=None, max_length=120)
    topic: str | None = Field(default=None, max_length=200)
    offer: str | None = Field(default=None, max_length=200)


class OtherFields(_Fields):
    summary: str | None = Field(default=None, max_length=300)


FIELDS_BY_TYPE: dict[EmailType, type[_Fields]] = {
    EmailType.ORDER: OrderFields,
    EmailType.SHIPPING: ShippingFields,
    EmailType.INVOICE: InvoiceFields,
    EmailType.BOOKING: BookingFields,
    EmailType.ACCOUNT: AccountFields,
    EmailType.NEWSLETTER: NewsletterFields,
    EmailType.OTHER: OtherFields,
}


class Classification(_Fields):
    email_type: EmailType


def json_schema_for(model: type[BaseModel]) -> dict[str, Any]:
    """Return the closed JSON schema that is sent to the server for constrained decoding."""
    return model.model_json_schema()
