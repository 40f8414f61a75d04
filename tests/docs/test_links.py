"""README.md's links into the repository (docs pages, files) point at files that exist; the site's own
links are checked by ``mkdocs build --strict`` in ci/test.sh."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINK = re.compile(r"\]\((?!https?://|#)(?P<path>[^)#\s]+)(?:#[^)]*)?\)")


def test_the_readme_links_to_files_that_exist():
    text = (ROOT / "README.md").read_text()
    links = [m["path"] for m in LINK.finditer(text)]
    assert links, "the README links to the documentation"
    assert [path for path in links if not (ROOT / path).exists()] == []
