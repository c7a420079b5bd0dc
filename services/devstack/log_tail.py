"""What ``parley run``'s children write to their logs, echoed to the terminal behind their names.

The log files stay complete; the terminal gets each new line once, cut to a screen-friendly
length, behind a prefix per child, in colour only on a terminal (and never under ``NO_COLOR``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

LINE_CHARS = 200
_COLOURS = ("36", "32", "33", "35", "34", "91", "92", "93", "95", "96")
_RESET = "\033[0m"


def wants_colour(out: TextIO) -> bool:
    """Colour for a terminal, unless the user opted out (https://no-color.org)."""
    return out.isatty() and not os.environ.get("NO_COLOR")


@dataclass
class _Followed:
    path: Path
    prefix: str
    offset: int
    pending: bytes = b""


class LogTail:
    """Follows log files from their current end; ``pump`` prints what was appended since."""

    def __init__(self, out: TextIO, colour: bool, name_width: int = 18) -> None:
        self._out = out
        self._colour = colour
        self._width = name_width
        self._followed: dict[str, _Followed] = {}

    def follow(self, name: str, path: Path) -> None:
        if name in self._followed:
            return
        label = f"{name:<{self._width}} |"
        if self._colour:
            code = _COLOURS[len(self._followed) % len(_COLOURS)]
            label = f"\033[{code}m{label}{_RESET}"
        size = path.stat().st_size if path.exists() else 0
        self._followed[name] = _Followed(path, label, size)

    def pump(self) -> None:
        for followed in self._followed.values():
            for line in self._new_lines(followed):
                if len(line) > LINE_CHARS:
                    line = line[: LINE_CHARS - 1] + "…"
                self._out.write(f"{followed.prefix} {line}\n")
        self._out.flush()

    @staticmethod
    def _new_lines(followed: _Followed) -> list[str]:
        try:
            with followed.path.open("rb") as handle:
                if os.fstat(handle.fileno()).st_size < followed.offset:
                    followed.offset, followed.pending = 0, b""  # truncated: start over
                handle.seek(followed.offset)
                chunk = handle.read()
        except FileNotFoundError:
            return []
        followed.offset += len(chunk)
        *complete, followed.pending = (followed.pending + chunk).split(b"\n")
        return [raw.decode("utf-8", "replace").rstrip("\r") for raw in complete]
