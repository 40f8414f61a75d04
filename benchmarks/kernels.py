"""The kernels' speed: anynet with each library's own convolution and pooling against PyTorch's nn
modules, and against anynet's array-API reference (``anynet.kernels.reference()``).

Three groups, each interleaved in one process (blocks of steps alternate between the systems, so
load from other users of the machine hits all alike; the ratios are medians over adjacent blocks):

- ``torch``: anynet's training step on ``torch:cpu`` tensors against PyTorch eager (the same
  architecture, ``benchmarks._common.torch_twin``), for SimpleConvNet, DeepConvNet, LeNet5, AlexNet
  and VGG; with the fast kernels (PyTorch's own) and under ``reference()`` (im2col in array-API code);
- ``jax``: anynet's compiled step (``jax.jit``) on ``jax:cpu`` against PyTorch eager, DeepConvNet,
  with the fast kernels (``lax.conv_general_dilated``) and traced under ``reference()``;
- ``numpy``: anynet on NumPy with the fast im2col against ``reference()``, DeepConvNet and SimpleConvNet.

SGD, batch 100, float32, random 28x28 inputs, 2 threads (BLAS and PyTorch). Run it as a user's
machine runs, without this workplace's OpenBLAS pins:

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python3 benchmarks/kernels.py            # results-kernels.md
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python3 benchmarks/kernels.py --quick --out /tmp/k.md
"""

from __future__ import annotations

import os

os.environ.update(dict.fromkeys(("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"),
                                os.environ.get("ANYNET_BENCH_THREADS", "2")))  # before NumPy loads its BLAS

import argparse  # noqa: E402
import datetime  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import anynet  # noqa: E402
from benchmarks import _common as bench  # noqa: E402

THREADS = int(os.environ["OMP_NUM_THREADS"])
BATCH = 100
TORCH_MODELS = ("SimpleConvNet", "DeepConvNet", "LeNet5", "AlexNet", "VGG")
QUICK_TORCH = ("SimpleConvNet", "DeepConvNet")


def under_reference(stepper: tuple[bench.Step, bench.Step]) -> tuple[bench.Step, bench.Step]:
    """The same step run inside ``anynet.kernels.reference()`` (a compiled step is traced there)."""
    step, sync = stepper

    def run():
        with anynet.kernels.reference():
            step()

    return run, sync


def compiled_jax_stepper(name: str) -> tuple[bench.Step, bench.Step]:
    """anynet's compiled training step of ``name`` on ``jax:cpu`` (SGD), and a sync that waits for it."""
    make, shape = bench.MODELS[name]
    dev = anynet.as_device("jax:cpu")
    anynet.seed(0)
    with anynet.device(dev):
        net = make()
    step = anynet.compile_step(net, anynet.SoftmaxWithLoss(), bench.OPTIMIZERS["SGD"][0]())
    x, t = (anynet.to_device(a, dev) for a in bench.data(shape))
    rng, last = np.random.default_rng(1), []

    def run():
        idx = anynet.to_device(rng.integers(0, bench.POOL, BATCH), dev)
        with anynet.device(dev), anynet.debug(False):
            last[:] = [step.run(dev.xp.take(x, idx, axis=0), dev.xp.take(t, idx, axis=0))[0]]

    return run, lambda: last and last[0].block_until_ready()


def groups(quick: bool) -> list[tuple[str, str, dict[str, tuple[bench.Step, bench.Step]]]]:
    """(group, model, systems) in the order they run; the first system is the one each ratio is of."""
    out = []
    for name in QUICK_TORCH if quick else TORCH_MODELS:
        fast = bench.anynet_stepper(name, "SGD", BATCH, "torch:cpu")
        systems = {"anynet": fast, "PyTorch": bench.torch_stepper(name, "SGD", BATCH)}
        if not quick:
            systems["anynet reference()"] = under_reference(bench.anynet_stepper(name, "SGD", BATCH, "torch:cpu"))
        out.append(("torch:cpu", name, systems))
    out.append(("jax:cpu compiled", "DeepConvNet", {
        "anynet": compiled_jax_stepper("DeepConvNet"), "PyTorch": bench.torch_stepper("DeepConvNet", "SGD", BATCH),
        "anynet reference()": under_reference(compiled_jax_stepper("DeepConvNet"))}))
    for name in ("DeepConvNet",) if quick else ("DeepConvNet", "SimpleConvNet"):
        out.append(("numpy", name, {"anynet": bench.anynet_stepper(name, "SGD", BATCH),
                                    "anynet reference()": under_reference(bench.anynet_stepper(name, "SGD", BATCH))}))
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer models and repeats (about 3 minutes)")
    parser.add_argument("--repeats", type=int, help="measured blocks per system (default 7, quick 3)")
    parser.add_argument("--out", default=str(Path(__file__).with_name("results-kernels.md")), help="markdown table")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(THREADS)
    repeats = args.repeats or (3 if args.quick else 7)
    block_s = 0.3 if args.quick else 0.5
    rows = []
    for group, name, systems in groups(args.quick):
        rate = bench.interleaved(systems, repeats, block_s, BATCH)
        first, others = next(iter(systems)), list(systems)[1:]
        row = (group, name, {s: rate[s] for s in systems}, {s: 1 / rate[f"{s} / {first}"] for s in others})
        rows.append(row)
        print(f"{group:17s} {name:14s} " + "  ".join(f"{s} {v:,.0f}/s" for s, v in row[2].items())
              + "  " + "  ".join(f"anynet / {s} {v:.2f}" for s, v in row[3].items()), flush=True)
        write(args, argv, rows, repeats, block_s)


def write(args, argv, rows, repeats, block_s) -> None:
    """The markdown table so far (rewritten after every row, so an interrupted run leaves its rows)."""
    import jax
    import torch

    command = " ".join(["env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python3 benchmarks/kernels.py",
                        *(argv if argv is not None else sys.argv[1:])])
    lines = [
        "# Kernels: anynet with each library's own convolution, against PyTorch and the reference",
        "",
        f"{datetime.date.today().isoformat()}. `{command}` on {bench.cpu_model()} ({os.cpu_count()} CPUs). "
        f"One-minute load average when this table was written: {os.getloadavg()[0]:.2f} (another user's load "
        "slows all systems alike within a round: the ratios, of blocks adjacent in time, are what count). "
        f"NumPy {np.__version__} ({bench.blas_kernel()}), PyTorch {torch.__version__} and JAX {jax.__version__} "
        f"on {THREADS} threads, SGD, batch {BATCH}, float32, 28x28 random inputs. Median of {repeats} alternating "
        f"blocks of about {block_s:g} s after a warm-up. `anynet / X` is the median over rounds of anynet's rate "
        "over X's (above 1: anynet faster).",
        "",
        "| arrays | model | anynet samples/s | PyTorch samples/s | anynet / PyTorch "
        "| anynet reference() samples/s | fast / reference() |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for group, name, rate, ratio in rows:
        cells = [f"{rate[s]:,.0f}" if s in rate else "-" for s in ("anynet", "PyTorch")]
        cells.append(f"{ratio['PyTorch']:.2f}" if "PyTorch" in ratio else "-")
        cells.append(f"{rate['anynet reference()']:,.0f}" if "anynet reference()" in rate else "-")
        cells.append(f"{ratio['anynet reference()']:.2f}" if "anynet reference()" in ratio else "-")
        lines.append(f"| {group} | {name} | " + " | ".join(cells) + " |")
    Path(args.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
