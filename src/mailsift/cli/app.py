"""Command definitions. The work itself lives in the pipeline, store and export modules."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from mailsift.errors import ConfigError, MailsiftError

EXIT_OK = 0
EXIT_SOME_FAILED = 1
EXIT_USAGE = 2

app = typer.Typer(
    name="mailsift",
    help="Turn raw email into validated structured data with a self-hosted LLM.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema commands.", no_args_is_help=True)
app.add_typer(db_app, name="db")

err_console = Console(stderr=True)

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Database URL (default: SQLite under the data directory).",
        envvar="MAILSIFT_DB_URL",
        show_envvar=True,
    ),
]
DataDirOption = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Where the SQLite database and logs live.",
        envvar="MAILSIFT_DATA_DIR",
        show_envvar=True,
    ),
]
VerboseOption = Annotated[
    int, typer.Option("--verbose", "-v", count=True, help="More log output; repeat for debug.")
]


def configure_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity == 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    # httpx logs one INFO line per request; at -v that drowns the pipeline's own lines.
    logging.getLogger("httpx").setLevel(logging.WARNING if verbosity < 2 else logging.DEBUG)
    # tnefparse logs every corrupt structure at ERROR (one of its calls with a broken format
    # string); mailsift records the problem as a defect on the email instead.
    logging.getLogger("tnefparse").setLevel(logging.CRITICAL)


def fail_usage(message: str) -> typer.Exit:
    err_console.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(EXIT_USAGE)


@db_app.command("upgrade")
def db_upgrade(db: DbOption = None, data_dir: DataDirOption = None) -> None:
    """Create or migrate the database schema to the latest revision."""
    from mailsift.config import default_data_dir, resolve_db_url
    from mailsift.store.database import create_db_engine, upgrade

    try:
        engine = create_db_engine(resolve_db_url(db, data_dir or default_data_dir()))
        upgrade(engine)
    except MailsiftError as exc:
        raise fail_usage(str(exc)) from None
    typer.echo(f"schema up to date: {engine.url.render_as_string(hide_password=True)}")


def register_commands() -> None:
    """Import every `*_command` module of this package; each registers itself on `app`."""
    import importlib
    import pkgutil

    import mailsift.cli

    for module in pkgutil.iter_modules(mailsift.cli.__path__):
        if module.name.endswith("_command"):
            importlib.import_module(f"mailsift.cli.{module.name}")


def main() -> None:
    register_commands()
    try:
        app()
    except ConfigError as exc:
        err_console.print(f"[red]error:[/red] {exc}", highlight=False)
        sys.exit(EXIT_USAGE)
