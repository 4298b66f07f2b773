"""`mailsift run --concurrency N|auto` and `--max-concurrency`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

import mailsift.cli.run_command  # noqa: F401  (registers the command)
from mailsift.cli import app
from mailsift.testing.llm import LLMServerDouble, TimingModel

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
SAMPLE_COUNT = len(list(SAMPLES.glob("*.eml")))


def test_auto_concurrency_processes_samples(tmp_path: Path):
    timing = TimingModel(decode_step_s=0.002, completion_tokens=4)

    with LLMServerDouble(timing=timing) as server:
        result = CliRunner().invoke(
            app,
            [
                "run",
                str(SAMPLES),
                "--llm-url",
                server.base_url,
                "--concurrency",
                "auto",
                "--max-concurrency",
                "3",
                "--db",
                f"sqlite:///{tmp_path / 'm.db'}",
            ],
        )
        max_in_flight = server.max_in_flight

    processed = re.search(r"processed\s*│\s*(\d+)", result.output)
    assert result.exit_code == 0, result.output
    assert processed is not None
    assert int(processed.group(1)) == SAMPLE_COUNT
    assert max_in_flight <= 3


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--concurrency", "many"], "--concurrency must be a whole number or 'auto', got 'many'"),
        (["--concurrency", "many"], "for example --concurrency 16, or --concurrency auto"),
        (
            ["--concurrency", "auto", "--max-concurrency", "0"],
            "--max-concurrency must be at least 1",
        ),
        (["--concurrency", "-2"], "--concurrency must be at least 1, got -2"),
    ],
)
def test_invalid_concurrency_exits_two(tmp_path: Path, arguments: list[str], message: str):
    result = CliRunner().invoke(
        app,
        [
            "run",
            str(SAMPLES),
            "--llm-url",
            "http://127.0.0.1:9/v1",
            *arguments,
            "--db",
            f"sqlite:///{tmp_path / 'm.db'}",
        ],
    )

    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
