"""Run a Langfuse double from the command line, for manual tests or other processes.

    python -m mailsift.testing.langfuse --port 3000 --mode dual

It serves until interrupted (Ctrl-C or SIGTERM). The first line on stdout names the URL,
so a parent process can wait for it. Exit codes: 0 after a clean stop, 2 for invalid
arguments.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from types import FrameType

from mailsift.testing.langfuse.config import MAX_INGESTION_BODY_BYTES, DoubleConfig, WriteMode
from mailsift.testing.langfuse.server import LangfuseDouble

logger = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mailsift.testing.langfuse",
        description="Serve a Langfuse server double on loopback for tests.",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="loopback address to bind (default %(default)s)"
    )
    parser.add_argument(
        "--port", type=int, default=0, help="TCP port; 0 picks a free one (default 0)"
    )
    parser.add_argument(
        "--mode",
        choices=[mode.value for mode in WriteMode],
        default="events_only",
        help="LANGFUSE_MIGRATION_V4_WRITE_MODE to imitate (default %(default)s)",
    )
    parser.add_argument(
        "--version",
        default=None,
        help="version reported by /api/public/health (default: 3.225.4 for legacy, "
        "4.16.0 otherwise)",
    )
    parser.add_argument("--public-key", default=DoubleConfig.public_key, help="accepted public key")
    parser.add_argument("--secret-key", default=DoubleConfig.secret_key, help="accepted secret key")
    parser.add_argument(
        "--ingestion-delay-s",
        type=float,
        default=0.0,
        help="seconds before written data becomes readable (default 0)",
    )
    parser.add_argument(
        "--max-body-bytes",
        type=int,
        default=MAX_INGESTION_BODY_BYTES,
        help="body limit of /api/public/ingestion in bytes (default %(default)s)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        config = DoubleConfig(
            mode=WriteMode(args.mode),
            version=args.version,
            public_key=args.public_key,
            secret_key=args.secret_key,
            ingestion_delay_s=args.ingestion_delay_s,
            max_body_bytes=args.max_body_bytes,
        )
        double = LangfuseDouble(config, host=args.host, port=args.port)
        double.start()
    except (ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    stopped = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stopped.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    print(f"Langfuse double listening on {double.base_url}", flush=True)
    try:
        while not stopped.wait(0.5):
            pass
    finally:
        double.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
