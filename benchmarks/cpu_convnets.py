"""Training throughput and peak memory on the CPU: anynet on NumPy against PyTorch CPU, every zoo model.

Both systems train the same architecture (the PyTorch net is translated layer by layer
from the anynet model) with SGD and with Adam on Fashion-MNIST-shaped random data, batch
100, float32, 2 threads each. Throughput blocks alternate between the two systems in one
process, so load from other users of the machine hits both alike; the table reports
medians after a warm-up and the median ratio anynet / PyTorch over adjacent blocks.
Peak memory is the growth of the resident set over a few training steps, measured in a
fresh subprocess per system, model and optimizer.

Run it as a user's machine runs, without this workplace's OpenBLAS pins (see PERF-NOTES):

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python3 benchmarks/cpu_convnets.py   # all; results-cpu.md
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python3 benchmarks/cpu_convnets.py --quick --out /tmp/r.md
    ANYNET_BENCH_THREADS=1 python3 benchmarks/cpu_convnets.py --quick --out /tmp/r.md   # another thread count
    # NumPy's BLAS on one thread, anynet's conv chunks on the cores (results-cpu-chunks.md):
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE ANYNET_BENCH_BLAS_THREADS=1 python3 benchmarks/cpu_convnets.py \
        --models SimpleConvNet DeepConvNet LeNet5 AlexNet VGG --out benchmarks/results-cpu-chunks.md
"""

from __future__ import annotations

import os

# Thread counts for every BLAS/OpenMP pool, set before NumPy loads its BLAS (2 unless told otherwise).
# ANYNET_BENCH_BLAS_THREADS=1 runs NumPy's BLAS on one thread, where anynet spreads its conv chunks
# over the cores instead (anynet.backend._cpu_threads); PyTorch keeps ANYNET_BENCH_THREADS.
os.environ.update(dict.fromkeys(
    ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"),
    os.environ.get("ANYNET_BENCH_BLAS_THREADS", os.environ.get("ANYNET_BENCH_THREADS", "2"))))

import argparse
import datetime
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import _common as bench  # noqa: E402

THREADS = os.environ["OMP_NUM_THREADS"]
TORCH_THREADS = int(os.environ.get("ANYNET_BENCH_THREADS", "2"))
BATCH = 100
QUICK = ("MLP", "SimpleConvNet", "DeepConvNet", "TimeLSTM")
NOTE = """## Where the remaining gaps come from (2026-11-29)

One-thread profiles of every model beside PyTorch's are in `results-cpu-profile.md`
(`benchmarks/profile_cpu.py`: time in products, window copies, elementwise work and framework).
On one thread anynet runs MLP at 1.08x PyTorch, SimpleConvNet 1.03x, TimeGRU 1.11x, AlexNet
0.92x, TimeLSTM 0.81x, LeNet5 0.75x, VGG 0.63x and DeepConvNet 0.47x. The gaps there:

- **3x3 conv nets (DeepConvNet, VGG).** DeepConvNet: +24 ms in products (OpenBLAS sgemm on
  im2col columns, 77 ms, against oneDNN's direct convolutions, 52 ms) and +38 ms in window
  copies (building the columns: 47 ms against PyTorch's 9 ms of pooling and copies), +7 ms
  elementwise, +8 ms framework. VGG: +42 ms products, +69 ms windows. The products are skinny
  (16-64 filters), and the columns are 9x the input, copied at memory speed.
- **AlexNet** loses 32 ms in products but wins 37 ms in windows (PyTorch's 3x3 stride-2 max
  pool and LRN are slow), **LeNet5** loses 3 ms, most of it Python per layer call.
- **TimeLSTM**: +7 ms elementwise: the gate arithmetic on (100, 512) blocks, 28 steps x about
  35 array calls, where PyTorch runs one fused LSTM kernel per step.
- **On two threads** the gaps widen: PyTorch's convolutions, pooling and elementwise kernels
  use both cores, anynet's window copies and elementwise work use one, and OpenBLAS's own two
  threads run erratically on this 2-CPU virtual machine (DeepConvNet's anynet step took 106 ms
  in one process and 210 ms in the next; compare the SGD and Adam rows of one model). Where
  NumPy's BLAS runs one thread, anynet spreads the conv chunks over the cores as Python threads
  (`results-cpu-chunks.md`): DeepConvNet 0.41x in both rows, steadily; networks of small
  products (MLP, LSTM, the affine heads) run about 20% slower that way, so it is not the default.

What changed in this round (each measured in isolation, CPU time on one thread):
glibc's malloc keeps freed memory (`anynet/backend/_malloc.py`; the step's 2,000-4,000 page
faults gone: -13% CPU on DeepConvNet and SimpleConvNet, -29% on LeNet5); the stride-1 input
gradient as a transposed convolution only where it moves no more data than col2im (LeNet5's
second conv 29 -> 9 ms); a first conv's chunks counted without the dout columns it never
builds (SimpleConvNet -7%); BatchNorm keeps one activation, not two, and its backward two
temporaries (VGG's forward holds 86 MiB, was 119). Peak memory is now at or below PyTorch's
for every model in the default configuration (with conv chunk threads, two chunks' columns
are alive at once, and three models go over). This benchmark now measures the library's default value checks (at the
network's entry) and takes the median peak of three processes (PyTorch's VGG peak ranged
164-212 MiB over fresh processes).

Tried and dropped: one product for all time steps' weight gradients in the LSTM/GRU backward
(25.6 against 25.1 ms); 8 MiB column chunks (DeepConvNet's peak 79 -> 67 MiB, but 10-14%
slower on two BLAS threads); conv chunk threads beside OpenBLAS's two threads (slower: its
idle threads spin on the cores; with `OPENBLAS_THREAD_TIMEOUT=4` they recover, at a cost to
the LSTM); earlier, nine accumulated K=C products (implicit GEMM, 3-5x slower than one im2col
product in OpenBLAS) and a NumPy Winograd F(2x2,3x3) (its transforms cost more than the
products they save).

The book's own NumPy code is not run here: it is not part of this repository and the
benchmark downloads nothing. On these machines it was measured at about 0.18x PyTorch on
SimpleConvNet and 0.10x on DeepConvNet (its conv path runs in float64).
"""


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"{', '.join(QUICK)} only, fewer repeats")
    parser.add_argument("--models", nargs="+", choices=list(bench.MODELS), help="models to run")
    parser.add_argument("--optimizers", nargs="+", choices=list(bench.OPTIMIZERS), default=list(bench.OPTIMIZERS))
    parser.add_argument("--repeats", type=int, help="measured blocks per system (default 11, quick 5)")
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    parser.add_argument("--out", default=str(Path(__file__).with_name("results-cpu.md")), help="markdown table")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(TORCH_THREADS)
    names = args.models or (QUICK if args.quick else list(bench.MODELS))
    repeats = args.repeats or (5 if args.quick else 11)
    block_s = 0.3 if args.quick else 0.5
    from anynet.backend._cpu_threads import cpu_workers

    kernel = f"{bench.blas_kernel()}; anynet's conv chunks on {cpu_workers()} thread(s)"
    print(f"BLAS: {kernel}; OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}", flush=True)
    rows = []
    for name in names:
        for opt in args.optimizers:
            rate = bench.interleaved({"anynet": bench.anynet_stepper(name, opt, BATCH),
                                      "torch": bench.torch_stepper(name, opt, BATCH)}, repeats, block_s, BATCH)
            if args.no_memory:
                mem = {"anynet": float("nan"), "torch": float("nan")}
            else:
                mem = {s: bench.peak_memory(name, opt, s, BATCH) for s in ("anynet", "torch")}
            row = (name, opt, rate["anynet"], rate["torch"], rate["ratio"], mem["anynet"], mem["torch"])
            rows.append(row)
            print(f"{name:14s} {opt:5s} anynet {row[2]:8,.0f}/s  torch {row[3]:8,.0f}/s  ratio {row[4]:.2f}  "
                  f"peak MiB anynet {row[5]:.0f} torch {row[6]:.0f}", flush=True)
            write(args, argv, rows, repeats, block_s, kernel, done=len(rows) == len(names) * len(args.optimizers))


def write(args, argv, rows, repeats, block_s, kernel, done) -> None:
    """The markdown table so far (rewritten after every row, so an interrupted run leaves its rows)."""
    import torch

    blas = os.environ.get("ANYNET_BENCH_BLAS_THREADS")
    setting = f" ANYNET_BENCH_BLAS_THREADS={blas}" if blas else ""
    command = " ".join([f"env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE{setting} python3 benchmarks/cpu_convnets.py",
                        *(argv if argv is not None else sys.argv[1:])])
    lines = [
        "# CPU training throughput: anynet on NumPy vs PyTorch",
        "",
        f"{datetime.date.today().isoformat()}. `{command}` on {bench.cpu_model()} ({os.cpu_count()} CPUs, "
        f"shared), NumPy {np.__version__} ({kernel}), PyTorch {torch.__version__} on {TORCH_THREADS} threads, "
        f"batch {BATCH}, float32, 28x28 random inputs, 10 classes (recurrent models read the image row by "
        f"row: T=28, hidden 128). Median of {repeats} alternating blocks of about {block_s:g} s after a "
        "warm-up; the ratio is the median over pairs of adjacent blocks, which saw the same load on this "
        "shared machine. Peak memory: growth of the resident set over three steps in a fresh process "
        "(the median of three processes)."
        + ("" if done else " **The run stopped before the last rows.**"),
        "",
        "| model | optimizer | anynet samples/s | PyTorch samples/s | anynet / PyTorch "
        "| anynet peak MiB | PyTorch peak MiB |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    lines += [f"| {r[0]} | {r[1]} | {r[2]:,.0f} | {r[3]:,.0f} | {r[4]:.2f} | {r[5]:.0f} | {r[6]:.0f} |"
              for r in rows]
    lines += ["", "Raw figures: " + json.dumps([[r[0], r[1], round(r[2]), round(r[3])] for r in rows]), "", NOTE]
    Path(args.out).write_text("\n".join(lines))


if __name__ == "__main__":
    main()
