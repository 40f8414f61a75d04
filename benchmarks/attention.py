"""MultiHeadAttention forward + backward: anynet against PyTorch CPU.

Batch 32, length 128, width 256, 8 heads, float32, self-attention without a mask.
PyTorch runs ``torch.nn.MultiheadAttention(batch_first=True)`` (its fused
scaled_dot_product_attention path) with autograd; anynet runs its explicit
forward and backward on NumPy and on PyTorch tensors (``--devices``). Timing blocks
alternate between the systems in one process, so load from other users of the
machine hits them alike; the medians and the ratio anynet speed / PyTorch speed
(>= 1 means anynet is faster) are printed.

    python3 benchmarks/attention.py
    ANYNET_BENCH_THREADS=1 python3 benchmarks/attention.py --repeats 5
"""

from __future__ import annotations

import os

THREADS = os.environ.get("ANYNET_BENCH_THREADS", "2")  # 2 unless told otherwise
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = THREADS  # before NumPy loads its BLAS

import argparse  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import anynet  # noqa: E402

N, T, D, HEADS = 32, 128, 256, 8


def anynet_step(device: str):
    """One forward + backward of anynet's MultiHeadAttention on ``device``."""
    rng = np.random.default_rng(0)
    with anynet.device(device) as dev:
        layer = anynet.MultiHeadAttention(D, HEADS)
        x = dev.from_numpy(rng.standard_normal((N, T, D)).astype(np.float32))
        dout = dev.from_numpy(rng.standard_normal((N, T, D)).astype(np.float32))

    def step():
        layer.forward(x, train=True)
        dx = layer.backward(dout)
        anynet.device_of(dx).synchronize()

    return step


def torch_step():
    import torch

    torch.manual_seed(0)
    layer = torch.nn.MultiheadAttention(D, HEADS, batch_first=True)
    x = torch.randn(N, T, D, requires_grad=True)
    dout = torch.randn(N, T, D)

    def step():
        for p in (*layer.parameters(), x):
            p.grad = None
        y, _ = layer(x, x, x, need_weights=False)
        y.backward(dout)

    return step


def seconds(step, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        step()
    return (time.perf_counter() - start) / calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="timing blocks per system")
    parser.add_argument("--calls", type=int, default=3, help="steps per block")
    parser.add_argument("--devices", default="cpu,torch:cpu", help="anynet devices, comma-separated")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(int(THREADS))
    systems = {"PyTorch": torch_step()}
    systems.update({f"anynet on {d}": anynet_step(d) for d in args.devices.split(",")})
    for step in systems.values():  # warm-up: allocations, BLAS threads, first-call paths
        seconds(step, 2)
    times: dict[str, list[float]] = {name: [] for name in systems}
    for _ in range(args.repeats):
        for name, step in systems.items():
            times[name].append(seconds(step, args.calls))
    print(f"MultiHeadAttention forward + backward, batch {N}, length {T}, width {D}, {HEADS} heads, "
          f"float32, {THREADS} threads; median of {args.repeats} blocks of {args.calls} steps")
    reference = statistics.median(times["PyTorch"])
    for name, values in times.items():
        median = statistics.median(values)
        print(f"  {name:>20}: {median * 1e3:8.1f} ms   ratio {reference / median:.2f}x PyTorch's speed")


if __name__ == "__main__":
    main()
