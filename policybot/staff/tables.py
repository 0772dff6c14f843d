"""Plain-text tables for terminals, aware of CJK width (a Chinese character takes two columns).

ASCII only for rules and ellipses: box-drawing characters and "…" are "ambiguous" width,
double in CJK terminals and fonts.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


def display_width(text: str) -> int:
    """Terminal columns: wide/full-width characters take two, combining marks none."""
    width = 0
    for ch in text:
        if unicodedata.combining(ch):
            continue
        width += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return width


def clip(text: str, width: int) -> str:
    """Cut to `width` columns, marking the cut with an ellipsis."""
    text = " ".join(text.split())  # newlines and tabs would break the table
    if display_width(text) <= width:
        return text
    out, used = [], 0
    for ch in text:
        w = display_width(ch)
        if used + w > width - 3:
            break
        out.append(ch)
        used += w
    # ASCII, not "…": ambiguous-width characters are double in CJK terminals and fonts
    return "".join(out) + "..."


def pad(text: str, width: int, align: str = "<") -> str:
    gap = max(0, width - display_width(text))
    return " " * gap + text if align == ">" else text + " " * gap


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    kind: str = "text"  # text | int | pct | float
    max_width: int = 40


@dataclass(frozen=True)
class Table:
    name: str  # also the CSV file name
    title: str
    columns: tuple[Column, ...]
    rows: tuple[Mapping[str, Any], ...]

    def cell(self, row: Mapping[str, Any], col: Column) -> str:
        value = row.get(col.key)
        if value is None:
            return "-" if col.kind != "text" else ""
        if col.kind == "pct":
            return f"{value:.1f}%"
        if col.kind == "float":
            return f"{value:.1f}"
        return clip(str(value), col.max_width)


def format_table(table: Table) -> str:
    cols = table.columns
    cells = [[table.cell(r, c) for c in cols] for r in table.rows]
    widths = [
        max([display_width(c.header)] + [display_width(row[i]) for row in cells]) for i, c in enumerate(cols)
    ]
    aligns = ["<" if c.kind == "text" else ">" for c in cols]

    def line(values: Sequence[str]) -> str:
        return "  ".join(pad(v, w, a) for v, w, a in zip(values, widths, aligns, strict=True)).rstrip()

    # ASCII rule: box-drawing characters are "ambiguous" width, double in CJK terminals/fonts
    out = [table.title, line([c.header for c in cols]), "  ".join("-" * w for w in widths)]
    out += [line(row) for row in cells] or ["(none)"]
    return "\n".join(out)
