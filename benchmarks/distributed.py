"""Data parallelism on this machine: training throughput on 1 and 2 processes, and the cost of
anynet's gradient all-reduce against MPI's own Allreduce on a raw buffer of the same size.

Throughput: the Trainer on random Fashion-MNIST-shaped data, the same global batch (100) on
1 process and on 2 (50 each), 1 BLAS thread per process, SGD; samples/s of the timed epochs
after a warm-up epoch, median of the repeats. The speed-up is 2-process / 1-process.

All-reduce: for each zoo model, its gradients (one array per parameter) summed by
``GradientAllReduce`` as the Trainer runs it (copy into the kept flat buffer, sum, split into
views; the weighting rides on backward's seed), and the all-reduce of a flat buffer alone,
against ``comm.Allreduce(IN_PLACE, buf)`` on one
NumPy buffer of the same number of float32 values; the two alternate, median per model over
many calls, on 2 processes.

    python3 benchmarks/distributed.py                 # writes benchmarks/results-distributed.md
    python3 benchmarks/distributed.py --quick --out /tmp/r.md
    python3 benchmarks/distributed.py --estimate      # the paper estimate for 8 and 64 GPUs (README)
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"  # before NumPy loads its BLAS: 1 thread per process

import argparse  # noqa: E402 - after the thread count is set
import json  # noqa: E402 - after the thread count is set
import platform  # noqa: E402 - after the thread count is set
import statistics  # noqa: E402 - after the thread count is set
import subprocess  # noqa: E402 - after the thread count is set
import sys  # noqa: E402 - after the thread count is set
import time  # noqa: E402 - after the thread count is set
from pathlib import Path  # noqa: E402 - after the thread count is set

import numpy as np  # noqa: E402 - after the thread count is set

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
import anynet  # noqa: E402
from anynet.training import parallel  # noqa: E402
from benchmarks._common import MODELS as ZOO  # noqa: E402

GLOBAL_BATCH = 100
MODELS = {name: ZOO[name] for name in ("MLP", "SimpleConvNet", "LeNet5", "DeepConvNet", "AlexNet", "VGG")}
THROUGHPUT = {"SimpleConvNet": 1000, "DeepConvNet": 300}  # samples per timed epoch


def throughput(group: parallel.Group, name: str, samples: int, repeats: int) -> list[float]:
    """samples/s of each timed epoch (rank 0's clock; the epoch ends with a reduction, so every
    rank has finished it)."""
    build, shape = MODELS[name]
    anynet.seed(0)
    rng = np.random.default_rng(0)
    x, t = rng.standard_normal((samples, *shape)).astype(np.float32), rng.integers(0, 10, samples)
    trainer = anynet.Trainer(build(), anynet.SoftmaxWithLoss(), anynet.SGD(lr=0.01), verbose=0, group=group)
    trainer.fit((x, t), epochs=1 + repeats, batch_size=GLOBAL_BATCH // group.size)
    return [samples / s for s in trainer.history["time"][1:]]


def allreduce(group: parallel.Group, calls: int) -> dict[str, dict[str, float]]:
    """Median seconds per call, per model: the whole GradientAllReduce step (gather into the
    flat buffer, all-reduce, views back), the all-reduce of the flat buffer alone
    (``Group.allreduce_sum``, what remains where the optimizer's flat buffer gathers the
    gradients anyway), and raw ``Allreduce`` of a NumPy buffer of as many float32."""
    from mpi4py import MPI

    out = {}
    for name, (build, _) in MODELS.items():
        runs, size = _contenders(group, build().params, MPI)
        times: dict[str, list[float]] = {k: [] for k in runs}
        for i in range(calls + 5):
            for key, run in runs.items():  # interleaved: the three see the same load
                group.comm.Barrier()
                start = time.perf_counter()
                run()
                if i >= 5:
                    times[key].append(time.perf_counter() - start)
        out[name] = {"floats": size, **{k: statistics.median(v) for k, v in times.items()}}
    return out


def _contenders(group: parallel.Group, params: list, MPI) -> tuple[dict, int]:
    grads = [p.data * 0.5 for p in params]
    raw = np.ones(sum(int(g.size) for g in grads), np.float32)
    flat = anynet.as_device("cpu").from_numpy(raw.copy())
    # as the Trainer runs it: backward seeded with the rank's share, so no weight pass here
    transform = parallel.GradientAllReduce(group, weight=1.0)
    return {"step": lambda: transform(params, grads), "buffer": lambda: group.allreduce_sum(flat),
            "raw": lambda: group.comm.Allreduce(MPI.IN_PLACE, raw, op=MPI.SUM)}, int(raw.size)


# The paper estimate: ring all-reduce of n float32 over p GPUs takes 2(p-1) steps, each one
# latency ALPHA and n/p values over a link of bandwidth BETA:
#     T_ring = 2 (p - 1) ALPHA + 2 (p - 1) / p * 4 n / BETA
# compute per step = 3 x forward FLOPs x batch / RATE (backward ~ twice forward) + FLOOR (the eager
# step's kernel launches and Python, anynet's cost at small batches). Assumptions, to be replaced by
# measurements (benchmarks/gpu.py for compute, nccl-tests for ALPHA and BETA):
LINKS = {8: ("one node, NVLink", 7e-6, 150e9), 64: ("8 nodes x 8, 400 Gb/s InfiniBand per GPU", 10e-6, 40e9)}
RATE = 10e12  # achieved float32 FLOP/s of im2col + cuBLAS on an H100-class GPU (~20% of peak)
FLOOR = 1e-3  # s per eager training step, launch- and Python-bound
BATCH_PER_GPU = 100


def forward_flops(model, shape) -> float:
    """Multiply-adds x 2 of the Conv and Affine layers for one sample."""
    x, flops = np.zeros((1, *shape), np.float32), 0.0
    for layer in model.layers:
        y = layer.forward(x, train=False)
        if isinstance(layer, anynet.Conv):
            FN, C, FH, FW = layer.W.data.shape
            flops += 2.0 * FN * C * FH * FW * y.shape[2] * y.shape[3]
        elif isinstance(layer, anynet.Affine):
            flops += 2.0 * layer.W.data.shape[0] * layer.W.data.shape[1]
        x = y
    return flops


def estimate() -> str:
    lines = ["| model | gradient floats | compute/step (ms) | " + " | ".join(
        f"all-reduce {p} GPUs (ms) | step {p} GPUs (ms) | comm share {p}" for p in LINKS) + " |",
        "|---|---:|---:|" + "---:|---:|---:|" * len(LINKS)]
    for name, (build, shape) in MODELS.items():
        model = build()
        n = sum(int(p.data.size) for p in model.params)
        compute = 3 * forward_flops(model, shape) * BATCH_PER_GPU / RATE + FLOOR
        cells = []
        for p, (_, alpha, beta) in LINKS.items():
            ring = 2 * (p - 1) * alpha + 2 * (p - 1) / p * 4 * n / beta
            cells += [f"{ring * 1e3:.3f}", f"{(compute + ring) * 1e3:.2f}", f"{ring / (compute + ring):.0%}"]
        lines.append(f"| {name} | {n:,} | {compute * 1e3:.2f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def worker(args: argparse.Namespace) -> None:
    group = parallel.init()
    result: dict = {"size": group.size}
    if args.worker == "throughput":
        result["samples_per_s"] = {name: throughput(group, name, n // (3 if args.quick else 1), args.repeats)
                                   for name, n in THROUGHPUT.items()}
    else:
        result["allreduce"] = allreduce(group, args.calls)
    if group.is_root:
        Path(args.json).write_text(json.dumps(result))


def launch(n: int, what: str, args: argparse.Namespace, json_path: str) -> dict:
    mpiexec = parallel.find_mpiexec()
    if mpiexec is None:
        sys.exit("benchmarks/distributed.py: no mpiexec; pip install 'anynet[mpi]'")
    cmd = [mpiexec, "-n", str(n), sys.executable, __file__, "--worker", what, "--json", json_path,
           "--repeats", str(args.repeats), "--calls", str(args.calls), *(["--quick"] if args.quick else [])]
    subprocess.run(cmd, check=True, env={**os.environ, "JAX_PLATFORMS": "cpu"})
    return json.loads(Path(json_path).read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a third of the samples, fewer repeats")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results-distributed.md"))
    parser.add_argument("--worker", choices=["throughput", "allreduce"], help=argparse.SUPPRESS)
    parser.add_argument("--json", help=argparse.SUPPRESS)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--estimate", action="store_true", help="print the paper estimate for 8 and 64 GPUs")
    args = parser.parse_args()
    if args.estimate:
        return print(estimate())
    if args.worker:
        return worker(args)
    if args.quick:
        args.repeats, args.calls = 2, 50
    tmp = Path(args.out).with_suffix(".json.tmp")
    one = launch(1, "throughput", args, str(tmp))["samples_per_s"]
    two = launch(2, "throughput", args, str(tmp))["samples_per_s"]
    reduce = launch(2, "allreduce", args, str(tmp))["allreduce"]
    tmp.unlink()
    load = os.getloadavg()
    lines = [
        "# Data parallelism on the CPU (benchmarks/distributed.py)", "",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, NumPy {np.__version__}, MPI: mpi4py with "
        f"{_mpi_version()}. Load average at the end {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}: the "
        "machine is shared with other users, so the figures move with their work.", "",
        f"## Training throughput, global batch {GLOBAL_BATCH}, 1 BLAS thread per process", "",
        "| model | 1 process (samples/s) | 2 processes (samples/s) | speed-up |", "|---|---:|---:|---:|",
    ]
    for name in one:
        a, b = statistics.median(one[name]), statistics.median(two[name])
        lines.append(f"| {name} | {a:,.0f} | {b:,.0f} | {b / a:.2f}x |")
    lines += ["", "## Gradient all-reduce on 2 processes, against raw `Allreduce` of as many float32", "",
              "step: `GradientAllReduce` as the Trainer runs it (gather into its flat buffer, all-reduce, "
              "views back); buffer: the all-reduce of a flat gradient buffer alone (`Group.allreduce_sum`).", "",
              "| model | float32 values | step (ms) | buffer (ms) | raw Allreduce (ms) | step overhead | "
              "buffer overhead |", "|---|---:|---:|---:|---:|---:|---:|"]
    for name, r in reduce.items():
        lines.append(f"| {name} | {r['floats']:,} | {r['step'] * 1e3:.3f} | {r['buffer'] * 1e3:.3f} | "
                     f"{r['raw'] * 1e3:.3f} | {r['step'] / r['raw'] - 1:+.0%} | {r['buffer'] / r['raw'] - 1:+.0%} |")
    text = "\n".join(lines) + "\n"
    Path(args.out).write_text(text)
    print(text)


def _mpi_version() -> str:
    from mpi4py import MPI

    return MPI.Get_library_version().splitlines()[0].strip()


if __name__ == "__main__":
    main()
