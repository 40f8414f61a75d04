"""MkDocs hook: drop the test markers from Python fences (```python skip: ..., ```python fashion-mnist).

The markers tell the suite which blocks to run (tests/docs/blocks.py); the site shows plain ```python.
"""

import re

MARKED = re.compile(r"^([ \t]*```+)python[ \t]+(skip|fashion-mnist)\b.*$", re.MULTILINE)


def on_page_markdown(markdown, **kwargs):
    """The page's Markdown with every marked Python fence reduced to ```python."""
    return MARKED.sub(r"\1python", markdown)
