"""Compare HTML-to-text converters on the HTML bodies of the public corpus.

Run from the repository root:

    .venv/bin/python bench/html_to_text.py [--repeats N]

The corpus is read from ../shared/corpus/public beside the checkout: the text/html parts
of every .eml (decoded with the standard library) plus the HTML files of
extras/kitinerary. Each repetition times every converter on every document, one after
the other, so all converters see the same machine state. Times are medians over the
repetitions. Output sizes count characters after stripping each line and dropping empty
lines. The result is a Markdown table on stdout.
"""

from __future__ import annotations

import argparse
import email
import email.message
import email.policy
import gc
import statistics
import sys
import time
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

import inscriptis
from resiliparse.extract.html2text import extract_plain_text
from selectolax.lexbor import LexborHTMLParser

from mailsift.text import html_to_text

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "public"
BRUSSELS = "kitinerary/brusselsairlines__brusselsairlines_1.html"


def load_documents() -> dict[str, str]:
    documents: dict[str, str] = {}
    for path in sorted(CORPUS.glob("*.eml")):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        number = 0
        for part in message.walk():
            if part.get_content_type() == "text/html":
                number += 1
                documents[f"{path.name}#{number}"] = decode_part(part)
    for path in sorted((CORPUS / "extras" / "kitinerary").glob("*.html")):
        documents[f"kitinerary/{path.name}"] = path.read_text(encoding="utf-8")
    return documents


def decode_part(part: email.message.Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    try:
        return payload.decode(part.get_content_charset() or "utf-8", "replace")
    except LookupError:
        return payload.decode("utf-8", "replace")


def selectolax_text(html: str) -> str:
    tree = LexborHTMLParser(html)
    root = tree.body if tree.body is not None else tree.root
    return root.text(separator="\n") if root is not None else ""


def mailsift_text(html: str) -> str:
    return html_to_text(html).text


CONVERTERS: dict[str, Callable[[str], str]] = {
    f"inscriptis {version('inscriptis')} `get_text`": inscriptis.get_text,
    f"selectolax {version('selectolax')} `body.text(separator='\\n')`": selectolax_text,
    f"resiliparse {version('resiliparse')} `extract_plain_text`": extract_plain_text,
    "mailsift `html_to_text` (selectolax walk + cleaning)": mailsift_text,
}


def collapsed_size(text: str) -> int:
    lines = (" ".join(line.split()) for line in text.splitlines())
    return len("\n".join(line for line in lines if line))


def brussels_rows_survive(text: str) -> bool:
    """Return whether departure, arrival and flight number of a leg share one line."""
    return any(
        "Berlin, Tegel Airport" in line and "Brussels Airport" in line and "SN 2588" in line
        for line in text.splitlines()
    )


def measure(documents: dict[str, str], repeats: int) -> list[list[str]]:
    names = list(documents)
    largest = max(names, key=lambda name: len(documents[name]))
    times: dict[str, dict[str, list[float]]] = {
        converter: {name: [] for name in names} for converter in CONVERTERS
    }
    totals: dict[str, list[float]] = {converter: [] for converter in CONVERTERS}

    for convert in CONVERTERS.values():
        for html in documents.values():
            convert(html)

    gc.disable()
    try:
        for _ in range(repeats):
            for converter, convert in CONVERTERS.items():
                total = 0.0
                for name in names:
                    start = time.perf_counter()
                    convert(documents[name])
                    elapsed = time.perf_counter() - start
                    times[converter][name].append(elapsed)
                    total += elapsed
                totals[converter].append(total)
    finally:
        gc.enable()

    rows = []
    for converter, convert in CONVERTERS.items():
        per_document = [statistics.median(times[converter][name]) for name in names]
        outputs = {name: convert(documents[name]) for name in names}
        rows.append(
            [
                converter,
                f"{statistics.median(totals[converter]) * 1000:.2f}",
                f"{statistics.median(per_document) * 1000:.3f}",
                f"{statistics.median(times[converter][largest]) * 1000:.3f}",
                f"{sum(collapsed_size(text) for text in outputs.values()):,}",
                "yes" if brussels_rows_survive(outputs[BRUSSELS]) else "no",
            ]
        )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--repeats", type=int, default=15, help="number of timed passes over the document set"
    )
    arguments = parser.parse_args()

    if not CORPUS.is_dir():
        print(
            f"public corpus not found at {CORPUS}: put shared/corpus/public beside the checkout",
            file=sys.stderr,
        )
        return 1

    documents = load_documents()
    largest = max(documents, key=lambda name: len(documents[name]))
    total_chars = sum(len(html) for html in documents.values())
    print(
        f"{len(documents)} HTML documents, {total_chars:,} characters; largest {largest} "
        f"({len(documents[largest]):,} characters); {arguments.repeats} repetitions; "
        f"CPython {sys.version.split()[0]}\n"
    )

    header = [
        "converter",
        "set total (ms)",
        "per-document median (ms)",
        "largest document (ms)",
        "output chars",
        "Brussels legs on one line",
    ]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" + "---:|" * 4 + "---|")
    for row in measure(documents, arguments.repeats):
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
