"""`mailsift telemetry status|replay|purge`: inspect and manage the telemetry outbox."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from mailsift.cli.app import DataDirOption, app, fail_usage

telemetry_app = typer.Typer(help="Inspect and manage the telemetry outbox.", no_args_is_help=True)
app.add_typer(telemetry_app, name="telemetry")
console = Console()

OutboxOption = Annotated[
    Path | None,
    typer.Option(
        "--outbox", help="Outbox file (default: telemetry-outbox.db in the data directory)."
    ),
]


def _outbox_path(outbox: Path | None, data_dir: Path | None) -> Path:
    from mailsift.config import default_data_dir

    return outbox or (data_dir or default_data_dir()) / "telemetry-outbox.db"


def _open(outbox: Path | None, data_dir: Path | None):  # type: ignore[no-untyped-def]
    from mailsift.telemetry.outbox import Outbox

    path = _outbox_path(outbox, data_dir)
    if not path.exists():
        raise fail_usage(f"no telemetry outbox at {path}; nothing has been reported from here")
    return Outbox(path)


@telemetry_app.command("status")
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    outbox: OutboxOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Show what the outbox holds: pending, quarantined, exported, dropped, last error."""
    from mailsift.telemetry.health import HealthSnapshot

    box = _open(outbox, data_dir)
    state = box.state()
    snapshot = HealthSnapshot(
        outbox_path=str(box.path),
        counts=box.counts(),
        path=None,
        breaker=state.get("breaker", "closed").split(":", 1)[0],
        last_error=state.get("last_error"),
    )
    if as_json:
        payload = snapshot.to_dict()
        payload["recent_quarantined"] = box.quarantined_rows(10)
        typer.echo(json.dumps(payload, indent=2))
        raise typer.Exit(0 if snapshot.balanced else 1)

    counts = snapshot.counts
    table = Table(title=f"telemetry outbox {box.path}", show_header=False, title_justify="left")
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_row("emitted", str(counts.emitted))
    table.add_row("exported", str(counts.exported))
    table.add_row("pending", f"{counts.pending} ({counts.pending_bytes} bytes)")
    if counts.oldest_pending_age_s is not None:
        table.add_row("oldest pending", f"{counts.oldest_pending_age_s:.0f} s")
    table.add_row("quarantined", str(counts.quarantined))
    table.add_row("dropped", str(counts.dropped))
    table.add_row("retried", str(counts.retried))
    table.add_row("attributes cut", str(counts.truncated))
    table.add_row("circuit breaker", state.get("breaker", "closed"))
    table.add_row("last error", state.get("last_error", "-"))
    table.add_row("accounting", "balanced" if snapshot.balanced else "MISMATCH")
    console.print(table)
    for row in box.quarantined_rows(5):
        console.print(f"quarantined span {row['span_id']}: {row['reason']}", highlight=False)
    raise typer.Exit(0 if snapshot.balanced else 1)


@telemetry_app.command("replay")
def replay(
    quarantined: Annotated[
        bool, typer.Option("--quarantined", help="Also send the quarantined spans again.")
    ] = False,
    timeout_s: Annotated[
        float, typer.Option("--timeout", help="Seconds to wait for delivery.")
    ] = 60.0,
    outbox: OutboxOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Send pending (and with --quarantined, quarantined) spans now, after a fix."""
    from mailsift.errors import ConfigError
    from mailsift.telemetry import load_langfuse_config, start_telemetry

    box = _open(outbox, data_dir)
    try:
        config = load_langfuse_config()
    except ConfigError as exc:
        raise fail_usage(str(exc)) from None
    if config is None:
        raise fail_usage("LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY are not set")

    moved = box.replay_quarantined() if quarantined else 0
    released = box.release_all_leases()
    box.close()
    telemetry = start_telemetry(config, outbox_path=_outbox_path(outbox, data_dir))
    delivered = telemetry.reporter.force_flush(int(timeout_s * 1000))
    telemetry.close(timeout_s=5)
    counts = telemetry.reporter.counts()
    typer.echo(
        f"replayed: {moved} from quarantine, {released} lease(s) released; now "
        f"{counts.pending} pending, {counts.quarantined} quarantined, {counts.exported} exported"
    )
    raise typer.Exit(0 if delivered and counts.pending == 0 else 1)


@telemetry_app.command("purge")
def purge(
    quarantined: Annotated[
        bool, typer.Option("--quarantined", help="Purge the quarantine instead of pending spans.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    outbox: OutboxOption = None,
    data_dir: DataDirOption = None,
) -> None:
    """Delete pending (or quarantined) spans for good; they are counted as dropped."""
    box = _open(outbox, data_dir)
    counts = box.counts()
    count = counts.quarantined if quarantined else counts.pending
    what = "quarantined" if quarantined else "pending"
    if count == 0:
        typer.echo(f"no {what} spans in {box.path}")
        return
    if not yes and not typer.confirm(f"Delete {count} {what} span(s) from {box.path}?"):
        raise typer.Exit(1)
    deleted = box.purge(quarantined=quarantined)
    typer.echo(f"deleted {deleted} {what} span(s); they are counted as dropped")
