"""Where a training step's time goes, anynet on NumPy beside PyTorch CPU, one thread, every zoo model.

One thread, so that the profilers see all the work (a second BLAS thread hides part of the
products from cProfile). anynet's step runs under cProfile and its self time is put in four
bins; PyTorch's under torch.profiler, its operators' self CPU time in four bins:

- products: BLAS matrix products (anynet: ``matmul``; PyTorch: ``mm``/``addmm``/``bmm`` and the
  oneDNN convolutions forward and backward, which are products without a column matrix);
- windows: building and scattering sliding windows and layouts (anynet: ``stack``, ``concat``,
  padding, copies; PyTorch: pooling, padding, copies);
- elementwise: activations, losses, reductions, the optimizer update (anynet: NumPy calls and the
  array operators inside layer methods, which cProfile books to the method);
- framework: Python and dispatch (anynet: everything else; PyTorch: autograd bookkeeping and the
  rest of the measured wall time).

The profiled step is slower than a bare one; the table scales each bin so the four add up to the
bare step's time (median of several, measured first). Run it alone on the machine, without this
workplace's OpenBLAS pins (see PERF-NOTES):

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python3 benchmarks/profile_cpu.py   # results-cpu-profile.md
"""

from __future__ import annotations

import os

# One thread everywhere (cProfile sees only the calling thread); anynet's conv chunks are set to
# one thread through anynet.configure below, once anynet is imported.
os.environ.update(dict.fromkeys(("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"), "1"))

import argparse
import cProfile
import datetime
import pstats
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import anynet  # noqa: E402
from benchmarks import _common as bench  # noqa: E402

anynet.configure(cpu_workers=1)  # the conv chunks on the calling thread too

BATCH = 100
BINS = ("products", "windows", "elementwise", "framework")
# (bin, words any of which in a function's or operator's name puts it there), first match wins
ANYNET_BINS = (
    ("products", ("matmul", "tensordot", "vecdot", "einsum")),
    ("windows", ("stack", "concat", "pad", "copy", "flip", "take", "permute", "reshape", "_windows.py", "pooling.py")),
    ("elementwise", ("reduce", "astype", "clip", "exp", "log", "tanh", "maximum", "where", "sum", "max", "mean",
                     "sqrt", "layers/", "losses/", "optimizers/", "functional.py")),
)
TORCH_BINS = (
    ("products", ("mm", "convolution", "conv2d", "linear", "matmul", "lstm", "gru", "rnn")),
    ("windows", ("pool", "pad", "copy", "cat", "stack", "index", "view", "reshape", "flip", "clone", "contiguous")),
    ("elementwise", ("add", "mul", "div", "sub", "relu", "threshold", "sigmoid", "tanh", "softmax", "nll", "sum",
                     "mean", "sqrt", "exp", "log", "lerp", "fill", "zero", "foreach", "max", "dropout", "where",
                     "batch_norm", "native_")),
)


def classify(name: str, table) -> str:
    low = name.lower()
    for bin_, words in table:
        if any(w in low for w in words):
            return bin_
    return "framework"


def bare_ms(step, sync, steps: int) -> float:
    """Median ms a step over five blocks of ``steps``."""
    for _ in range(2):
        step()
    sync()
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        sync()
        times.append((time.perf_counter() - t0) * 1e3 / steps)
    return statistics.median(times)


def anynet_bins(name: str, opt: str, steps: int) -> tuple[float, dict[str, float]]:
    step, sync = bench.anynet_stepper(name, opt, BATCH)
    ms = bare_ms(step, sync, steps)
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(steps):
        step()
    prof.disable()
    bins = dict.fromkeys(BINS, 0.0)
    for (file, _, func), (_, _, tottime, _, _) in pstats.Stats(prof).stats.items():
        bins[classify(f"{'/'.join(file.split('/')[-2:])}:{func}", ANYNET_BINS)] += tottime
    return ms, bins


def torch_bins(name: str, opt: str, steps: int) -> tuple[float, dict[str, float]]:
    import torch

    step, sync = bench.torch_stepper(name, opt, BATCH)
    ms = bare_ms(step, sync, steps)
    bins = dict.fromkeys(BINS, 0.0)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        wall = time.perf_counter() - t0
    for event in prof.key_averages():
        if event.key.startswith("aten::") or "Backward" in event.key or event.key.startswith("Optimizer"):
            bins[classify(event.key, TORCH_BINS)] += event.self_cpu_time_total / 1e6
    bins["framework"] += max(0.0, wall - sum(bins.values()))  # Python, autograd, dispatch
    return ms, bins


def scaled(ms: float, bins: dict[str, float]) -> dict[str, float]:
    total = sum(bins.values()) or 1.0
    return {b: ms * v / total for b, v in bins.items()}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", choices=list(bench.MODELS), default=list(bench.MODELS))
    parser.add_argument("--optimizer", choices=list(bench.OPTIMIZERS), default="Adam")
    parser.add_argument("--steps", type=int, default=5, help="steps a block (default 5)")
    parser.add_argument("--out", default=str(Path(__file__).with_name("results-cpu-profile.md")))
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    rows = []
    for name in args.models:
        a_ms, a = anynet_bins(name, args.optimizer, args.steps)
        t_ms, t = torch_bins(name, args.optimizer, args.steps)
        a, t = scaled(a_ms, a), scaled(t_ms, t)
        rows.append((name, a_ms, a, t_ms, t))
        print(f"{name:14s} anynet {a_ms:7.1f} ms " + " ".join(f"{b} {a[b]:6.1f}" for b in BINS)
              + f" | torch {t_ms:7.1f} ms " + " ".join(f"{b} {t[b]:6.1f}" for b in BINS), flush=True)
    command = " ".join(["env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python3 benchmarks/profile_cpu.py",
                        *(argv if argv is not None else sys.argv[1:])])
    lines = [
        "# Where a CPU training step's time goes: anynet on NumPy beside PyTorch",
        "",
        f"{datetime.date.today().isoformat()}. `{command}` on {bench.cpu_model()}, NumPy with "
        f"{bench.blas_kernel()}, PyTorch {torch.__version__}, one thread each, batch {BATCH}, float32, "
        f"{args.optimizer}. Milliseconds a training step; the bins are defined in the script's docstring "
        "(profiler shares scaled to the bare step's time). The gap column is anynet's time minus "
        "PyTorch's in that bin.",
        "",
        "| model | system | step ms | products | windows | elementwise | framework |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for name, a_ms, a, t_ms, t in rows:
        lines.append(f"| {name} | anynet | {a_ms:.1f} | " + " | ".join(f"{a[b]:.1f}" for b in BINS) + " |")
        lines.append(f"| | PyTorch | {t_ms:.1f} | " + " | ".join(f"{t[b]:.1f}" for b in BINS) + " |")
        lines.append(f"| | gap | {a_ms - t_ms:+.1f} | " + " | ".join(f"{a[b] - t[b]:+.1f}" for b in BINS) + " |")
    Path(args.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
