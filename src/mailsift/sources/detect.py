"""Detect a source's format and open it as an iterator of raw messages."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path

from mailsift.errors import SourceError
from mailsift.sources.files import iter_eml_folder, iter_maildir, starts_with_header
from mailsift.sources.mbox import HEAD_SCAN_BYTES, contains_dated_separator, iter_mbox
from mailsift.sources.model import RawMessage

logger = logging.getLogger(__name__)


class SourceFormat(StrEnum):
    EML = "eml"
    MBOX = "mbox"
    MAILDIR = "maildir"


def detect_format(path: Path) -> SourceFormat:
    """Tell a Maildir (cur/ and new/), an mbox, a folder and a single message file.

    An mbox starts with `From `, or has a dated `From ` separator line in its first 64 KiB
    and does not start with a header field.
    """
    if not path.exists():
        raise SourceError(f"mail source {path} does not exist")

    if path.is_dir():
        if (path / "cur").is_dir() and (path / "new").is_dir():
            return SourceFormat.MAILDIR
        return SourceFormat.EML

    try:
        with path.open("rb") as handle:
            head = handle.read(HEAD_SCAN_BYTES)
    except OSError as exc:
        raise SourceError(f"mail source {path} cannot be read: {exc.strerror}") from exc
    if head.startswith(b"From "):
        return SourceFormat.MBOX
    # Some exports put a line of text before the first separator. A file whose first line
    # is a header field is one message, even if its body contains a dated `From ` line.
    if not starts_with_header(head) and contains_dated_separator(head):
        return SourceFormat.MBOX
    # A single .eml or .msg file is a one-message source.
    return SourceFormat.EML


def open_source(path: Path, source_format: SourceFormat | None = None) -> Iterator[RawMessage]:
    """Iterate over the raw messages of `path`, detecting its format unless one is forced."""
    chosen = source_format or detect_format(path)
    logger.info("reading %s as %s", path, chosen.value)
    match chosen:
        case SourceFormat.MAILDIR:
            return iter_maildir(path)
        case SourceFormat.MBOX:
            return iter_mbox(path)
        case SourceFormat.EML:
            return iter_eml_folder(path)
