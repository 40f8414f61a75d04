"""The node counts docs/guides/onnx.md states are those ``to_onnx`` writes today (the README once said 21
where ``anynet export`` printed 17)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import anynet

pytest.importorskip("ndonnx", reason="the ONNX export needs the extra onnx (pip install -e '.[onnx]')")

PAGE = Path(__file__).resolve().parents[2] / "docs" / "guides" / "onnx.md"


@pytest.mark.parametrize(("name", "make", "shape"), [
    ("MLP 784-100-100-10", lambda: anynet.MLP(784, [100, 100], 10), (None, 784)),
    ("SimpleConvNet", lambda: anynet.SimpleConvNet(), (None, 1, 28, 28)),
])
def test_the_stated_operator_graph_sizes(name, make, shape, tmp_path):
    from anynet.export import to_onnx

    stated = re.search(rf"{re.escape(name)} (\d+) / [\d,]+", " ".join(PAGE.read_text().split()))
    assert stated, f"docs/guides/onnx.md states no node count for {name}"
    proto = to_onnx(make(), shape, tmp_path / "model.onnx")
    assert len(proto.graph.node) == int(stated[1])
