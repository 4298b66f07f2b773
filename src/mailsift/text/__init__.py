"""LLM-ready text and schema.org markup from HTML mail bodies.

Call `harvest_schema_org` on the raw HTML first, because `html_to_text` drops scripts,
and with them any JSON-LD. Then cut the text to the model's context with `fit_to_budget`.
"""

from mailsift.text.budget import estimate_tokens, fit_to_budget
from mailsift.text.html_text import LlmText, html_to_text
from mailsift.text.markup import MarkupHarvest, harvest_schema_org

__all__ = [
    "LlmText",
    "MarkupHarvest",
    "estimate_tokens",
    "fit_to_budget",
    "harvest_schema_org",
    "html_to_text",
]
