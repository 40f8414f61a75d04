"""The backend package as a whole: its modules import in layers, and only it names array libraries."""

from __future__ import annotations

import ast
import importlib.util
import pathlib
import re
import subprocess
import sys

import anynet

BACKEND = pathlib.Path(anynet.__file__).parent / "backend"


def _imports(path: pathlib.Path) -> set[str]:
    """The backend modules ``path`` imports, wherever the import sits (a function's body too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module is None:  # from . import _numpy
                found.update(alias.name for alias in node.names)
            else:
                found.add(node.module.split(".")[0])
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("anynet.backend."):
            found.add(node.module.split(".")[2])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[2] for a in node.names if a.name.startswith("anynet.backend."))
    return found


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path of modules, or None."""
    state: dict[str, str] = {}

    def visit(name: str, path: list[str]) -> list[str] | None:
        state[name] = "open"
        for nxt in sorted(graph.get(name, ())):
            if state.get(nxt) == "open":
                return path[path.index(nxt):] + [nxt] if nxt in path else [name, nxt]
            if nxt not in state and (found := visit(nxt, path + [nxt])):
                return found
        state[name] = "done"
        return None

    for name in sorted(graph):
        if name not in state and (found := visit(name, [name])):
            return found
    return None


def test_the_cycle_finder_finds_cycles():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_backend_modules_import_in_layers_without_a_cycle():
    modules = {p.stem: p for p in BACKEND.glob("_*.py") if p.stem != "__init__"}
    graph = {name: _imports(path) & set(modules) for name, path in modules.items()}
    assert graph["_device"] and graph["_registry"]  # the parse sees the package's imports
    assert _cycle(graph) is None


def test_only_the_backend_names_array_libraries():
    root = pathlib.Path(anynet.__file__).parent
    pattern = re.compile(r"^\s*(import|from)\s+(numpy|cupy|torch|jax|array_api_strict|ndonnx|spox)\b", re.M)
    # host-only packages read and write NumPy arrays (testing: the host references of tests); sklearn,
    # weights.py and interop.py reach the host through the backend (its "cpu" device's namespace)
    host_side = {"data", "training", "cli", "testing"}
    offenders = [
        str(p.relative_to(root)) for p in root.rglob("*.py")
        if p.relative_to(root).parts[0] not in {"backend", *host_side} and pattern.search(p.read_text())
    ]
    assert offenders == []


def test_the_backend_never_reads_the_environment():
    offenders = [p.name for p in BACKEND.glob("*.py") if re.search(r"os\.environ|getenv", p.read_text())]
    assert offenders == []


def test_work_on_other_libraries_never_imports_cupy():
    """With CuPy installed (as on CI), training on NumPy or PyTorch must not import it: array-api-compat
    recognises arrays by type, and the backend imports CuPy only for a CUDA device."""
    code = (
        "import sys, numpy as np, anynet\n"
        "for dev in ('cpu', 'torch:cpu'):\n"
        "    with anynet.device(dev):\n"
        "        t = anynet.Trainer(anynet.MLP(3, [4], 2), anynet.SoftmaxWithLoss(), anynet.SGD(), verbose=0)\n"
        "        t.fit((np.ones((8, 3), np.float32), np.zeros(8, np.int64)), epochs=1, batch_size=4)\n"
        "assert 'cupy' not in sys.modules, 'cupy was imported'\n"
    )
    if importlib.util.find_spec("torch") is None:
        code = code.replace("'cpu', 'torch:cpu'", "'cpu',")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr


def test_device_error_shows_under_its_public_module():
    """A traceback names ``anynet.backend.DeviceError``, where it is documented; it still pickles."""
    import pickle

    from anynet.backend import DeviceError

    assert f"{DeviceError.__module__}.{DeviceError.__qualname__}" == "anynet.backend.DeviceError"
    assert isinstance(pickle.loads(pickle.dumps(DeviceError("x"))), DeviceError)
