"""Training-step time on the CPU with PyTorch: bfloat16 mixed precision (and float16) against
float32, for anynet's MLP and SimpleConvNet.

Each step is a whole anynet training step as the Trainer runs it (forward, float32 loss,
backward, unscaling into float32 master weights, SGD update, the bfloat16 copy of the weights)
on random Fashion-MNIST-shaped data, batch 100, 2 threads. Blocks of steps alternate between the
precisions in one process, so the load of other users of a shared machine hits all alike; the
table reports the median milliseconds per step over the blocks and the ratio to float32.
Little gain is expected on a CPU: without bfloat16 matrix units the library converts to float32
inside its kernels, and mixed precision adds the casts of the weights and gradients.

    python3 benchmarks/precision.py            # prints a Markdown table
    python3 benchmarks/precision.py --quick    # fewer blocks
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

THREADS = os.environ.get("ANYNET_BENCH_THREADS", "2")
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = THREADS  # before the libraries load their thread pools

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import anynet  # noqa: E402
from benchmarks._common import MODELS as ZOO  # noqa: E402

BATCH = 100
MODELS = {name: ZOO[name] for name in ("MLP", "SimpleConvNet")}
PRECISIONS = ("float32", "bfloat16", "float16")


def stepper(name: str, precision: str):
    """A function running one training step of model ``name`` in ``precision`` on torch:cpu, as
    the Trainer runs it (the same step and plug-ins)."""
    anynet.seed(0)
    make, shape = MODELS[name]
    with anynet.device("torch:cpu") as dev:
        model = make()
        trainer = anynet.Trainer(model, anynet.SoftmaxWithLoss(), anynet.SGD(0.01), verbose=0, precision=precision)
        trainer.precision.prepare(model, trainer.optimizer)
    step = anynet.training.TrainStep(model, trainer.loss, trainer.optimizer, plugins=trainer.plugins)
    rng = np.random.default_rng(0)
    x = dev.xp.astype(dev.from_numpy(rng.random((BATCH, *shape), dtype=np.float32)),
                      dev.float_dtype(trainer.precision.compute))
    t = dev.from_numpy(rng.integers(0, 10, BATCH))

    def run():
        with anynet.device(dev):
            step(x, t)

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(int(THREADS))
    blocks, steps = (3, 5) if args.quick else (7, 10)
    print(f"torch {torch.__version__}, {platform.processor() or platform.machine()}, {THREADS} threads, "
          f"batch {BATCH}, {blocks} blocks of {steps} steps; a shared machine (other users' load varies)\n")
    print("| model | " + " | ".join(f"{p} ms/step" for p in PRECISIONS) + " | bfloat16 / float32 | float16 / float32 |")
    print("|---|" + "---|" * (len(PRECISIONS) + 2))
    for name in MODELS:
        steps_of = {p: stepper(name, p) for p in PRECISIONS}
        for step in steps_of.values():
            step()  # warm-up
        times: dict[str, list[float]] = {p: [] for p in PRECISIONS}
        for _ in range(blocks):
            for p, step in steps_of.items():
                start = time.perf_counter()
                for _ in range(steps):
                    step()
                times[p].append((time.perf_counter() - start) / steps * 1e3)
        med = {p: statistics.median(v) for p, v in times.items()}
        cells = " | ".join(f"{med[p]:.1f}" for p in PRECISIONS)
        print(f"| {name} | {cells} | {med['bfloat16'] / med['float32']:.2f} | {med['float16'] / med['float32']:.2f} |",
              flush=True)


if __name__ == "__main__":
    main()
