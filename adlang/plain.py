"""What a run shows, as pieces (lines and tables), and those pieces as plain text without rich.

Importing rich costs about 20 ms of `adlang run`'s start. Off a terminal rich
writes no styles, and the shapes a run prints (lines, and tables with a rule
under the header, one space between columns) are simple enough to write
directly: `plain_text` writes the bytes rich would, or returns None for
anything it does not do the same way (a line rich would wrap, a table wider
than the console, a character rich measures or replaces), which rich then
writes. tests/test_plain.py compares the two on random pieces.
"""

from __future__ import annotations

import os
from dataclasses import field
from typing import TextIO

from adlang.lang.record import mutable_record, record

# The console's width off a terminal (report.make_console): wide enough never to cut a number.
PIPE_WIDTH = 200
RULE = "\u2500"  # rich's SIMPLE_HEAD rule, and the trace's
_PLAIN = frozenset(chr(c) for c in range(32, 127)) | {RULE}


@record
class Line:
    """A line of text made of (text, style) parts; `wrap`: rich may wrap it at the console's width (soft_wrap off)."""

    parts: tuple[tuple[str, str | None], ...]
    wrap: bool = False

    @staticmethod
    def of(text: str, style: str | None = None, wrap: bool = False) -> Line:
        return Line(((text, style),), wrap)

    @property
    def text(self) -> str:
        return "".join(text for text, _ in self.parts)


@mutable_record
class Grid:
    """A table: a header of column names and rows of cells, drawn with a rule under the header."""

    columns: tuple[str, ...]
    rows: list[tuple[str, ...]] = field(default_factory=list)

    def add_row(self, *cells: str) -> None:
        self.rows.append(tuple(cells))


@record
class Raw:
    """Text written to the file as it is (the trace's rows: a Table would measure millions of cells)."""

    text: str


Piece = Line | Grid | Raw


def writes_plain(file: TextIO) -> bool:
    """Whether rich would write `file` without styles: not a terminal, not forced to be one, UTF-8 (rich draws
    tables in ASCII otherwise)."""
    if os.environ.get("TTY_COMPATIBLE") == "1" or os.environ.get("FORCE_COLOR", "") != "":
        return False
    encoding = (getattr(file, "encoding", None) or "utf-8").lower()
    if encoding.replace("-", "").replace("_", "") != "utf8":
        return False
    isatty = getattr(file, "isatty", None)
    try:
        return not (isatty and isatty())
    except ValueError:
        return True


def plain_text(pieces: list[Piece], width: int = PIPE_WIDTH) -> str | None:
    """The pieces as rich writes them off a terminal at `width` columns, or None where this cannot say."""
    chunks = plain_chunks(pieces, width)
    return None if chunks is None else "".join(chunks)


def plain_chunks(pieces: list[Piece], width: int = PIPE_WIDTH) -> list[str] | None:
    """plain_text in pieces, to be written one after another (a trace of millions of lines is not copied
    into one string again)."""
    out = []
    for piece in pieces:
        if isinstance(piece, Raw):
            out.append(piece.text)
            continue
        text = piece.text if isinstance(piece, Line) else _grid(piece, width)
        if text is None or not _plain(text.replace("\n", " ")):
            return None
        if isinstance(piece, Line) and piece.wrap and any(len(line) > width for line in text.split("\n")):
            return None
        out.append(text + "\n")
    return out


def _plain(text: str) -> bool:
    return all(ch in _PLAIN for ch in text)


def _grid(grid: Grid, width: int) -> str | None:
    """Cells padded one space each side, columns one space apart, no outer edge; None where rich would fold
    cells (too wide) or lay out otherwise (no columns, a cell of several lines)."""
    if not grid.columns or any(len(row) != len(grid.columns) for row in grid.rows):
        return None
    cells = [grid.columns, *grid.rows]
    if any("\n" in cell or RULE in cell for row in cells for cell in row):
        return None
    widths = [max(len(row[k]) for row in cells) for k in range(len(grid.columns))]
    total = sum(widths) + 3 * len(widths) - 1
    if total > width:
        return None
    lines = [_row(grid.columns, widths), RULE * total]
    lines += [_row(row, widths) for row in grid.rows]
    return "\n".join(lines)


def _row(cells: tuple[str, ...], widths: list[int]) -> str:
    return " ".join(f" {cell:<{w}} " for cell, w in zip(cells, widths))
