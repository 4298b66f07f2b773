"""Versioned prompts. Every stored result names the prompt and version that produced it.

Bump `version` whenever the wording or the schema of a prompt changes: results are unique
per (email, prompt, version, model), so a new version reprocesses instead of overwriting.
"""

from __future__ import annotations

from dataclasses import dataclass

from mailsift.extraction.schemas import EmailType


@dataclass(frozen=True, slots=True)
class Prompt:
    name: str
    version: str
    system: str


CLASSIFY = Prompt(
    name="classify-email",
    version="1",
    system=(
        "You sort emails into one type. Answer with JSON only.\n"
        "Types: order (a purchase was placed or confirmed), shipping (a parcel was sent, is "
        "in transit or delivered), invoice (an invoice, receipt or bill to pay), booking (a "
        "reservation for travel, lodging, an event or a table), account (password, login, "
        "verification or security notice), newsletter (marketing, promotions, digests), "
        "other (personal mail and anything else)."
    ),
)

_EXTRACT_RULES = (
    "Copy values exactly as they appear in the email; do not invent values. Use null for "
    "anything the email does not state. Dates in ISO 8601. Amounts as plain numbers with a "
    "dot as decimal separator. Currencies as ISO 4217 codes. Answer with JSON only."
)

EXTRACT: dict[EmailType, Prompt] = {
    email_type: Prompt(
        name=f"extract-{email_type.value}",
        version="1",
        system=f"You extract the fields of a {email_type.value} email. {_EXTRACT_RULES}",
    )
    for email_type in EmailType
}

REPAIR_INSTRUCTION = (
    "Your previous answer was not valid for the required JSON schema.\n"
    "Validation error: {error}\n"
    "Answer again with corrected JSON only."
)


def render_email(
    *,
    subject: str | None,
    sender: str | None,
    date: str | None,
    preheader: str | None,
    body: str,
    markup_hint: str | None = None,
) -> str:
    """Lay out an email as the user message of a prompt."""
    lines = [
        f"Subject: {subject or '(none)'}",
        f"From: {sender or '(unknown)'}",
        f"Date: {date or '(unknown)'}",
    ]
    if preheader:
        lines.append(f"Preview: {preheader}")
    if markup_hint:
        lines.append(f"Structured data found in the email: {markup_hint}")
    lines.append("")
    lines.append(body)
    return "\n".join(lines)
