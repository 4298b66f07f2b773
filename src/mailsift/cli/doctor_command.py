"""`mailsift doctor`: check the Langfuse and LLM server set-up before a run."""

from __future__ import annotations

import math
from typing import Annotated

import typer
from rich.console import Console

from mailsift.cli.app import (
    EXIT_OK,
    EXIT_SOME_FAILED,
    VerboseOption,
    app,
    configure_logging,
    fail_usage,
)


@app.command("doctor")
def doctor(
    json_output: Annotated[
        bool, typer.Option("--json", help="Print one JSON object instead of text.")
    ] = False,
    llm_url: Annotated[
        str | None,
        typer.Option(
            "--llm-url",
            help="OpenAI-compatible base URL ending in /v1 (env MAILSIFT_LLM_URL or "
            "OPENAI_BASE_URL). Unset: the LLM check is skipped.",
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option("--model", help="Served model name to expect (default: the first one)."),
    ] = None,
    skip_llm: Annotated[bool, typer.Option("--skip-llm", help="Do not check the LLM server.")] = (
        False
    ),
    skip_langfuse: Annotated[
        bool, typer.Option("--skip-langfuse", help="Do not check Langfuse.")
    ] = False,
    canary_timeout_s: Annotated[
        float,
        typer.Option(
            "--canary-timeout",
            help="Seconds to wait for the canary trace to become readable in Langfuse.",
        ),
    ] = 30.0,
    verbose: VerboseOption = 0,
) -> None:
    """Check Langfuse and the LLM server layer by layer, and print a fix for each failure.

    Langfuse: settings, DNS, TCP, TLS, authentication, write path, then a canary trace.

    The canary trace, named mailsift-doctor-canary, stays in the Langfuse project.

    The write-mode probe sends one invalid event, which the server rejects without storing it.

    LLM: the model list, then one schema-constrained completion.

    Exit codes: 0 no check failed, 1 a check failed, 2 usage error.
    """
    from mailsift.doctor import DoctorOptions, print_report, run_doctor, to_json

    configure_logging(verbose)
    if not math.isfinite(canary_timeout_s) or canary_timeout_s <= 0:
        raise fail_usage(
            f"--canary-timeout must be a positive number of seconds, got {canary_timeout_s}"
        )

    report = run_doctor(
        DoctorOptions(
            llm_url=llm_url,
            model=model,
            skip_llm=skip_llm,
            skip_langfuse=skip_langfuse,
            canary_timeout_s=canary_timeout_s,
        )
    )
    if json_output:
        typer.echo(to_json(report))
    else:
        print_report(report, Console(highlight=False))
    raise typer.Exit(EXIT_OK if report.ok else EXIT_SOME_FAILED)
