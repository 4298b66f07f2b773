"""Helpers shared by the benchmarks: the LLM server double in its own process, and mail.

The double runs in a separate process so that its batching loop does not compete with
mailsift for the interpreter lock, as a real LLM server would not.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import random
import statistics
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

from mailsift.testing.llm import LLMServerDouble, TimingModel


def _serve(timing: TimingModel, connection: multiprocessing.connection.Connection) -> None:
    with LLMServerDouble(timing=timing, per_request_metrics=True) as server:
        connection.send(server.base_url)
        connection.recv()  # any message means stop


@contextmanager
def double_in_process(timing: TimingModel) -> Iterator[str]:
    """Run an LLM server double with `timing` in a child process; yield its base URL."""
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(target=_serve, args=(timing, child), daemon=True)
    process.start()
    try:
        if not parent.poll(30):
            raise RuntimeError("the LLM server double did not start within 30 s")
        yield str(parent.recv())
    finally:
        parent.send("stop")
        process.join(15)
        if process.is_alive():
            process.kill()


def mailsift_run(
    mbox: Path, base_url: str, database: Path, data_dir: Path, *options: str
) -> tuple[list[str], dict[str, str]]:
    """Return the command line and environment that run `mailsift run` over `mbox`.

    `options` are extra `mailsift run` options, such as `--concurrency auto`.
    """
    command = [
        str(Path(sys.executable).with_name("mailsift")),
        "run",
        str(mbox),
        "--llm-url",
        base_url,
        "--db",
        f"sqlite:///{database}",
        *options,
    ]
    return command, {**os.environ, "MAILSIFT_DATA_DIR": str(data_dir)}


def percentile(values: list[float], fraction: float) -> float:
    """Return the value below which `fraction` of `values` lie (inclusive method)."""
    if len(values) == 1:
        return values[0]
    cut = statistics.quantiles(values, n=100, method="inclusive")
    return cut[round(fraction * 100) - 1]


# Synthetic mail: a handful of shapes of everyday automated mail, with varied names,
# numbers, lengths and encodings, deterministic for a given seed.

SHOPS = ["Northwind", "Contoso Outdoor", "Fabrikam Books", "Tailspin Toys", "Adventure Works"]
ITEMS = ["enamel mug", "kettle", "trail shoes", "rain jacket", "novel", "puzzle", "lamp"]
WORDS = [
    *("update", "news", "offer", "season", "delivery", "account", "order", "team"),
    *("product", "price", "week", "member", "new", "guide", "service", "store"),
    *("local", "event", "early", "ticket", "ready", "support", "thanks", "summer"),
]
CITIES = ["Berlin", "Lisbon", "Oslo", "Madrid", "Vienna", "Dublin", "Prague"]


def _paragraphs(rng: random.Random, count: int) -> list[str]:
    return [
        " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 30))).capitalize() + "."
        for _ in range(count)
    ]


def _order_html(rng: random.Random, number: int, shop: str) -> tuple[str, str, str]:
    rows = [(rng.choice(ITEMS), rng.randint(1, 4), rng.randint(200, 9000) / 100) for _ in range(3)]
    total = sum(quantity * price for _, quantity, price in rows)
    cells = "".join(
        f"<tr><td>{item}</td><td>{quantity}</td><td>{price:.2f} EUR</td></tr>"
        for item, quantity, price in rows
    )
    text = "\n".join(f"{item}  {quantity} x {price:.2f} EUR" for item, quantity, price in rows)
    html = (
        '<html><body><span style="display:none">Order confirmed</span>'
        f"<h1>Thanks for your order</h1><p>Order <b>{number}</b></p>"
        f'<table class="items"><tr><th>Item</th><th>Qty</th><th>Price</th></tr>{cells}'
        f"<tr><td colspan=2>Total</td><td>{total:.2f} EUR</td></tr></table>"
        f'<p><a href="https://shop.example.com/o/{number}">View order</a></p>'
        f'<img src="https://t.example.com/p.gif?u={number}" width="1" height="1"></body></html>'
    )
    return f"Your {shop} order {number} is confirmed", text + f"\nTotal {total:.2f} EUR", html


def _newsletter_html(rng: random.Random, shop: str) -> tuple[str, str, str]:
    paragraphs = _paragraphs(rng, rng.randint(2, 12))
    body = "".join(f"<p>{paragraph}</p>" for paragraph in paragraphs)
    html = (
        f"<html><body><table><tr><td><h2>{shop} weekly</h2>{body}"
        '<a href="https://news.example.com/unsubscribe">Unsubscribe</a></td></tr></table>'
        "</body></html>"
    )
    return f"{shop}: {rng.choice(WORDS)} {rng.choice(WORDS)} this week", "", html


def _shipping_text(rng: random.Random, number: int, shop: str) -> str:
    tracking = "".join(rng.choice("0123456789ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(18))
    city = rng.choice(CITIES)
    return (
        f"Your parcel for order {number} from {shop} is on its way.\n\n"
        f"Tracking number: {tracking}\nCarrier: Parcel Express\nDestination: {city}\n\n"
        + "\n\n".join(_paragraphs(rng, rng.randint(0, 3)))
    )


def _alert_text(rng: random.Random) -> str:
    city = rng.choice(CITIES)
    return (
        f"A new sign-in to your account from {city} was detected.\n"
        f"If this was not you, reset your password.\n\nCode: {rng.randint(100000, 999999)}\n"
    )


def generate_message(index: int, rng: random.Random, sent: datetime) -> bytes:
    """Return one RFC 5322 message with CRLF line ends."""
    shop = rng.choice(SHOPS)
    domain = shop.split()[0].lower() + ".example.com"
    number = rng.randint(100000, 999999)
    kind = rng.randrange(5)
    headers = [
        f'From: "{shop}" <noreply@{domain}>',
        "To: Sam Reader <sam@example.org>",
        f"Date: {format_datetime(sent)}",
        f"Message-ID: <m{index}.{number}@{domain}>",
        "MIME-Version: 1.0",
    ]
    if kind in (0, 1):
        if kind == 0:
            subject, text, html = _order_html(rng, number, shop)
        else:
            subject, text, html = _newsletter_html(rng, shop)
        boundary = f"b{index}"
        headers += [
            f"Subject: {subject}",
            f'Content-Type: multipart/alternative; boundary="{boundary}"',
        ]
        parts = []
        if text:
            parts.append(
                f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n"
            )
        parts.append(f"--{boundary}\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{html}\r\n")
        body = "".join(parts) + f"--{boundary}--\r\n"
    else:
        if kind == 2:
            subject, text = f"Order {number} has shipped", _shipping_text(rng, number, shop)
        elif kind == 3:
            subject, text = "New sign-in to your account", _alert_text(rng)
        else:
            subject = f"Invoice {number} from {shop}"
            text = f"Invoice {number}\nAmount due: {rng.randint(500, 90000) / 100:.2f} EUR\n"
            text += "\n\n".join(_paragraphs(rng, rng.randint(1, 4)))
        # A few subjects carry an RFC 2047 encoded word, as real mail does.
        if index % 7 == 0:
            subject = "=?utf-8?q?" + subject.replace(" ", "_") + "_=E2=9C=93?="
        headers += [f"Subject: {subject}", "Content-Type: text/plain; charset=utf-8"]
        body = text.replace("\n", "\r\n") + "\r\n"
    return ("\r\n".join(headers) + "\r\n\r\n" + body).encode("utf-8")


def write_mbox(path: Path, count: int, seed: int = 20261204) -> int:
    """Write `count` generated messages as an mbox file; return its size in bytes."""
    rng = random.Random(seed)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    size = 0
    with path.open("wb") as handle:
        for index in range(count):
            sent = start + timedelta(minutes=17 * index)
            message = generate_message(index, rng, sent).replace(b"\r\n", b"\n")
            # mboxo escaping: a body line starting with "From " would split the message.
            message = message.replace(b"\nFrom ", b"\n>From ")
            envelope = f"From noreply@example.com {sent:%a %b %d %H:%M:%S %Y}\n".encode()
            chunk = envelope + message + b"\n"
            handle.write(chunk)
            size += len(chunk)
    return size
