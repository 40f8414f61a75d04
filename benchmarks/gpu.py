"""GPU training throughput and CPU/GPU agreement: anynet on CuPy against PyTorch eager on CUDA.

For each model (MLP 784-100-100-10, SimpleConvNet, DeepConvNet) and batch size, both
systems train the same architecture with plain SGD on Fashion-MNIST-shaped random data
kept on the device; blocks of steps alternate between the systems, each block ends with a
device synchronisation, and the table gives medians and the median ratio of adjacent
blocks. Then the same seed is trained on NumPy and on the device for a few hundred steps
with the same batches, and the largest differences of initial weights, losses and final
weights are reported.

    python3 benchmarks/gpu.py --out benchmarks            # on a GPU machine (ci/gpu.sh runs it)
    python3 benchmarks/gpu.py --device cpu --peer cpu --batches 100 --quick   # a dry run on the CPU
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import anynet  # noqa: E402
from benchmarks import _common as bench  # noqa: E402

GPU_MODELS = ("MLP", "SimpleConvNet", "DeepConvNet")


def throughput(name: str, batch: int, dev: anynet.Device, peer: str, repeats: int, block_s: float):
    """anynet on ``dev`` (no debug value checks, as in a GPU training step) against PyTorch on ``peer``."""
    systems = {"anynet": bench.anynet_stepper(name, "SGD", batch, dev, checks=False),
               "torch": bench.torch_stepper(name, "SGD", batch, peer)}
    r = bench.interleaved(systems, repeats, block_s, batch, warmup=3)
    return r["anynet"], r["torch"], r["ratio"]


def agreement(name: str, dev: anynet.Device, steps: int, batch: int = 100) -> dict[str, float]:
    """Largest differences between a NumPy run and a run on ``dev`` from the same seed."""
    make, shape = bench.MODELS[name]
    runs = []
    for where in (anynet.as_device("cpu"), dev):
        anynet.seed(0)
        with anynet.device(where):
            net = make()
        first = [anynet.to_numpy(p.data).copy() for p in net.params]
        loss, opt = anynet.SoftmaxWithLoss(), anynet.SGD(lr=0.01)
        x, t = bench.data(shape)
        rng, losses = np.random.default_rng(1), []
        for _ in range(steps):
            idx = rng.integers(0, bench.POOL, batch)
            with anynet.debug(False):
                y = net.forward(anynet.to_device(x[idx], where), train=True)
                losses.append(loss.forward(y, anynet.to_device(t[idx], where)))
                net.backward(loss.backward())
                opt.update(net.params)
        runs.append((first, np.array([float(v) for v in losses]), [anynet.to_numpy(p.data) for p in net.params]))
    (w0a, la, wa), (w0b, lb, wb) = runs
    return {
        "initial": max(float(np.max(np.abs(a - b))) for a, b in zip(w0a, w0b)),
        "loss": float(np.max(np.abs(la - lb))),
        "final": max(float(np.max(np.abs(a - b))) for a, b in zip(wa, wb)),
    }


def device_name(dev: anynet.Device) -> str:
    if dev.library == "cupy":
        import cupy

        props = cupy.cuda.runtime.getDeviceProperties(dev.device.id)
        return props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])
    return dev.name


def pin_tf32(on: bool) -> None:
    """TF32 the same way on both sides: PyTorch's cuDNN convolutions allow it by default, CuPy's
    GEMMs only with CUPY_TF32=1 (read at every call)."""
    import torch

    torch.backends.cuda.matmul.allow_tf32 = on
    torch.backends.cudnn.allow_tf32 = on
    os.environ["CUPY_TF32"] = "1" if on else "0"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="anynet's device (default cuda: CuPy)")
    parser.add_argument("--peer", default="cuda", help="PyTorch's device (default cuda)")
    parser.add_argument("--models", nargs="+", choices=GPU_MODELS, default=list(GPU_MODELS))
    parser.add_argument("--batches", nargs="+", type=int, default=[100, 1024])
    parser.add_argument("--agree-steps", type=int, default=300)
    parser.add_argument("--quick", action="store_true", help="fewer, shorter blocks")
    parser.add_argument("--tf32", action="store_true", help="allow TF32 on both sides (default: float32 on both)")
    parser.add_argument("--out", default=str(Path(__file__).parent), help="folder for results-gpu.md/.json")
    args = parser.parse_args(argv)
    import torch

    pin_tf32(args.tf32)

    dev = anynet.as_device(args.device)
    repeats, block_s = (5, 0.2) if args.quick else (11, 0.5)
    rows = []
    for name in args.models:
        for batch in args.batches:
            a, b, ratio = throughput(name, batch, dev, args.peer, repeats, block_s)
            rows.append({"model": name, "batch": batch, "anynet": a, "torch": b, "ratio": ratio})
            print(f"{name:14s} batch {batch:5d}  anynet {a:10,.0f}/s  torch {b:10,.0f}/s  ratio {ratio:.2f}",
                  flush=True)
    agree = {}
    for name in ("MLP", "SimpleConvNet"):
        if name in args.models:
            agree[name] = agreement(name, dev, args.agree_steps)
            print(f"{name:14s} NumPy vs {dev.name}: {agree[name]}", flush=True)
    gpu, today = device_name(dev), datetime.date.today().isoformat()
    lines = [
        f"# Training throughput on {gpu}: anynet on {dev.name} vs PyTorch eager on {args.peer}",
        "",
        f"{today}. `python3 benchmarks/gpu.py` with PyTorch {torch.__version__}; float32 "
        f"(TF32 {'allowed' if args.tf32 else 'off'} on both sides), SGD, "
        f"random Fashion-MNIST-shaped data kept on the device; median of {repeats} alternating blocks "
        f"of about {block_s:g} s after a warm-up, each ending in a device synchronisation.",
        "",
        "| model | batch | anynet samples/s | PyTorch samples/s | anynet / PyTorch |",
        "|---|---:|---:|---:|---:|",
        *(f"| {r['model']} | {r['batch']} | {r['anynet']:,.0f} | {r['torch']:,.0f} | {r['ratio']:.2f} |" for r in rows),
        "",
        f"Same seed on NumPy and on {dev.name}, {args.agree_steps} SGD steps of batch 100 "
        "(largest absolute differences):",
        "",
        "| model | initial weights | loss per step | final weights |",
        "|---|---:|---:|---:|",
        *(f"| {m} | {d['initial']:.2e} | {d['loss']:.2e} | {d['final']:.2e} |" for m, d in agree.items()),
    ]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results-gpu.md").write_text("\n".join(lines) + "\n")
    (out / "results-gpu.json").write_text(json.dumps({"device": gpu, "date": today, "tf32": args.tf32, "rows": rows,
                                                      "agreement": agree}))


if __name__ == "__main__":
    main()
