"""`mailsift export`: write stored results as JSON Lines or CSV."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from mailsift.cli.app import DataDirOption, DbOption, app, fail_usage
from mailsift.errors import MailsiftError


class ExportFormat(StrEnum):
    JSONL = "jsonl"
    CSV = "csv"


@app.command("export")
def export(
    format: Annotated[ExportFormat, typer.Option("--format", help="Output format.")] = (
        ExportFormat.JSONL
    ),
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (default: stdout).")
    ] = None,
    db: DbOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Write one record per email: type, fields, prompt version, model and token counts."""
    from mailsift.config import default_data_dir, resolve_db_url
    from mailsift.export import iter_records, write_csv, write_jsonl
    from mailsift.store.database import create_db_engine, upgrade

    try:
        engine = create_db_engine(resolve_db_url(db, data_dir or default_data_dir()))
        upgrade(engine)
    except MailsiftError as exc:
        raise fail_usage(str(exc)) from None

    writer = write_jsonl if format is ExportFormat.JSONL else write_csv
    if output is None:
        writer(iter_records(engine), sys.stdout)
        return
    with output.open("w", encoding="utf-8", newline="") as handle:
        count = writer(iter_records(engine), handle)
    typer.echo(f"wrote {count} records to {output}", err=True)
