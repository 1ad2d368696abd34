"""How the CLI writes: colour and emoji only on a terminal (or when asked), never under NO_COLOR.

`--color auto` (the default) colours when standard output is a terminal and `NO_COLOR` is unset or
empty (https://no-color.org); `always` and `never` decide regardless. Without colour, the emoji of the
policy summary become words, so logs and pipes read as plain text.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import textwrap
from dataclasses import dataclass
from typing import TextIO

COLOR_CHOICES = ("auto", "always", "never")
_CODES = {"red": "31", "green": "32", "yellow": "33", "bold": "1", "dim": "2"}
_EMOJI = {"❌": "[failed]", "⚠️": "[warnings]", "✅": "[passed]"}


def wants_color(choice: str, stream: TextIO | None = None) -> bool:
    if choice == "always":
        return True
    if choice == "never" or os.environ.get("NO_COLOR"):
        return False
    stream = stream or sys.stdout
    return bool(getattr(stream, "isatty", lambda: False)()) and os.environ.get("TERM") != "dumb"


@dataclass(frozen=True)
class Style:
    color: bool = False

    def paint(self, text: str, *styles: str) -> str:
        if not self.color or not styles:
            return text
        return f"\x1b[{';'.join(_CODES[s] for s in styles)}m{text}\x1b[0m"

    def plain(self, text: str) -> str:
        """Text as it goes out: emoji kept only when colour is on."""
        if self.color:
            return text
        for emoji, word in _EMOJI.items():
            text = text.replace(emoji, word)
        return text

    def plan(self, text: str) -> str:
        """A plan or diff: `+` lines green, `-` red, `~` yellow, headings bold."""
        text = self.plain(text)
        if not self.color:
            return text
        colours = {"+": "green", "-": "red", "~": "yellow"}
        lines = []
        for line in text.split("\n"):
            marker = re.match(r"^\s*([+~-])[ -]", line)
            if marker:
                line = self.paint(line, colours[marker.group(1)])
            elif re.match(r"^[A-Z][A-Za-z ]+(\(.*\))?:$", line):
                line = self.paint(line, "bold")
            elif "[mandatory]" in line:
                line = self.paint(line, "red")
            elif "[advisory]" in line:
                line = self.paint(line, "yellow")
            lines.append(line)
        return "\n".join(lines)

    def error(self, message: str) -> str:
        return f"{self.paint('error:', 'red', 'bold')} {message}"


# ---------------------------------------------------------------- width-aware layout

ELLIPSIS = "…"
UNBOUNDED = 1 << 16  # the width of a pipe or a file: nothing is cut or wrapped
# Where a long URL may break onto the next line: after one of these (never at a space inside it, as in
# `(known after apply)`, so the parts join back by removing the line break and the indentation).
_URL_BREAKS = "/?&#,;"


def terminal_width(stream: TextIO | None = None) -> int:
    """Columns to fit: `COLUMNS` when set; on a terminal its width (`shutil.get_terminal_size`), never under 40;
    into a pipe or a file, no limit, so every line stays whole for `grep` and logs."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return max(40, int(columns))
    stream = stream or sys.stdout
    if getattr(stream, "isatty", lambda: False)():
        return max(40, shutil.get_terminal_size().columns)
    return UNBOUNDED


def shorten(text: str, width: int, keep: int = 0) -> str:
    """`text` in at most `width` columns: the middle cut out (`…`) so both ends stay readable; the first
    `keep` characters (a tree's branch) are never cut."""
    if len(text) <= width:
        return text
    room = width - keep - len(ELLIPSIS)
    if room < 2:
        return text[: max(width - len(ELLIPSIS), 0)] + ELLIPSIS
    head = keep + room // 2
    return text[:head] + ELLIPSIS + text[len(text) - (room - room // 2) :]


def wrap(text: str, width: int) -> list[str]:
    """`text` in lines of at most `width` columns: a URL broken after a `/`, `?`, `&`, `#`, `,` or `;` near
    the end of the line, other text at a space; at the width where there is none."""
    width = max(width, 8)
    breaks = _URL_BREAKS if "://" in text else " "
    lines = []
    while len(text) > width:
        cut = max(text.rfind(ch, width // 2, width) for ch in breaks)
        cut = width if cut < 0 else cut + 1
        lines.append(text[:cut].rstrip())
        text = text[cut:].lstrip(" ")
    return [*lines, text]


def table(rows: list[tuple[str, ...]], width: int, indent: int = 0, gap: int = 2) -> list[str]:
    """Rows as aligned columns within `width`: every column but the last as wide as its widest cell (cut in the
    middle when the columns would leave the last one under a third of the width), the last wrapped under
    itself."""
    if not rows:
        return []
    count = len(rows[0])
    widths = [max(len(row[i]) for row in rows) for i in range(count - 1)]
    room = width - indent - gap * (count - 1)
    while widths and room - sum(widths) < max(room // 3, 12) and max(widths) > 8:
        widest = widths.index(max(widths))
        widths[widest] -= 1
    last = max(room - sum(widths), 8)
    lines = []
    for row in rows:
        cells = [shorten(cell, widths[i]).ljust(widths[i]) for i, cell in enumerate(row[:-1])]
        head = " " * indent + "".join(cell + " " * gap for cell in cells)
        for number, part in enumerate(wrap(row[-1], last)):
            lines.append(((head if number == 0 else " " * len(head)) + part).rstrip())
    return lines


def fit(text: str, width: int) -> str:
    """Each line of `text` longer than `width` wrapped at spaces, its continuation indented under it (a word
    longer than the width, such as a path, stays whole)."""
    lines = []
    for line in text.split("\n"):
        if len(line) <= width:
            lines.append(line)
            continue
        indent = " " * (len(line) - len(line.lstrip(" ")))
        lines += textwrap.wrap(
            line, width, subsequent_indent=indent + "    ", break_long_words=False, break_on_hyphens=False
        )
    return "\n".join(lines)
