"""Readers for .eml folders and Maildirs. Each yields raw bytes and never parses them."""

from __future__ import annotations

import logging
import mailbox
from collections.abc import Iterator
from pathlib import Path

from mailsift.errors import SourceError
from mailsift.sources.model import RawMessage

logger = logging.getLogger(__name__)

EML_SUFFIXES = {".eml", ".msg", ".txt", ".mail", ""}


def iter_eml_folder(path: Path) -> Iterator[RawMessage]:
    """Yield every .eml/.msg file under `path` (recursively), in sorted order.

    Files that do not look like mail (other suffixes, hidden files, MANIFEST-style notes)
    are skipped so that a corpus folder with a README can be read as it is.
    """
    if path.is_file():
        yield _read_file(path)
        return

    try:
        candidates = sorted(p for p in path.rglob("*") if p.is_file())
    except OSError as exc:
        raise SourceError(f"mail folder {path} cannot be listed: {exc.strerror}") from exc

    for candidate in candidates:
        relative = candidate.relative_to(path)
        if any(part.startswith(".") for part in relative.parts):
            continue
        if candidate.suffix.lower() not in EML_SUFFIXES:
            continue
        if candidate.suffix.lower() in ("", ".txt") and not _looks_like_mail(candidate):
            continue
        yield _read_file(candidate)


def _looks_like_mail(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            head = handle.read(2048)
    except OSError:
        return False
    return starts_with_header(head)


def starts_with_header(head: bytes) -> bool:
    """Tell whether `head` starts with a header field line ("Name: value"), as a message does."""
    first_line = head.lstrip(b"\xef\xbb\xbf").split(b"\n", 1)[0]
    name, colon, _ = first_line.partition(b":")
    return bool(colon) and b" " not in name.strip() and bool(name.strip())


def _read_file(path: Path) -> RawMessage:
    try:
        return RawMessage(raw=path.read_bytes(), location=str(path))
    except OSError as exc:
        raise SourceError(f"mail file {path} cannot be read: {exc.strerror}") from exc


def iter_maildir(path: Path) -> Iterator[RawMessage]:
    """Yield the messages of a Maildir's cur/ and new/ folders, sorted by file name."""
    try:
        box = mailbox.Maildir(path, factory=None, create=False)
        keys = sorted(box.iterkeys())
    except (OSError, mailbox.Error) as exc:
        raise SourceError(f"Maildir {path} cannot be opened: {exc}") from exc

    for key in keys:
        try:
            raw = box.get_bytes(key)
        except (OSError, KeyError) as exc:
            # A message moved or deleted by a mail client while mailsift reads the folder.
            logger.warning("Maildir %s: message %s vanished while reading: %s", path, key, exc)
            continue
        yield RawMessage(raw=raw, location=f"{path}#{key}")
