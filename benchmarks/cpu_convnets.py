"""Training throughput and peak memory of the conv nets: anynet on NumPy against PyTorch CPU.

Both systems train the same architecture (the PyTorch net is translated layer by
layer from the anynet model) with plain SGD on Fashion-MNIST-shaped random data,
batch 100, float32, 2 threads each. Throughput blocks alternate between the two
systems in one process, so load from other users of the machine hits both alike;
the table reports medians after a warm-up and the ratio anynet / PyTorch.
Peak memory is the growth of the resident set over a few training steps, measured
in a fresh subprocess per system and model.

    python3 benchmarks/cpu_convnets.py            # all models, writes benchmarks/results-cpu.md
    python3 benchmarks/cpu_convnets.py --quick    # SimpleConvNet and DeepConvNet, fewer repeats
    ANYNET_BENCH_THREADS=1 python3 benchmarks/cpu_convnets.py --quick --out /tmp/r.md   # other thread count
"""

from __future__ import annotations

import os

THREADS = os.environ.get("ANYNET_BENCH_THREADS", "2")  # 2 unless told otherwise
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = THREADS  # before NumPy loads its BLAS

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import anynet  # noqa: E402

BATCH = 100
POOL = 1000  # random "images" the batches are drawn from
MODELS = {
    "SimpleConvNet": lambda: anynet.SimpleConvNet(),
    "DeepConvNet": lambda: anynet.DeepConvNet(),
    "LeNet5": lambda: anynet.LeNet5(),
    "AlexNet": lambda: anynet.AlexNet(),
    "VGG": lambda: anynet.VGG(),
}
QUICK = ("SimpleConvNet", "DeepConvNet")
NOTE = (
    "The book's own NumPy code is not run here: it is not part of this repository and the\n"
    "benchmark downloads nothing. On these machines it was measured at about 0.18x PyTorch on\n"
    "SimpleConvNet and 0.10x on DeepConvNet (its conv path runs in float64).\n"
)


def torch_twin(model):
    """The same architecture as the anynet ``model``, in torch.nn."""
    import torch.nn as nn

    out = []
    for layer in model:
        kind = type(layer).__name__
        if kind == "Conv":
            FN, C, FH, FW = layer.W.shape
            out.append(nn.Conv2d(C, FN, (FH, FW), layer.stride, layer.pad))
        elif kind == "Affine":
            out.append(nn.Linear(*layer.W.shape))
        elif kind in ("MaxPool", "AvgPool"):
            pool = nn.MaxPool2d if kind == "MaxPool" else nn.AvgPool2d
            out.append(pool(layer.kernel, layer.stride, layer.pad))
        elif kind == "LRN":
            out.append(nn.LocalResponseNorm(layer.size, layer.alpha, layer.beta, layer.k))
        elif kind == "BatchNorm":
            out.append(nn.BatchNorm2d(layer.num_features, momentum=1 - layer.momentum, eps=layer.eps))
        elif kind == "Dropout":
            out.append(nn.Dropout(layer.ratio))
        elif kind in ("ReLU", "Sigmoid", "Tanh", "Flatten"):
            out.append(getattr(nn, kind)())
        else:
            raise ValueError(f"no PyTorch twin for {kind}")
    return nn.Sequential(*out)


def data(seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.random((POOL, 1, 28, 28), dtype=np.float32), rng.integers(0, 10, POOL)


def anynet_stepper(name: str):
    anynet.seed(0)
    net, loss, opt = MODELS[name](), anynet.SoftmaxWithLoss(), anynet.SGD(lr=0.01)
    x, t = data()
    rng = np.random.default_rng(1)

    def step():
        idx = rng.integers(0, POOL, BATCH)
        y = net.forward(x[idx], train=True)
        loss.forward(y, t[idx])
        net.backward(loss.backward())
        opt.update(net.params)

    return step


def torch_stepper(name: str):
    import torch

    torch.set_num_threads(int(THREADS))
    torch.manual_seed(0)
    net = torch_twin(MODELS[name]()).train()
    loss_fn = torch.nn.CrossEntropyLoss()
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    x, t = data()
    x, t = torch.from_numpy(x), torch.from_numpy(t)
    rng = np.random.default_rng(1)

    def step():
        idx = torch.from_numpy(rng.integers(0, POOL, BATCH))
        opt.zero_grad(set_to_none=True)
        loss_fn(net(x[idx]), t[idx]).backward()
        opt.step()

    return step


def throughput(name: str, repeats: int, block_s: float) -> dict[str, float]:
    """Median samples/s of each system over ``repeats`` alternating blocks of steps, and the
    median of the per-pair ratios (a pair: two adjacent blocks, which saw the same load)."""
    steps = {"anynet": anynet_stepper(name), "torch": torch_stepper(name)}
    sizes = {}
    for system, step in steps.items():  # warm-up, and how many steps fill a block
        step()
        t0 = time.perf_counter()
        step()
        sizes[system] = max(1, round(block_s / max(time.perf_counter() - t0, 1e-6)))
    rates: dict[str, list[float]] = {s: [] for s in steps}
    for i in range(repeats):
        order = list(steps) if i % 2 == 0 else list(steps)[::-1]  # neither system always goes first
        for system in order:
            t0 = time.perf_counter()
            for _ in range(sizes[system]):
                steps[system]()
            rates[system].append(sizes[system] * BATCH / (time.perf_counter() - t0))
    result = {s: statistics.median(r) for s, r in rates.items()}
    result["ratio"] = statistics.median(a / t for a, t in zip(rates["anynet"], rates["torch"]))
    return result


def peak_memory(name: str, system: str) -> float:
    """MiB the resident set grows by over three training steps (fresh subprocess)."""
    code = (
        "import sys; sys.argv = ['x']; import benchmarks.cpu_convnets as b; "
        f"print(b._measure_rss({name!r}, {system!r}))"
    )
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def _rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def _measure_rss(name: str, system: str) -> float:
    step = anynet_stepper(name) if system == "anynet" else torch_stepper(name)
    before = _rss_kib("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # resets the peak (VmHWM) to the current RSS
    for _ in range(3):
        step()
    return (_rss_kib("VmHWM") - before) / 1024


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="SimpleConvNet and DeepConvNet only, fewer repeats")
    parser.add_argument("--models", nargs="+", choices=list(MODELS), help="models to run")
    parser.add_argument("--repeats", type=int, help="measured blocks per system (default 15, quick 7)")
    parser.add_argument("--out", default=str(Path(__file__).with_name("results-cpu.md")), help="markdown table")
    args = parser.parse_args(argv)
    import torch

    names = args.models or (QUICK if args.quick else list(MODELS))
    repeats = args.repeats or (7 if args.quick else 15)
    block_s = 0.3 if args.quick else 0.5
    rows = []
    for name in names:
        rate = throughput(name, repeats, block_s)
        mem = {s: peak_memory(name, s) for s in ("anynet", "torch")}
        row = (name, rate["anynet"], rate["torch"], rate["ratio"], mem["anynet"], mem["torch"])
        rows.append(row)
        print(f"{name:14s} anynet {row[1]:8,.0f}/s  torch {row[2]:8,.0f}/s  ratio {row[3]:.2f}  "
              f"peak MiB anynet {row[4]:.0f} torch {row[5]:.0f}", flush=True)
    lines = [
        "# CPU training throughput: anynet on NumPy vs PyTorch",
        "",
        f"`python3 benchmarks/cpu_convnets.py{' --quick' if args.quick else ''}` on {platform.machine()}, "
        f"{os.cpu_count()} CPUs (shared), NumPy {np.__version__}, PyTorch {torch.__version__}, "
        f"{THREADS} threads each, batch {BATCH}, float32, SGD, 1x28x28 random inputs, 10 classes. "
        f"Median of {repeats} alternating blocks of about {block_s:g} s after a warm-up; the ratio is the "
        "median over pairs of adjacent blocks, which saw the same load on this shared machine. "
        "Peak memory: growth of the resident set over three steps in a fresh process.",
        "",
        "| model | anynet samples/s | PyTorch samples/s | anynet / PyTorch | anynet peak MiB | PyTorch peak MiB |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    lines += [f"| {r[0]} | {r[1]:,.0f} | {r[2]:,.0f} | {r[3]:.2f} | {r[4]:.0f} | {r[5]:.0f} |" for r in rows]
    lines += ["", "Raw figures: " + json.dumps([[r[0], round(r[1]), round(r[2])] for r in rows]), "", NOTE]
    Path(args.out).write_text("\n".join(lines))


if __name__ == "__main__":
    main()
