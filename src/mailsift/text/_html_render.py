"""Rendering of a cleaned selectolax tree as plain text lines for an LLM prompt.

The rules aim at transactional mail. A data table keeps each row on one line with its
cells separated by ` | `, so that a line item reads `Blue mug | 2 | 12.50`. Layout tables
(those that contain other tables, or whose cells contain long blocks of text) are
flattened into one line per cell. Headings and paragraphs stand on their own lines with
one blank line around them. Link targets are dropped and link text is kept.
"""

from __future__ import annotations

from selectolax.lexbor import LexborNode

from mailsift.text._chars import collapse_whitespace
from mailsift.text._dom import ancestor_ids

# Elements whose content is not readable text: metadata, styles, scripts and embedded
# objects. `noscript` goes too, because its fallback ("enable JavaScript") is for browsers.
_SKIPPED = frozenset(
    {"head", "title", "style", "script", "noscript", "template", "svg", "iframe", "object"}
)
# Blocks set apart from their neighbours by one blank line.
_PARAGRAPHS = frozenset(
    {"p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "hr", "figure"}
)
# Blocks that start and end a line without a blank line around them.
_LINE_BLOCKS = frozenset(
    {
        "address", "article", "aside", "body", "caption", "center", "dd", "details", "dialog",
        "div", "dl", "dt", "fieldset", "figcaption", "footer", "form", "header", "hgroup",
        "html", "legend", "li", "main", "nav", "section", "summary", "table", "tbody", "td",
        "tfoot", "th", "thead", "tr",
    }
)  # fmt: skip

# Each nesting level costs two Python stack frames, and the deepest body in the test
# corpus nests 44 elements. A subtree below this depth is written as flat text instead of
# recursing further, so a hostile document cannot raise RecursionError.
_MAX_DEPTH = 128

# A leaf table with a cell this long is a text layout (two columns of prose), not a data
# table. Joining such cells on one line would produce unreadable lines.
_MAX_DATA_CELL_LINES = 8
_MAX_DATA_CELL_CHARS = 300


class _LineWriter:
    """Collects inline text into lines and keeps at most one blank line between blocks."""

    __slots__ = ("_blank_pending", "_has_text", "_inline", "_prefix", "lines")

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._inline: list[str] = []
        self._has_text = False
        self._blank_pending = False
        self._prefix = ""

    def write(self, text: str) -> None:
        self._inline.append(text)
        # Layout tables put whitespace-only text between every pair of tags. Remembering
        # whether real text arrived lets `end_line` skip those without building a string.
        if not self._has_text and not text.isspace():
            self._has_text = True

    def set_prefix(self, prefix: str) -> None:
        """Put `prefix` (a list bullet) before the next non-empty line."""
        self._prefix = prefix

    def end_line(self) -> None:
        if self._has_text:
            line = collapse_whitespace("".join(self._inline))
            self._has_text = False
            self._inline.clear()
            self.add_line(line)
        elif self._inline:
            self._inline.clear()

    def end_paragraph(self) -> None:
        self.end_line()
        self._blank_pending = True

    def add_line(self, line: str) -> None:
        """Append a finished line. Empty lines are dropped, so blank runs cannot form."""
        if self._inline:
            self.end_line()
        if not line:
            return
        if self._blank_pending and self.lines:
            self.lines.append("")
        self._blank_pending = False
        self.lines.append(self._prefix + line)
        self._prefix = ""


class TextRenderer:
    """Walks a selectolax subtree and writes its visible text as lines."""

    def __init__(self) -> None:
        self.writer = _LineWriter()
        self._pre_depth = 0
        self._contains_table: set[int] = set()

    def render(self, node: LexborNode) -> list[str]:
        """Return the lines of `node`'s content. An empty string marks a blank line."""
        # Asking each table for nested tables would cost time quadratic in the nesting.
        self._contains_table = ancestor_ids(node.css("table"))
        self._render_children(node, 0)
        self.writer.end_line()
        return self.writer.lines

    def _render_children(self, node: LexborNode, depth: int) -> None:
        # The body of `_render_node` is repeated here because this loop runs once per node
        # of the document: the extra call cost a quarter of the rendering time of a
        # newsletter built from 50 nested tables.
        for child in node.iter(include_text=True):
            tag = child.tag
            if tag == "-text":
                if self._pre_depth:
                    self._write_text(child.text_content or "")
                else:
                    self.writer.write(child.text_content or "")
            elif tag is not None and tag[0] != "-" and tag not in _SKIPPED:
                self._render_element(child, tag, depth + 1)

    def _render_node(self, node: LexborNode, depth: int) -> None:
        """Write one child of an element at `depth`: text, or an element one level deeper."""
        tag = node.tag
        if tag == "-text":
            self._write_text(node.text_content or "")
        elif tag is not None and tag[0] != "-" and tag not in _SKIPPED:
            self._render_element(node, tag, depth + 1)

    def _write_text(self, text: str) -> None:
        if not self._pre_depth:
            self.writer.write(text)
            return

        # Limit: inside <pre> the line breaks survive but runs of spaces are collapsed,
        # so column alignment made with spaces is lost.
        first, *rest = text.split("\n")
        self.writer.write(first)
        for line in rest:
            self.writer.end_line()
            self.writer.write(line)

    def _render_element(self, node: LexborNode, tag: str, depth: int) -> None:
        if depth > _MAX_DEPTH:
            self.writer.write(f" {node.text(separator=' ')} ")
            return

        if tag == "br":
            self.writer.end_line()
        elif tag == "img":
            alt = node.attributes.get("alt")
            if alt:
                self.writer.write(f" {alt} ")
        elif tag == "table":
            self._render_table(node, depth)
        elif tag in ("ul", "ol"):
            self._render_list(node, tag == "ol", depth)
        elif tag in _PARAGRAPHS:
            self.writer.end_paragraph()
            self._pre_depth += tag == "pre"
            self._render_children(node, depth)
            self._pre_depth -= tag == "pre"
            self.writer.end_paragraph()
        elif tag in _LINE_BLOCKS:
            self.writer.end_line()
            self._render_children(node, depth)
            self.writer.end_line()
        else:
            self._render_children(node, depth)

    def _render_list(self, node: LexborNode, ordered: bool, depth: int) -> None:
        self.writer.end_line()
        number = 0
        for child in node.iter(include_text=True):
            if child.tag != "li":
                self._render_node(child, depth)
                continue
            number += 1
            self.writer.end_line()
            self.writer.set_prefix(f"{number}. " if ordered else "- ")
            self._render_children(child, depth + 1)
            self.writer.end_line()
            self.writer.set_prefix("")
        self.writer.end_line()

    def _render_table(self, table: LexborNode, depth: int) -> None:
        # Limit: a data table with a nested table in any cell (an item cell that lays out
        # picture and name in a small table) is treated as layout, so its rows are split
        # into one line per cell.
        if table.mem_id in self._contains_table:
            self.writer.end_line()
            self._render_children(table, depth)
            self.writer.end_line()
            return

        caption, rows = _table_parts(table)
        grid = [
            [
                TextRenderer()._render_cell(cell, depth + 1)
                for cell in row.iter()
                if cell.tag in ("td", "th")
            ]
            for row in rows
        ]

        if caption is not None:
            self.writer.end_paragraph()
            self.writer.add_line(collapse_whitespace(caption.text(separator=" ")))

        if _is_data_table(grid):
            self._write_data_rows(grid)
        else:
            self._write_layout_cells(grid)

    def _render_cell(self, cell: LexborNode, depth: int) -> list[str]:
        self._render_children(cell, depth)
        self.writer.end_line()
        return self.writer.lines

    def _write_data_rows(self, rows: list[list[list[str]]]) -> None:
        # Limit: colspan and rowspan are ignored, so a spanning cell shifts the cells after
        # it, and the rows below a rowspan lack that column.
        self.writer.end_paragraph()
        for cells in rows:
            texts = [" / ".join(line for line in lines if line) for lines in cells]
            while texts and not texts[-1]:
                texts.pop()
            start = 0
            while start < len(texts) and not texts[start]:
                start += 1
            # Empty cells between filled ones stay, as `| |`, to keep the columns aligned.
            self.writer.add_line(" ".join(" | ".join(texts[start:]).split()))
        self.writer.end_paragraph()

    def _write_layout_cells(self, rows: list[list[list[str]]]) -> None:
        self.writer.end_line()
        for cells in rows:
            for lines in cells:
                for line in lines:
                    if line:
                        self.writer.add_line(line)
                    else:
                        self.writer.end_paragraph()
        self.writer.end_line()


def _table_parts(table: LexborNode) -> tuple[LexborNode | None, list[LexborNode]]:
    """Return the caption and the rows of a table that contains no other table.

    Walking the children is cheaper than a CSS query, which costs a few microseconds
    per call and adds up on templates built from dozens of small tables.
    """
    caption = None
    rows: list[LexborNode] = []
    for child in table.iter():
        tag = child.tag
        if tag == "tr":
            rows.append(child)
        elif tag in ("tbody", "thead", "tfoot"):
            rows.extend(row for row in child.iter() if row.tag == "tr")
        elif tag == "caption":
            caption = child
    return caption, rows


def _is_data_table(rows: list[list[list[str]]]) -> bool:
    """Return whether the table holds data in columns rather than stacked blocks."""
    has_row_of_several_values = False
    for cells in rows:
        filled = 0
        for lines in cells:
            if len(lines) > _MAX_DATA_CELL_LINES or sum(map(len, lines)) > _MAX_DATA_CELL_CHARS:
                return False
            if lines:
                filled += 1
        if filled >= 2:
            has_row_of_several_values = True
    return has_row_of_several_values
