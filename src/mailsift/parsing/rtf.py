"""Plain text from the RTF bodies that Outlook stores in TNEF (winmail.dat).

The reader extracts text only. It follows groups and skips destinations without body
text (font and colour tables, pictures, field instructions, every `{\\*...}` group).
It decodes `\\'hh` bytes in the document's ANSI code page and `\\uN` escapes.
Encapsulated HTML (`\\fromhtml1`) comes out as the text Outlook renders, without tags.
"""

from __future__ import annotations

import logging
import re

logger = logging.getLogger(__name__)

_TOKEN = re.compile(
    r"\\([a-zA-Z]{1,32})(-?\d{1,10})? ?"  # control word with optional parameter
    r"|\\'([0-9a-fA-F]{2})"  # byte in the ANSI code page
    r"|\\([^a-zA-Z])"  # control symbol
    r"|([{}])"
    r"|[\r\n]+"  # line breaks in RTF source carry no meaning
    r"|([^\\{}\r\n]+)"
)

_SKIPPED_DESTINATIONS = frozenset(
    {
        "fonttbl",
        "colortbl",
        "stylesheet",
        "info",
        "pict",
        "object",
        "themedata",
        "colorschememapping",
        "datastore",
        "latentstyles",
        "listtable",
        "listoverridetable",
        "rsidtbl",
        "generator",
        "xmlnstbl",
        "fldinst",
        "header",
        "footer",
        "headerl",
        "headerr",
        "footerl",
        "footerr",
        "filetbl",
        "revtbl",
        "pntext",
        "pntxta",
        "pntxtb",
    }
)

_WORD_TEXT = {
    "par": "\n",
    "line": "\n",
    "sect": "\n\n",
    "page": "\n\n",
    "row": "\n",
    "tab": "\t",
    "cell": "\t",
    "emdash": "\u2014",
    "endash": "\u2013",
    "bullet": "\u2022",
    "lquote": "\u2018",
    "rquote": "\u2019",
    "ldblquote": "\u201c",
    "rdblquote": "\u201d",
}
_SYMBOL_TEXT = {"~": "\u00a0", "_": "-", "-": "", "\\": "\\", "{": "{", "}": "}"}
_BLANK_RUNS = re.compile(r"\n[ \t\u00a0]*(?:\n[ \t\u00a0]*){2,}")


class _Reader:
    """Walks RTF tokens, keeping the group stack and pending code-page bytes."""

    def __init__(self) -> None:
        self.out: list[str] = []
        self.pending = bytearray()
        self.codec = "cp1252"
        self.skip_depth: int | None = None
        self.depth = 0
        self.unicode_fallback = 1
        self.to_skip = 0
        self.group_start = False

    def flush(self) -> None:
        if self.pending:
            self.out.append(self.pending.decode(self.codec, errors="replace"))
            self.pending.clear()

    def emit(self, text: str) -> None:
        if self.skip_depth is not None:
            return
        if self.to_skip:
            # Characters after \uN are the fallback for readers without Unicode.
            dropped = min(self.to_skip, len(text))
            self.to_skip -= dropped
            text = text[dropped:]
        if text:
            self.flush()
            self.out.append(text)

    def emit_byte(self, value: int) -> None:
        if self.skip_depth is not None:
            return
        if self.to_skip:
            self.to_skip -= 1
            return
        self.pending.append(value)

    def emit_raw(self, text: str) -> None:
        """Emit literal RTF text, whose 8-bit characters are bytes in the ANSI code page."""
        if text.isascii():
            self.emit(text)
            return
        for char in text:
            if char.isascii():
                self.emit(char)
            else:
                self.emit_byte(ord(char))

    def control_word(self, word: str, parameter: int | None) -> None:
        starts_group, self.group_start = self.group_start, False
        if self.skip_depth is not None:
            return
        if starts_group and word in _SKIPPED_DESTINATIONS:
            self.skip_depth = self.depth
        elif word == "ansicpg" and parameter is not None:
            self.codec = _codec_for(parameter)
        elif word == "uc" and parameter is not None:
            self.unicode_fallback = max(parameter, 0)
        elif word == "u" and parameter is not None:
            code = parameter + 65536 if parameter < 0 else parameter
            self.emit(chr(code) if code <= 0xFFFF else "\ufffd")
            self.to_skip = self.unicode_fallback
        elif word in _WORD_TEXT:
            self.emit(_WORD_TEXT[word])

    def brace(self, brace: str) -> None:
        if brace == "{":
            self.depth += 1
            self.group_start = True
            return
        if self.skip_depth is not None and self.depth <= self.skip_depth:
            self.skip_depth = None
        self.depth -= 1


def rtf_to_text(rtf: bytes) -> str:
    """Return the readable text of an RTF document, or partial text for malformed input."""
    reader = _Reader()
    source = rtf.decode("latin-1")
    for match in _TOKEN.finditer(source):
        word, parameter, hex_byte, symbol, brace, text = match.groups()
        if word is not None:
            reader.control_word(word, int(parameter) if parameter else None)
            continue
        if brace is not None:
            reader.brace(brace)
            continue
        if hex_byte is None and symbol is None and text is None:
            continue  # a line break in the RTF source

        starts_group, reader.group_start = reader.group_start, False
        if hex_byte is not None:
            reader.emit_byte(int(hex_byte, 16))
        elif symbol == "*" and starts_group and reader.skip_depth is None:
            reader.skip_depth = reader.depth
        elif symbol is not None:
            reader.emit(_SYMBOL_TEXT.get(symbol, ""))
        elif text is not None:
            reader.emit_raw(text)

    reader.flush()
    # \uN escapes spell characters outside the BMP as UTF-16 surrogate pairs.
    text = "".join(reader.out).encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return _BLANK_RUNS.sub("\n\n", text).strip()


def _codec_for(codepage: int) -> str:
    codec = f"cp{codepage}"
    try:
        "".encode(codec)
    except LookupError:
        return "cp1252"
    return codec
