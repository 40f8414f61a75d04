"""House rules a reader relies on: no module of anynet over 400 lines, no function over 60."""

from __future__ import annotations

import ast
import pathlib

import anynet

ROOT = pathlib.Path(anynet.__file__).parent
MODULE_LINES, FUNCTION_LINES = 400, 60


def test_no_module_over_400_lines():
    sizes = {str(p.relative_to(ROOT)): len(p.read_text().splitlines()) for p in ROOT.rglob("*.py")}
    long = {name: n for name, n in sizes.items() if n > MODULE_LINES}
    assert long == {}


def test_no_function_over_60_lines():
    long = {}
    for path in ROOT.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > FUNCTION_LINES:
                    long[f"{path.relative_to(ROOT)}:{node.lineno} {node.name}"] = n
    assert long == {}
