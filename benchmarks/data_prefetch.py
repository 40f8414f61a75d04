"""Batches prepared ahead (``DataLoader(prefetch=2)``) against today's loader (``prefetch=0``): the
time per training step and the time each step waits for its batch.

SimpleConvNet (8 filters 5x5, 64 hidden) on 3x32x32 images read from ``.npy`` shards on disk
(``ArrayFiles``, a memory map) with an augmentation on the host (a random 32x32 crop of the image
padded by 4, a left-right flip, brightness, contrast and noise, in NumPy), so the host-side work of
a batch is significant: the gather from the memory map, the augmentation, the copy to the device
and the cast. Both loaders run the same steps in alternating passes of ``--steps`` steps (the order
of the two alternates too); each figure is the median over ``--repeats`` passes, the ratio the
median of the per-round ratios (adjacent passes saw the same load). The step is not synchronised
per step, so on a GPU the batch preparation can overlap the device's work; each pass ends with one
synchronisation. The step computes on one thread (BLAS and PyTorch held to one), leaving the
second core of a 2-core machine to the prefetch thread.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python3 benchmarks/data_prefetch.py --out benchmarks
    python3 benchmarks/data_prefetch.py --devices cuda torch:cuda --batch 256     # on a GPU machine

``measure`` is what ``benchmarks/gpu.py`` calls for its GPU rows.
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __name__ == "__main__":  # as a script: the step computes on one thread, the other core prefetches
    os.environ.update({k: os.environ.get(k, "1") for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                                           "MKL_NUM_THREADS")})

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import anynet  # noqa: E402
from anynet.data import ArrayFiles, DataLoader, write_shards  # noqa: E402
from anynet.training.step import TrainStep  # noqa: E402
from benchmarks import _common as bench  # noqa: E402

SHAPE = (3, 32, 32)


def host_augment(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random crop of each image padded by 4 pixels, a left-right flip of half of them, and a
    brightness and contrast jitter and pixel noise per image."""
    N, C, H, W = x.shape
    padded = np.pad(x, ((0, 0), (0, 0), (4, 4), (4, 4)))
    dy, dx = rng.integers(0, 9, (2, N))
    flip = rng.random(N) < 0.5
    out = np.empty_like(x)
    for i in range(N):
        img = padded[i, :, dy[i]:dy[i] + H, dx[i]:dx[i] + W]
        out[i] = img[..., ::-1] if flip[i] else img
    mean = out.mean(axis=(1, 2, 3), keepdims=True)
    contrast, brightness = rng.uniform(0.8, 1.2, (2, N, 1, 1, 1)).astype(np.float32)
    noise = rng.normal(0.0, 0.02, out.shape).astype(np.float32)
    return np.clip((out - mean) * contrast + mean * brightness + noise, 0.0, 1.0)


def make_files(folder: str | os.PathLike, n: int, seed: int = 0) -> ArrayFiles:
    """``n`` random images (3, 32, 32) with labels in [0, 10), written as shards of 1024."""
    rng = np.random.default_rng(seed)
    write_shards(rng.random((n, *SHAPE), dtype=np.float32), rng.integers(0, 10, n), folder, shard_size=1024)
    return ArrayFiles(folder)


def _pass(step: TrainStep, loader: DataLoader, dev: anynet.Device, steps: int) -> tuple[float, float]:
    """(seconds per step, seconds per step spent waiting for the batch) over ``steps`` steps."""
    it = iter(loader)
    waited = 0.0
    start = time.perf_counter()
    for _ in range(steps):
        t0 = time.perf_counter()
        xb, tb = next(it)
        waited += time.perf_counter() - t0
        step.run(xb, tb)
    dev.synchronize()
    took = time.perf_counter() - start
    it.close()  # stops the threads of a prefetching pass
    return took / steps, waited / steps


def measure(dev: Any, files: ArrayFiles, batch: int, steps: int, repeats: int, prefetch: int = 2) -> dict[str, Any]:
    """Step and wait times of the plain loader and of ``prefetch`` batches ahead on ``dev``."""
    dev = anynet.as_device(dev)
    anynet.seed(0)
    with anynet.device(dev):
        model = anynet.SimpleConvNet(SHAPE, 10, filter_num=8, filter_size=5, hidden_size=64)
    step = TrainStep(model, anynet.SoftmaxWithLoss(), anynet.SGD(lr=0.01))
    loaders = {p: DataLoader(files, batch, device=dev, host_transform=host_augment, prefetch=p) for p in (0, prefetch)}
    times: dict[int, list[tuple[float, float]]] = {p: [] for p in loaders}
    with anynet.device(dev):
        _pass(step, loaders[0], dev, 2)  # warm-up
        for r in range(repeats):
            for p in (list(loaders) if r % 2 == 0 else list(loaders)[::-1]):
                times[p].append(_pass(step, loaders[p], dev, steps))
    row: dict[str, Any] = {"device": dev.name, "batch": batch, "steps": steps, "prefetch": prefetch}
    for p, name in ((0, "plain"), (prefetch, "ahead")):
        row[f"{name}_step_ms"] = 1e3 * statistics.median(s for s, _ in times[p])
        row[f"{name}_wait_ms"] = 1e3 * statistics.median(w for _, w in times[p])
    row["speedup"] = statistics.median(a[0] / b[0] for a, b in zip(times[0], times[prefetch]))
    return row


def line(row: dict[str, Any]) -> str:
    """One Markdown table row of ``measure``'s result."""
    return (f"| {row['device']} | {row['batch']} | {row['plain_step_ms']:.1f} | {row['plain_wait_ms']:.1f} | "
            f"{row['ahead_step_ms']:.1f} | {row['ahead_wait_ms']:.1f} | {row['speedup']:.2f} |")


TABLE = ("| device | batch | step ms, plain | waits for data ms, plain | step ms, prefetch 2 | "
         "waits for data ms, prefetch 2 | plain / prefetch |", "|---|---:|---:|---:|---:|---:|---:|")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", nargs="+", default=["cpu", "torch:cpu"])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--samples", type=int, default=4096, help="images in the shards (4096: 50 MB)")
    parser.add_argument("--steps", type=int, default=24, help="steps per pass")
    parser.add_argument("--repeats", type=int, default=6, help="passes of each loader")
    parser.add_argument("--out", help="write results-data.md there")
    args = parser.parse_args(argv)
    lines: list[str] = []
    if "torch" in " ".join(args.devices):
        import torch

        torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        files = make_files(tmp, args.samples)
        for spec in args.devices:
            row = measure(spec, files, args.batch, args.steps, args.repeats)
            lines.append(line(row))
            print(lines[-1], flush=True)
    if args.out:
        load = os.getloadavg()[0]
        text = ["# Batches prepared ahead: SimpleConvNet on memory-mapped shards with host augmentation", "",
                f"{datetime.date.today().isoformat()}, `env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python3 "
                f"benchmarks/data_prefetch.py {' '.join(sys.argv[1:])}` on {bench.cpu_model()} "
                f"({os.cpu_count()} CPUs), **a loaded machine** (shared with other engineers' runs; load "
                f"average {load:.1f} at the end): the ms are indicative, the interleaved ratio is the figure to "
                f"read. Batch {args.batch}, {args.steps} steps a pass, median of {args.repeats} passes of each "
                "loader, alternating.", "", *TABLE, *lines, ""]
        Path(args.out, "results-data.md").write_text("\n".join(text))


if __name__ == "__main__":
    main()
