"""Inference throughput of the exported zoo: onnxruntime against anynet on NumPy and PyTorch eager.

Each model of the zoo (default sizes, 1x28x28 images, 28x28 sequences, 32-token text) is
exported twice with ``anynet.export.to_onnx``: whole ONNX operators (the default) and the
traced primitives of every layer (``operators=False``, the reference). Four systems then run
inference at batch 1 and 256, float32, in one process, ``THREADS`` threads each: anynet
``predict`` on NumPy, onnxruntime on each graph, and PyTorch eager (``torch.no_grad``, the same
architecture built by the benchmarks' ``torch_twin``; conv nets and MLPs only, recurrent nets have
no twin). Timed blocks of about ``BLOCK_S`` seconds rotate through the systems, so load from other
users of a shared machine hits all alike; the table reports the median samples/s per system and
the ONNX graphs' node counts.

    python3 benchmarks/onnx_inference.py                   # writes benchmarks/results-onnx.md
    python3 benchmarks/onnx_inference.py --models MLP --repeats 3 --out /tmp/r.md
    ANYNET_BENCH_THREADS=2 python3 benchmarks/onnx_inference.py      # other thread count
"""

from __future__ import annotations

import os

# One thread each by default: on a loaded machine, a thread team's barrier waits for a thread
# that has lost its core (PyTorch at batch 1 ran 20x slower with two threads than with one).
THREADS = os.environ.get("ANYNET_BENCH_THREADS", "1")
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = THREADS  # before NumPy loads its BLAS

import argparse  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import anynet  # noqa: E402
from anynet.export import to_onnx  # noqa: E402
from benchmarks._common import MODELS as ZOO  # noqa: E402

BATCHES = (1, 256)
BLOCK_S = 0.3
VOCAB, TOKENS = 65, 32
MODELS = {
    **{name: ZOO[name] for name in ("MLP", "SimpleConvNet", "LeNet5", "DeepConvNet", "AlexNet", "VGG")},
    "SequenceClassifier": (lambda: anynet.SequenceClassifier(28, 128, 10), (28, 28)),
    "LanguageModel": (lambda: anynet.LanguageModel(VOCAB, 32, 128), (TOKENS,)),
}


def _torch_twin():
    """The PyTorch translation of a conv net from the other benchmarks, or None."""
    try:
        from benchmarks._common import torch_twin
    except ImportError:
        try:
            from benchmarks.cpu_convnets import torch_twin
        except ImportError:
            return None
    return torch_twin


def batch(name: str, n: int) -> np.ndarray:
    rng = np.random.default_rng(n)
    shape = (n, *MODELS[name][1])
    if name == "LanguageModel":
        return rng.integers(0, VOCAB, shape)
    return rng.random(shape, dtype=np.float32)


def runners(name: str, folder: str) -> tuple[dict, dict[str, int]]:
    """system -> (batch -> a function running one inference), and the node count of each graph."""
    import onnxruntime as ort

    anynet.seed(0)
    model = MODELS[name][0]()
    model.eval()
    shape = (None, *MODELS[name][1])
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = int(THREADS)
    # ORT's idle threads spin after each run by default, which would steal the next system's CPUs
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    reset = getattr(model, "reset_state", lambda: None)  # every call starts from zero state, as in ORT

    def run_anynet(x):
        reset()
        return model.predict(x)

    systems, nodes = {"anynet NumPy": run_anynet}, {}
    for label, operators in (("operators", True), ("traced", False)):
        path = os.path.join(folder, f"{name}-{label}.onnx")
        nodes[label] = len(to_onnx(model, shape, path, operators=operators).graph.node)
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        states = [(i.name, i.shape[1]) for i in session.get_inputs() if i.name != "x"]

        def run(x, session=session, states=states):
            feed = {n: np.zeros((x.shape[0], h), np.float32) for n, h in states}
            return session.run(["y"], {"x": x, **feed})

        systems[f"ORT {label}"] = run
    twin = _torch_twin()
    if twin is not None:
        import torch

        torch.set_num_threads(int(THREADS))
        try:
            net = twin(model).eval()
        except ValueError:  # a layer the twin does not translate (recurrent nets)
            net = None
        if net is not None:
            def run_torch(x, net=net):
                with torch.no_grad():
                    return net(torch.from_numpy(x))

            systems["PyTorch eager"] = run_torch
    return systems, nodes


def throughput(systems: dict, x: np.ndarray, repeats: int) -> dict[str, float]:
    """Median samples/s of each system over ``repeats`` rotations of timed blocks."""
    sizes = {}
    for system, run in systems.items():  # warm-up, and how many calls fill a block
        run(x)
        t0 = time.perf_counter()
        run(x)
        sizes[system] = max(1, round(BLOCK_S / max(time.perf_counter() - t0, 1e-6)))
    rates: dict[str, list[float]] = {s: [] for s in systems}
    order = list(systems)
    for i in range(repeats):
        for system in order[i % len(order):] + order[:i % len(order)]:  # each goes first in turn
            t0 = time.perf_counter()
            for _ in range(sizes[system]):
                systems[system](x)
            rates[system].append(sizes[system] * x.shape[0] / (time.perf_counter() - t0))
    return {s: statistics.median(r) for s, r in rates.items()}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", choices=list(MODELS), help="models to run (default: all)")
    parser.add_argument("--repeats", type=int, default=7, help="timed blocks per system and batch size")
    parser.add_argument("--out", default=str(Path(__file__).with_name("results-onnx.md")), help="markdown table")
    args = parser.parse_args(argv)
    import onnxruntime

    columns = ["anynet NumPy", "ORT operators", "ORT traced", "PyTorch eager"]
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for name in args.models or list(MODELS):
            systems, nodes = runners(name, folder)
            for n in BATCHES:
                rate = throughput(systems, batch(name, n), args.repeats)
                rows.append((name, n, nodes, [rate.get(c) for c in columns]))
                shown = "  ".join(f"{c} {r:9,.0f}/s" if r else f"{c} {'-':>9s}  " for c, r in zip(columns, rows[-1][3]))
                print(f"{name:18s} batch {n:3d}  {shown}", flush=True)
    torch_note = "PyTorch eager: the `torch_twin` of benchmarks/cpu_convnets.py (conv nets and MLPs)"
    try:
        import torch

        versions = f"PyTorch {torch.__version__}, "
    except ImportError:
        versions, torch_note = "", "PyTorch is not installed here: no PyTorch column"
    lines = [
        "# Inference throughput of the exported zoo: onnxruntime vs anynet on NumPy and PyTorch eager",
        "",
        f"`python3 benchmarks/onnx_inference.py` on {platform.machine()}, {os.cpu_count()} CPUs shared with "
        f"other users while it ran (load average {os.getloadavg()[0]:.1f} at the end), NumPy {np.__version__}, "
        f"onnxruntime {onnxruntime.__version__}, {versions}{THREADS} thread(s) each, float32, default model "
        f"sizes. Samples/s, the median of {args.repeats} timed blocks of about {BLOCK_S} s per system, the "
        "blocks rotating through the systems. "
        "ORT operators: the default export (whole ONNX operators); ORT traced: every layer's traced "
        f"primitives (`operators=False`). {torch_note}; -: no twin.",
        "",
        "| model | batch | nodes (operators / traced) | " + " | ".join(columns) + " |",
        "|---|---:|---:|" + "---:|" * len(columns),
    ]
    for name, n, nodes, rates in rows:
        cells = " | ".join(f"{r:,.0f}" if r else "-" for r in rates)
        lines.append(f"| {name} | {n} | {nodes['operators']} / {nodes['traced']} | {cells} |")
    Path(args.out).write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
