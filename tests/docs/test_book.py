"""docs/book.md: every anynet name in its tables exists, every snippet runs, and every layer, loss,
optimizer and model anynet has is named on the page."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import numpy as np
import pytest

import anynet

PAGE = Path(__file__).resolve().parents[2] / "docs" / "book.md"
CODE = re.compile(r"`([^`]+)`")


def _rows() -> list[list[str]]:
    """The cells of every table row (header and rule lines left out)."""
    rows = []
    for line in PAGE.read_text().splitlines():
        if line.startswith("|") and not line.startswith("|---") and not line.startswith("| chapter"):
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


def _resolve(dotted: str):
    """The object a dotted name such as ``anynet.layers._windows.im2col`` names."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for name in parts[i:]:
            obj = getattr(obj, name)
        return obj
    raise ImportError(dotted)


def test_the_tables_cover_both_volumes():
    rows = _rows()
    assert len(rows) > 50 and all(len(row) == 4 for row in rows), [row for row in rows if len(row) != 4]


@pytest.mark.parametrize("name", sorted({m.split("(")[0] for row in _rows() for m in CODE.findall(row[2])
                                         if m.startswith("anynet.")}))
def test_every_anynet_name_exists(name):
    assert _resolve(name) is not None


@pytest.mark.parametrize("snippet", [s for row in _rows() for s in CODE.findall(row[3])])
def test_every_snippet_runs(snippet):
    anynet.seed(0)
    eval(snippet, {"anynet": anynet, "np": np})  # noqa: S307 - the page's own one-line snippets


def test_every_layer_loss_optimizer_and_model_is_on_the_page():
    text = PAGE.read_text()
    names = {name for module in (anynet.layers, anynet.losses, anynet.optim, anynet.models)
             for name in module.__all__ if isinstance(getattr(module, name), type)}
    missing = sorted(name for name in names if f"anynet.{name}`" not in text and f"`{name}`" not in text)
    assert missing == []
