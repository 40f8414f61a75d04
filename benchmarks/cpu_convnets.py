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
NOTE = """## Where the remaining gaps come from (profiles of 2026-11-29, one thread, CPU time)

- **Conv nets (DeepConvNet, VGG, AlexNet, LeNet5).** A DeepConvNet step is about 55% OpenBLAS
  sgemm, 25% building im2col columns (`xp.stack` of strided views), 5% padding, 15% pooling,
  ReLU and the rest. OpenBLAS runs the conv products at 40-75 GFLOP/s per core: they are
  skinny (16-64 rows of filters), and at 16 channels a 45 MB column matrix is streamed from
  memory. PyTorch's oneDNN convolution builds no column matrix and runs near the core's peak
  (16->16 channels at 28x28, batch 100: forward and backward 7.5 ms against about 20 ms here),
  so its products alone outrun anynet's. Won so far: the stride-1 input gradient as a
  convolution of dout (a gather and one product instead of a K=FN product and col2im's
  overlapping scatter-adds: -13% of conv time), columns in cache-sized batch chunks that the
  allocator reuses (a fresh 45 MB array costs more in page faults than its copy: -7%), small
  layers keep forward's columns. Tried and dropped: nine accumulated K=C products (implicit
  GEMM) run 3-5x slower than one im2col product in OpenBLAS at these channel counts; a NumPy
  Winograd F(2x2,3x3) spends more on its transforms than it saves (PERF-NOTES).
- **Optimizer step.** Elementwise optimizers step all parameters as one flat buffer, in place
  for SGD, Momentum, Nesterov, Adam and AdamW (no temporaries: each fresh array over 128 KB
  costs page faults on this machine); Adam's step on DeepConvNet went from 0.41 to 0.28 ms.
  It is a small part of every step here; the Adam/SGD gap follows the model, not the update.
- **TimeLSTM / TimeGRU.** About 28 steps x 35 array calls on (100, 128) blocks: the cost is the
  number of calls and their temporaries, not arithmetic. All steps' input projections are one
  product and a step's gates one tanh-form sigmoid call (forward -25%); the backward is per step.
- **Noise.** On this shared 2-core machine absolute rates varied up to 10x within the run (load
  average above 10 from other users); only the ratios of adjacent blocks are comparable.

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

    command = " ".join(["env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python3 benchmarks/cpu_convnets.py",
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
