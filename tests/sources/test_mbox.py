"""The streaming mbox reader: split as `mailbox.mbox` splits, but only at dated separators."""

from __future__ import annotations

import logging
import mailbox
import os
import random
import threading
from pathlib import Path

import pytest

from mailsift.errors import SourceError
from mailsift.sources import SourceFormat, detect_format
from mailsift.sources.mbox import DATED_SEPARATOR, iter_mbox

FROM = b"From sender@example.com Thu Dec  3 10:00:00 2026\n"

EDGE_CASES = {
    "two messages": FROM + b"Subject: a\n\nbody a\n\n" + FROM + b"Subject: b\n\nbody b\n",
    "no blank line before From": FROM + b"Subject: a\n\nbody\n" + FROM + b"Subject: b\n\nx\n",
    "no newline at the end": FROM + b"Subject: a\n\nlast line",
    "several blank lines at the end": FROM + b"Subject: a\n\nbody\n\n\n\n",
    "text before the first From": b"junk\n\n" + FROM + b"Subject: a\n\nbody\n",
    "empty message": FROM + FROM + b"Subject: b\n\nbody\n",
    "escaped From kept": FROM + b"Subject: a\n\n>From here\n>>From there\n",
    "CRLF lines": FROM.replace(b"\n", b"\r\n") + b"Subject: a\r\n\r\nbody\r\n\r\n" + FROM,
    "undated separators split at every From": (
        b"From x\nSubject: a\n\nsee below\nFrom now on\n\nFrom y\nSubject: b\n"
    ),
    "no From line at all": b"Subject: a\n\nbody\n",
    "empty file": b"",
}


def _standard_split(path: Path) -> list[bytes]:
    box = mailbox.mbox(path, create=False)
    try:
        return [box.get_bytes(key) for key in box.iterkeys()]
    finally:
        box.close()


@pytest.mark.parametrize("content", EDGE_CASES.values(), ids=EDGE_CASES.keys())
def test_edge_case_split_matches_mailbox(tmp_path: Path, content: bytes):
    path = tmp_path / "box.mbox"
    path.write_bytes(content)

    messages = list(iter_mbox(path))

    assert [message.raw for message in messages] == _standard_split(path)
    assert [message.location for message in messages] == [
        f"{path}#{index}" for index in range(len(messages))
    ]


def test_random_files_split_like_mailbox(tmp_path: Path):
    pieces = [FROM, b"\n", b"\r\n", b"Subject: x\n", b"body line\n", b">From quoted\n", b"From"]
    chooser = random.Random(20261204)
    path = tmp_path / "box.mbox"

    for _ in range(300):
        content = b"".join(chooser.choices(pieces, k=chooser.randint(0, 30)))
        if chooser.random() < 0.3:
            content += b"no newline"
        path.write_bytes(content)

        ours = [message.raw for message in iter_mbox(path)]

        assert ours == _standard_split(path), content


def test_first_message_arrives_before_the_file_ends(tmp_path: Path):
    # A FIFO has no end until the writer closes it, so a reader that indexes the whole file
    # first could not return the first message while the writer waits.
    fifo = tmp_path / "box.mbox"
    os.mkfifo(fifo)
    first_read = threading.Event()

    def write() -> None:
        with fifo.open("wb") as pipe:
            pipe.write(FROM + b"Subject: first\n\nbody\n\n" + FROM)
            pipe.flush()
            first_read.wait(timeout=10)
            pipe.write(b"Subject: second\n\nbody\n")

    writer = threading.Thread(target=write)
    writer.start()
    try:
        messages = iter_mbox(fifo)
        first = next(messages)
        first_read.set()
        rest = list(messages)
    finally:
        first_read.set()
        writer.join()

    assert first.raw == b"Subject: first\n\nbody\n"
    assert [message.raw for message in rest] == [b"Subject: second\n\nbody\n"]


def test_missing_mbox_names_the_file(tmp_path: Path):
    missing = tmp_path / "absent.mbox"

    with pytest.raises(SourceError, match=r"absent\.mbox cannot be opened"):
        list(iter_mbox(missing))


@pytest.mark.parametrize(
    "line",
    [
        b"From MAILER-DAEMON Thu Dec  3 10:00:00 2026\n",
        b"From 1784473917263@xxx Sat Jan 01 00:00:00 +0000 2022\r\n",
        b"From - Thu Dec 03 10:00:00 2026\n",
        b"From someone@example.com Fri Jul  8 12:08 2011\n",
    ],
)
def test_writer_separators_are_dated(line: bytes):
    assert DATED_SEPARATOR.match(line)


@pytest.mark.parametrize(
    "line", [b"From the desk of the manager: thanks.\n", b"From now on\n", b"From 10:30 2024\n"]
)
def test_body_lines_are_not_separators(line: bytes):
    assert DATED_SEPARATOR.match(line) is None


def test_undated_body_from_line_stays_in_message(tmp_path: Path, caplog):
    path = tmp_path / "box.mbox"
    first = b"Subject: a\n\nFrom the desk of the manager: thanks.\n>From quoted\n"
    path.write_bytes(FROM + first + b"\n" + FROM + b"Subject: b\n\nbody\n")

    with caplog.at_level(logging.INFO, logger="mailsift.sources.mbox"):
        messages = [message.raw for message in iter_mbox(path)]

    assert messages == [first, b"Subject: b\n\nbody\n"]
    assert "kept 1 undated `From ` line(s) as message text" in caplog.text


def test_text_before_first_separator_is_warned(tmp_path: Path, caplog):
    path = tmp_path / "box.mbox"
    path.write_bytes(b"Exported by a mail tool\n\n" + FROM + b"Subject: a\n\nbody\n")

    with caplog.at_level(logging.WARNING, logger="mailsift.sources.mbox"):
        messages = [message.raw for message in iter_mbox(path)]

    assert messages == [b"Subject: a\n\nbody\n"]
    assert "23 bytes of text before the first `From ` line" in caplog.text


DETECTION_CASES = {
    "starts with From": (FROM + b"Subject: a\n\nbody\n", SourceFormat.MBOX),
    "text before a dated separator": (
        b"Exported by a mail tool\n\n" + FROM + b"Subject: a\n\nbody\n",
        SourceFormat.MBOX,
    ),
    "message quoting a separator": (
        b"Subject: a\nFrom: b@example.com\n\n" + FROM + b"quoted\n",
        SourceFormat.EML,
    ),
    "text with an undated From line": (b"notes\nFrom now on\n", SourceFormat.EML),
}


@pytest.mark.parametrize(
    ("content", "expected"), DETECTION_CASES.values(), ids=DETECTION_CASES.keys()
)
def test_format_detection(tmp_path: Path, content: bytes, expected: SourceFormat):
    path = tmp_path / "mail"
    path.write_bytes(content)

    assert detect_format(path) is expected
