"""How the CLI writes: colour and emoji only on a terminal (or when asked), never under NO_COLOR.

`--color auto` (the default) colours when standard output is a terminal and `NO_COLOR` is unset or
empty (https://no-color.org); `always` and `never` decide regardless. Without colour, the emoji of the
policy summary become words, so logs and pipes read as plain text.
"""

from __future__ import annotations

import os
import re
import sys
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
