"""mailsift: raw email in, validated structured data out, through a self-hosted LLM."""

__version__ = "0.1.0"

__all__ = ["__version__"]
