"""Run the LLM server double in the foreground: `python -m mailsift.testing.llm --port 8000`.

Ctrl-C (SIGINT) stops it with exit status 0. SIGTERM also shuts it down gracefully, after
which uvicorn re-raises the signal, so the process ends by SIGTERM. Invalid options exit 2.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys

import uvicorn

from mailsift.testing.llm.app import create_app
from mailsift.testing.llm.protocol import Flavour
from mailsift.testing.llm.state import (
    DEFAULT_MAX_MODEL_LEN,
    DEFAULT_MODEL,
    DoubleConfig,
    DoubleState,
)
from mailsift.testing.llm.timing import TimingModel

logger = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    """Return the command-line parser; each option sets one DoubleConfig or TimingModel field."""
    parser = argparse.ArgumentParser(
        prog="python -m mailsift.testing.llm",
        description="Serve an OpenAI-compatible LLM server double with deterministic answers.",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s)"
    )
    parser.add_argument("--port", type=int, default=8000, help="TCP port (default: %(default)s)")
    parser.add_argument(
        "--flavour",
        choices=[flavour.value for flavour in Flavour],
        default=Flavour.VLLM.value,
        help="server whose wire behaviour to reproduce (default: %(default)s)",
    )
    parser.add_argument(
        "--model", default=DEFAULT_MODEL, help="served model name (default: %(default)s)"
    )
    parser.add_argument(
        "--max-model-len",
        type=int,
        default=DEFAULT_MAX_MODEL_LEN,
        help="context size in tokens, prompt plus completion (default: %(default)s)",
    )
    parser.add_argument(
        "--per-request-metrics",
        action="store_true",
        help="add vLLM's per-request `metrics` object to each completion",
    )
    parser.add_argument(
        "--ignore-schema",
        action="store_true",
        help="respond without any constraint, whatever structured-output fields a request sends",
    )

    timing = parser.add_argument_group("batching model (all times default to 0, i.e. off)")
    timing.add_argument(
        "--prefill-s-per-token", type=float, default=0.0, help="seconds per prompt token"
    )
    timing.add_argument(
        "--decode-step-s", type=float, default=0.0, help="base seconds per decode step"
    )
    timing.add_argument(
        "--decode-step-growth-s-per-request",
        type=float,
        default=0.0,
        help="extra seconds per decode step for each request in the batch",
    )
    timing.add_argument("--max-batch-size", type=int, default=256, help="requests decoded together")
    timing.add_argument(
        "--max-queue",
        type=int,
        default=None,
        help="requests allowed to wait for a batch slot before 503 (default: unbounded)",
    )
    timing.add_argument(
        "--completion-tokens",
        type=int,
        default=None,
        help="output tokens per request (default: the token count of the generated content)",
    )
    parser.add_argument(
        "--log-level",
        choices=["debug", "info", "warning", "error"],
        default="info",
        help="log level (default: %(default)s)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse options, then serve until interrupted; returns the exit status."""
    parser = build_parser()
    options = parser.parse_args(argv)

    try:
        timing = TimingModel(
            prefill_s_per_token=options.prefill_s_per_token,
            decode_step_s=options.decode_step_s,
            decode_step_growth_s_per_request=options.decode_step_growth_s_per_request,
            max_batch_size=options.max_batch_size,
            max_queue=options.max_queue,
            completion_tokens=options.completion_tokens,
        )
        config = DoubleConfig(
            flavour=Flavour(options.flavour),
            model=options.model,
            max_model_len=options.max_model_len,
            timing=timing,
            per_request_metrics=options.per_request_metrics,
        )
    except ValueError as error:
        parser.error(str(error))

    logging.basicConfig(
        level=options.log_level.upper(), format="%(levelname)s %(name)s: %(message)s"
    )
    state = DoubleState(config, ignore_schema=options.ignore_schema)
    server_config = uvicorn.Config(
        create_app(state),
        host=options.host,
        port=options.port,
        lifespan="on",
        http="h11",
        loop="asyncio",
        log_level=options.log_level,
    )
    # uvicorn re-raises SIGINT after its graceful shutdown; the stop was requested.
    with contextlib.suppress(KeyboardInterrupt):
        uvicorn.Server(server_config).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
