"""MultiHeadAttention forward + backward: anynet against PyTorch CPU.

Batch 32, length 128, width 256, 8 heads, float32, self-attention without a mask.
PyTorch runs ``torch.nn.MultiheadAttention(batch_first=True)`` (its fused
scaled_dot_product_attention path) with autograd; anynet runs its explicit
forward and backward on NumPy and on PyTorch tensors (``--devices``). Timing blocks
alternate between the systems in one process, so load from other users of the
machine hits them alike; the medians and the ratio anynet speed / PyTorch speed
(>= 1 means anynet is faster) are printed.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python3 benchmarks/attention.py
    ANYNET_BENCH_THREADS=1 python3 benchmarks/attention.py --repeats 5
"""

from __future__ import annotations

import os

# Thread counts for every BLAS/OpenMP pool, set before NumPy loads its BLAS (2 unless told otherwise).
os.environ.update(dict.fromkeys(("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"),
                                os.environ.get("ANYNET_BENCH_THREADS", "2")))

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import anynet  # noqa: E402
from benchmarks import _common as bench  # noqa: E402

THREADS = os.environ["OMP_NUM_THREADS"]
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="timing blocks per system")
    parser.add_argument("--calls", type=int, default=3, help="steps per block")
    parser.add_argument("--devices", default="cpu,torch:cpu", help="anynet devices, comma-separated")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(int(THREADS))
    systems = {"PyTorch": (torch_step(), lambda: None)}
    systems.update({f"anynet on {d}": (anynet_step(d), lambda: None) for d in args.devices.split(",")})
    # one interleaved loop (benchmarks/_common.py): blocks of --calls steps, rates in sequences/s
    block_s = 0.0  # with block_s 0 every block is one step; scale it to --calls steps below
    rates = bench.interleaved({k: (_repeat(step, args.calls), sync) for k, (step, sync) in systems.items()},
                              args.repeats, block_s, N * args.calls)
    print(f"MultiHeadAttention forward + backward, batch {N}, length {T}, width {D}, {HEADS} heads, "
          f"float32, {THREADS} threads; {bench.blas_kernel()}; median of {args.repeats} alternating blocks "
          f"of {args.calls} steps")
    for name in systems:
        ratio = 1.0 if name == "PyTorch" else rates[f"{name} / PyTorch"]
        print(f"  {name:>20}: {N / rates[name] * 1e3:8.1f} ms   ratio {ratio:.2f}x PyTorch's speed")


def _repeat(step, calls: int):
    def block():
        for _ in range(calls):
            step()

    return block

if __name__ == "__main__":
    main()
