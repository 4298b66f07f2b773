"""The `mailsift` command: exit codes, summary and export, against the LLM double."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

import mailsift.cli.export_command
import mailsift.cli.run_command  # noqa: F401  (registers the command)
from mailsift.cli import app

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
SAMPLE_COUNT = len(list(SAMPLES.glob("*.eml")))


def _summary_value(output: str, label: str) -> int:
    match = re.search(rf"{re.escape(label)}\s*│\s*(\d+)", output)
    assert match, f"{label!r} not in summary:\n{output}"
    return int(match.group(1))


@pytest.fixture
def cli() -> CliRunner:
    return CliRunner()


def test_run_then_rerun_then_export(cli, tmp_path, llm_server_double):
    db = f"sqlite:///{tmp_path / 'm.db'}"

    first = cli.invoke(
        app, ["run", str(SAMPLES), "--llm-url", llm_server_double.base_url, "--db", db]
    )
    second = cli.invoke(
        app, ["run", str(SAMPLES), "--llm-url", llm_server_double.base_url, "--db", db]
    )
    exported = cli.invoke(app, ["export", "--format", "jsonl", "--db", db])

    assert first.exit_code == 0, first.output
    assert "processed" in first.output
    assert "telemetry" in first.output and "off" in first.output
    assert second.exit_code == 0
    assert _summary_value(second.output, "skipped (already done)") == SAMPLE_COUNT
    assert _summary_value(second.output, "processed") == 0
    records = [json.loads(line) for line in exported.stdout.splitlines() if line.strip()]
    assert len(records) == SAMPLE_COUNT
    assert {r["prompt_version"] for r in records} == {"1"}
    assert all(r["model"] for r in records)
    booking = next(r for r in records if r["provenance"] == "schema.org")
    assert booking["prompt_tokens"] is None
    assert booking["fields"]["reference"] == "HV7731Q"
    llm_records = [r for r in records if r["provenance"] == "llm"]
    assert all(r["prompt_tokens"] > 0 for r in llm_records)


def test_export_csv_is_rectangular(cli, tmp_path, llm_server_double):
    db = f"sqlite:///{tmp_path / 'm.db'}"
    cli.invoke(app, ["run", str(SAMPLES), "--llm-url", llm_server_double.base_url, "--db", db])

    result = cli.invoke(app, ["export", "--format", "csv", "--db", db])

    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(rows) == SAMPLE_COUNT
    assert all(
        json.loads(row["fields"]) is not None for row in rows if row["status"] == "extracted"
    )


def test_failures_exit_one(cli, tmp_path):
    from mailsift.testing.llm import LLMServerDouble

    db = f"sqlite:///{tmp_path / 'm.db'}"
    with LLMServerDouble(ignore_schema=True) as server:
        result = cli.invoke(app, ["run", str(SAMPLES), "--llm-url", server.base_url, "--db", db])

    assert result.exit_code == 1
    assert "invalid after one repair attempt" in result.output


@pytest.mark.parametrize(
    ("arguments", "environment", "message"),
    [
        (["run", "does-not-exist"], {}, "does not exist"),
        (["run", str(SAMPLES), "--llm-url", "ftp://x"], {}, "invalid LLM URL"),
        (["run", str(SAMPLES), "--concurrency", "0"], {}, "at least 1"),
        (
            ["run", str(SAMPLES), "--llm-url", "http://127.0.0.1:9/v1"],
            {"LANGFUSE_PUBLIC_KEY": "sk-lf-1", "LANGFUSE_SECRET_KEY": "pk-lf-2"},
            "swapped",
        ),
        (
            ["run", str(SAMPLES), "--llm-url", "http://127.0.0.1:9/v1"],
            {"LANGFUSE_PUBLIC_KEY": "pk-lf-1"},
            "LANGFUSE_SECRET_KEY is missing",
        ),
    ],
)
def test_usage_errors_exit_two(cli, tmp_path, arguments, environment, message):
    result = cli.invoke(
        app, [*arguments, "--db", f"sqlite:///{tmp_path / 'm.db'}"], env=environment
    )

    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())


def test_unreachable_llm_server_is_usage_error(cli, tmp_path):
    result = cli.invoke(
        app,
        [
            "run",
            str(SAMPLES),
            "--llm-url",
            "http://127.0.0.1:9/v1",
            "--db",
            f"sqlite:///{tmp_path / 'm.db'}",
        ],
    )

    assert result.exit_code == 2
    assert "refused the connection" in result.output


def test_run_reports_to_langfuse_and_summarises(cli, tmp_path, llm_server_double, langfuse_double):
    environment = {
        "LANGFUSE_PUBLIC_KEY": langfuse_double.config.public_key,
        "LANGFUSE_SECRET_KEY": langfuse_double.config.secret_key,
        "LANGFUSE_HOST": langfuse_double.base_url,
    }

    result = cli.invoke(
        app,
        ["run", str(SAMPLES), "--llm-url", llm_server_double.base_url, "--data-dir", str(tmp_path)],
        env=environment,
    )
    status = cli.invoke(app, ["telemetry", "status", "--json", "--data-dir", str(tmp_path)])

    counts = json.loads(status.stdout)
    assert result.exit_code == 0, result.output
    assert "via otlp" in " ".join(result.output.split())
    assert counts["emitted"] == counts["exported"] > 0
    assert counts["pending"] == counts["quarantined"] == 0
    langfuse_double.flush_ingestion()
    assert len({row.trace_id for row in langfuse_double.event_rows()}) == SAMPLE_COUNT
