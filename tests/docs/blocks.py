"""The fenced code blocks of a Markdown page, and the markers that say which of them the suite runs.

A block's fence names its language first (```python, ```sh, ```text); after ``python`` a marker may follow:

- ``python skip: REASON`` (or ``python skip``): never run; the text beside the block says why (a GPU,
  MPI, a long run, a file the reader makes first), and REASON repeats it for the test report;
- ``python fashion-mnist``: run where the Fashion-MNIST files are found (``/usr/share/datasets``,
  ``$ANYNET_DATA`` or the user cache), skipped with that reason elsewhere (CI may lack them).

The blocks of one page run in order in one namespace, in a fresh empty folder, as a reader pastes
them one after the other; pages share nothing. GitHub and the site show the marker-free language.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<ticks>```+)(?P<info>.*)$")
MARKERS = ("skip", "fashion-mnist")


@dataclasses.dataclass(frozen=True)
class Block:
    """One fenced block: its page, the line of its opening fence (1-based), language, marker and code."""

    page: str
    line: int
    language: str
    marker: str | None
    reason: str | None
    code: str

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"


def _info(info: str) -> tuple[str, str | None, str | None]:
    """(language, marker, reason) of a fence's info string such as ``python skip: needs a GPU``."""
    words = info.strip().split(None, 1)
    if not words:
        return "", None, None
    rest = words[1].strip() if len(words) > 1 else ""
    marker, _, reason = rest.partition(":")
    return words[0], marker.strip() or None, reason.strip() or None


def blocks(path: Path, root: Path) -> list[Block]:
    """Every fenced block of the Markdown file ``path`` (named relative to ``root``), in order."""
    found, lines = [], path.read_text().splitlines()
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        indent, ticks = opening["indent"], opening["ticks"]
        body, j = [], i + 1
        while j < len(lines) and not lines[j].strip().startswith(ticks):
            body.append(lines[j][len(indent):] if lines[j].startswith(indent) else lines[j].lstrip())
            j += 1
        language, marker, reason = _info(opening["info"])
        found.append(Block(str(path.relative_to(root)), i + 1, language, marker, reason, "\n".join(body) + "\n"))
        i = j + 1
    return found
