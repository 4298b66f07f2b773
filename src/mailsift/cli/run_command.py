"""`mailsift run`: the main job over one or more mail sources."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from mailsift.cli.app import (
    EXIT_USAGE,
    DataDirOption,
    DbOption,
    VerboseOption,
    app,
    configure_logging,
    fail_usage,
)
from mailsift.errors import ConfigError, LLMError, MailsiftError
from mailsift.pipeline.summary import RunSummary
from mailsift.sources import SourceFormat

console = Console(stderr=True)


@app.command("run")
def run(
    sources: Annotated[
        list[Path], typer.Argument(help="Folders of .eml files, mbox files or Maildirs.")
    ],
    source_format: Annotated[
        SourceFormat | None,
        typer.Option("--format", help="Force the source format instead of detecting it."),
    ] = None,
    reprocess: Annotated[
        bool, typer.Option("--reprocess", help="Process emails again even if already done.")
    ] = False,
    llm_url: Annotated[
        str | None,
        typer.Option(
            "--llm-url",
            help="OpenAI-compatible base URL ending in /v1 "
            "(env MAILSIFT_LLM_URL or OPENAI_BASE_URL). Unset: embedded llama.cpp.",
        ),
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", help="Served model name (default: the first one).")
    ] = None,
    concurrency: Annotated[
        str,
        typer.Option(
            "--concurrency",
            help="LLM requests in flight at once: a number, or 'auto' to find and hold the "
            "server's capacity while running, up to --max-concurrency.",
        ),
    ] = "4",
    max_concurrency: Annotated[
        int,
        typer.Option(
            "--max-concurrency",
            help="Maximum LLM requests in flight with --concurrency auto; set it at or above the "
            "server's batch size (vLLM --max-num-seqs).",
        ),
    ] = 64,
    llm_timeout_s: Annotated[
        float, typer.Option("--llm-timeout", help="Read timeout per LLM request, in seconds.")
    ] = 300.0,
    max_body_tokens: Annotated[
        int,
        typer.Option(
            "--max-body-tokens",
            help="Token budget (estimated) of email text "
            "sent to the LLM; longer text is cut with a marker.",
        ),
    ] = 1500,
    max_message_mib: Annotated[
        float, typer.Option("--max-message-mib", help="Reject messages larger than this.")
    ] = 25.0,
    decode_timeout_s: Annotated[
        float, typer.Option("--decode-timeout", help="Seconds allowed to decode one message.")
    ] = 10.0,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            "--metrics-port",
            help="Serve telemetry health as Prometheus metrics on this loopback port "
            "(/metrics, /health) while running.",
        ),
    ] = None,
    db: DbOption = None,
    data_dir: DataDirOption = None,
    verbose: VerboseOption = 0,
) -> None:
    """Extract structured data from every email in SOURCES and store it."""
    from mailsift.config import default_data_dir, resolve_db_url, resolve_llm
    from mailsift.parsing.limits import ParseLimits
    from mailsift.pipeline.runner import RunOptions
    from mailsift.store.database import create_db_engine, upgrade

    configure_logging(verbose)
    from mailsift.telemetry.lifecycle import exit_on_sigterm

    # SIGTERM (a container stop) then takes the normal exit path: the embedded server is
    # stopped and telemetry is flushed within its deadline, the rest kept in the outbox.
    exit_on_sigterm()
    for source in sources:
        if not source.exists():
            raise fail_usage(f"mail source {source} does not exist")
    adaptive, in_flight = _parse_concurrency(concurrency, max_concurrency)
    try:
        llm = resolve_llm(
            url=llm_url, model=model, concurrency=in_flight, read_timeout_s=llm_timeout_s
        )
        limits = ParseLimits(
            max_message_bytes=int(max_message_mib * 1024 * 1024), timeout_s=decode_timeout_s
        )
        data = data_dir or default_data_dir()
        engine = create_db_engine(resolve_db_url(db, data))
        upgrade(engine)
    except (ConfigError, ValueError) as exc:
        raise fail_usage(str(exc)) from None

    from mailsift.telemetry import load_langfuse_config

    try:
        langfuse = load_langfuse_config()
    except ConfigError as exc:
        raise fail_usage(str(exc)) from None

    options = RunOptions(
        sources=sources,
        source_format=source_format,
        reprocess=reprocess,
        workers=llm.concurrency,
        max_body_tokens=max_body_tokens,
        limits=limits,
    )
    with contextlib.ExitStack() as stack:
        url = llm.url
        if url is None:
            from mailsift.llm.embedded import EmbeddedServer

            console.print(
                "No LLM URL configured: starting the embedded llama.cpp server "
                "(SmolLM2-135M, demo quality).",
                highlight=False,
            )
            try:
                server = stack.enter_context(EmbeddedServer(data / "logs" / "llama-server.log"))
            except (ConfigError, LLMError) as exc:
                raise fail_usage(str(exc)) from None
            url = server.base_url
        telemetry = None
        if langfuse is not None:
            from mailsift.telemetry import start_telemetry

            telemetry = start_telemetry(langfuse, outbox_path=data / "telemetry-outbox.db")
            if metrics_port is not None:
                from mailsift.telemetry.lifecycle import MetricsServer

                metrics = MetricsServer(telemetry.health, metrics_port).start()
                stack.callback(metrics.stop)
        try:
            summary = asyncio.run(_run_async(engine, url, llm, options, telemetry, adaptive))
        except LLMError as exc:
            raise fail_usage(str(exc)) from None
        except MailsiftError as exc:
            raise fail_usage(str(exc)) from None
        finally:
            if telemetry is not None:
                telemetry.close()
        summary.telemetry = (
            telemetry.summary_line()
            if telemetry is not None
            else "off (LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY are not set)"
        )

    print_summary(summary)
    raise typer.Exit(summary.exit_code)


def _parse_concurrency(value: str, max_concurrency: int) -> tuple[bool, int]:
    """Return (adaptive, requests in flight or their ceiling) from the two options."""
    if value.strip().lower() == "auto":
        if max_concurrency < 1:
            raise fail_usage(
                f"--max-concurrency must be at least 1, got {max_concurrency}; set it at or "
                "above the LLM server's batch size (vLLM: --max-num-seqs)"
            )
        return True, max_concurrency
    try:
        return False, int(value)
    except ValueError:
        raise fail_usage(
            f"--concurrency must be a whole number or 'auto', got {value!r}; for example "
            "--concurrency 16, or --concurrency auto to find the LLM server's limit"
        ) from None


async def _run_async(engine, url, llm, options, telemetry, adaptive) -> RunSummary:  # type: ignore[no-untyped-def]
    from mailsift.extraction.extractor import Extractor
    from mailsift.llm.adaptive import AdaptiveLimit, AdaptiveSettings
    from mailsift.llm.client import LLMClient, LLMSettings
    from mailsift.llm.concurrency import ConcurrencyLimit, FixedLimit
    from mailsift.pipeline.runner import Runner
    from mailsift.store.repository import Store

    settings = LLMSettings(
        base_url=url, model=llm.model, api_key=llm.api_key, read_timeout_s=llm.read_timeout_s
    )
    limit: ConcurrencyLimit = FixedLimit(llm.concurrency)
    if adaptive:
        limit = AdaptiveLimit(AdaptiveSettings(max_limit=llm.concurrency))
    async with LLMClient(settings, limit=limit) as client:
        await client.discover()
        with Progress(
            SpinnerColumn(),
            TextColumn("processing"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as progress:
            task = progress.add_task("emails", total=None)
            runner = Runner(
                Store(engine),
                Extractor(client),
                options,
                on_progress=lambda n: progress.advance(task, n),
                telemetry=telemetry,
            )
            return await runner.run()


def print_summary(summary: RunSummary) -> None:
    table = Table(title="mailsift run", show_header=False, title_justify="left")
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_row("processed", str(summary.processed))
    table.add_row("skipped (already done)", str(summary.skipped))
    table.add_row("failed", str(summary.failed))
    for email_type, count in sorted(summary.by_type.items()):
        table.add_row(f"  type {email_type}", str(count))
    for provenance, count in sorted(summary.by_provenance.items()):
        table.add_row(f"  from {provenance}", str(count))
    table.add_row("model", summary.model or "-")
    table.add_row("LLM calls", str(summary.llm_calls))
    table.add_row(
        "tokens (prompt / completion)", f"{summary.prompt_tokens} / {summary.completion_tokens}"
    )
    table.add_row("wall time", f"{summary.wall_s:.1f} s")
    done = summary.processed + summary.failed
    if done:
        table.add_row("LLM time per email", f"{summary.llm_ms / done:.0f} ms")
    if summary.prepare_ms:
        table.add_row("prepare per email (median)", f"{summary.prepare_ms.median:.1f} ms")
    if summary.store_ms:
        table.add_row("store per email (median)", f"{summary.store_ms.median:.1f} ms")
    table.add_row("telemetry", summary.telemetry)
    console.print(table)
    for failure in summary.failures:
        console.print(f"[red]failed[/red] {failure.location}: {failure.reason}", highlight=False)


__all__ = ["EXIT_USAGE", "run"]
