"""Peak resident memory of `mailsift run` over a large generated mbox.

Run from the repository root (Linux: the script reads /proc):

    .venv/bin/python bench/memory_100k.py [--emails 100000] [--concurrency auto]

The script writes an mbox of small varied emails (see `_support.write_mbox`) into a
temporary folder. It starts the LLM server double in its own process with no batching
delay, and runs the `mailsift` command over the mbox into a new SQLite database. Every second it
reads from /proc the resident set size (RSS) of the mailsift process and the sum over it
and all its descendants (the forkserver and the decoding workers; pages they share are
counted once per process), and counts the emails stored so far. The table gives both at
points of progress, and the peaks: VmHWM of the mailsift process, and the largest sum
sampled.
"""

from __future__ import annotations

import argparse
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _support import double_in_process, mailsift_run, write_mbox

from mailsift.testing.llm import TimingModel

SAMPLE_INTERVAL_S = 1.0


def read_status_kib(pid: int) -> dict[str, int]:
    """Return the resident memory lines of /proc/PID/status, in KiB.

    VmRSS is RssAnon (the heap, including memory the C allocator keeps after a free) plus
    RssFile (mapped files such as shared libraries) plus RssShmem (shared memory).
    """
    values: dict[str, int] = {}
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                name, _, rest = line.partition(":")
                if name in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem"):
                    values[name] = int(rest.split()[0])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return values


def tree_rss_kib(root: int) -> int:
    """Return the summed VmRSS of `root` and its descendants, in KiB."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text(encoding="ascii", errors="replace")
        except OSError:
            continue
        # The command name in brackets may contain spaces; the parent pid follows it.
        parents[int(entry.name)] = int(stat.rpartition(")")[2].split()[1])
    tree = {root}
    grew = True
    while grew:
        children = {pid for pid, parent in parents.items() if parent in tree} - tree
        tree |= children
        grew = bool(children)
    return sum(read_status_kib(pid).get("VmRSS", 0) for pid in tree)


def count_stored(database: Path) -> int:
    if not database.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=1) as connection:
            row = connection.execute("SELECT count(*) FROM emails WHERE status != 'pending'")
            return int(row.fetchone()[0])
    except sqlite3.Error:
        return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--emails", type=int, default=100_000, help="emails in the mbox")
    parser.add_argument(
        "--concurrency", default="auto", help="--concurrency for mailsift run (default auto)"
    )
    arguments = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="mailsift-bench-") as temporary:
        folder = Path(temporary)
        mbox = folder / "mail.mbox"
        size = write_mbox(mbox, arguments.emails)
        database = folder / "mailsift.db"
        # seconds, emails stored, RSS of mailsift, its anonymous part, and the RSS of its
        # process tree, in KiB
        samples: list[tuple[float, int, int, int, int]] = []
        peak_kib = 0

        with double_in_process(TimingModel()) as base_url:
            command, environment = mailsift_run(
                mbox, base_url, database, folder / "data", "--concurrency", arguments.concurrency
            )
            started = time.monotonic()
            process = subprocess.Popen(
                command, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
            )
            assert process.stderr is not None
            while process.poll() is None:
                status = read_status_kib(process.pid)
                peak_kib = max(peak_kib, status.get("VmHWM", 0))
                if "VmRSS" in status:
                    elapsed = time.monotonic() - started
                    stored = count_stored(database)
                    samples.append(
                        (
                            elapsed,
                            stored,
                            status["VmRSS"],
                            status.get("RssAnon", 0),
                            tree_rss_kib(process.pid),
                        )
                    )
                time.sleep(SAMPLE_INTERVAL_S)
            errors = process.stderr.read().decode(errors="replace")
            wall_s = time.monotonic() - started

        stored = count_stored(database)
        if process.returncode != 0:
            print(f"mailsift run failed ({process.returncode}):\n{errors}", file=sys.stderr)
            return 1

    print(
        f"{arguments.emails:,} emails, mbox {size / 1e6:.1f} MB, concurrency "
        f"{arguments.concurrency}, {stored:,} stored in {wall_s:.0f} s "
        f"({stored / wall_s:.0f} emails/s), CPython {sys.version.split()[0]}\n"
    )
    print(
        "| progress | seconds | emails stored | RSS of mailsift (MB) | of which anonymous (MB) "
        "| with its workers (MB) |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for fraction in (0.01, 0.1, 0.25, 0.5, 0.75, 0.9):
        target = fraction * arguments.emails
        sample = next((s for s in samples if s[1] >= target), None)
        if sample is not None:
            seconds, emails, rss_kib, anonymous_kib, tree_kib = sample
            print(
                f"| {fraction:.0%} | {seconds:.0f} | {emails:,} | {rss_kib / 1024:.1f} | "
                f"{anonymous_kib / 1024:.1f} | {tree_kib / 1024:.1f} |"
            )
    tree_peak_kib = max((sample[4] for sample in samples), default=0)
    print(f"| peak | | | {peak_kib / 1024:.1f} (VmHWM) | | {tree_peak_kib / 1024:.1f} (sampled) |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
