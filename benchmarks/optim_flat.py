"""The optimizers' flat step: the generic runner of each rule against its hand-written in-place step.

On a FlatBuffer (the parameters of an MLP laid end to end, float32) every optimizer that has a
registered in-place step (``anynet.optim.base.in_place_steps()``) steps the same gradient both
ways: ``run_rule_flat`` (the rule's new arrays written back into the buffer) and the in-place
step (no temporary arrays). Blocks of steps alternate between the two in one process, so the
load of other users of a shared machine hits both alike; the table gives the median ms per step
of each and the median over adjacent blocks of generic / in-place. For scale, it also times a
whole training step of each MLP (batch 100, Adam, as the library runs it) and gives the share of
it that Adam's in-place step saves. Where the device supplies a fused update for the optimizer
(``anynet.kernels.fused_update``: PyTorch's fused SGD, Adam and AdamW on torch:cpu), a third path
steps a third buffer with it in the same alternating blocks, and the table adds in-place / fused.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python3 benchmarks/optim_flat.py
    python3 benchmarks/optim_flat.py --quick      # the small MLP only, fewer steps; prints, writes nothing
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

THREADS = "1"  # elementwise work on one core: the machine is shared, and NumPy's is single-threaded anyway
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = THREADS  # before NumPy loads its BLAS

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import anynet  # noqa: E402
from anynet.kernels import implementation  # noqa: E402
from anynet.optim.base import _run_fused, fused_steps, in_place_steps, run_rule_flat  # noqa: E402
from anynet.parameter import FlatBuffer, Parameter  # noqa: E402
from benchmarks._common import cpu_model, data  # noqa: E402

LIBRARIES = ("cpu", "torch:cpu")  # NumPy and PyTorch on the CPU
SIZES = {"MLP 784-100-100-10": [784, 100, 100, 10], "MLP 784-1000-1000-10": [784, 1000, 1000, 10]}
QUICK_SIZES = ("MLP 784-100-100-10",)


def mlp_buffer(dev, widths, seed=0):
    """A FlatBuffer of an MLP's weights and biases (float32) on ``dev``, and a flat gradient."""
    rng = np.random.default_rng(seed)
    arrays = []
    for n_in, n_out in zip(widths[:-1], widths[1:]):
        arrays += [rng.standard_normal((n_in, n_out)) * 0.05, np.zeros(n_out)]
    buffer = FlatBuffer([Parameter(dev.from_numpy(a.astype(np.float32))) for a in arrays])
    return buffer, dev.from_numpy(rng.standard_normal(buffer.size).astype(np.float32) * 0.01)


def timed(fns, steps, repeats, sync, pairs=((0, 1),)):
    """Median ms per step of each of ``fns`` over ``repeats`` alternating blocks of ``steps`` steps,
    and for each (i, j) of ``pairs`` the median over rounds of the time of ``fns[i]`` over ``fns[j]``."""
    times = [[] for _ in fns]
    for i in range(repeats):
        order = range(len(fns)) if i % 2 == 0 else reversed(range(len(fns)))  # neither always first
        for k in order:
            t0 = time.perf_counter()
            for _ in range(steps):
                fns[k]()
            sync()
            times[k].append((time.perf_counter() - t0) * 1e3 / steps)
    ratios = [statistics.median(a / b for a, b in zip(times[i], times[j])) for i, j in pairs]
    return [statistics.median(t) for t in times], ratios


def compare(spec, widths, cls, step, steps, repeats):
    """(generic ms, in-place ms, generic / in-place, fused ms, in-place / fused) for optimizer ``cls``
    on an MLP's buffer; the last two None where the device supplies no fused update for ``cls``."""
    dev = anynet.as_device(spec)
    (generic, g), (own, _), (fast, _) = (mlp_buffer(dev, widths) for _ in range(3))
    opt_a, opt_b, opt_c = cls(lr=1e-3), cls(lr=1e-3), cls(lr=1e-3)
    counts = {"a": 0, "b": 0, "c": 0}

    def run_generic():
        counts["a"] += 1
        run_rule_flat(opt_a, generic, g, 1e-3, counts["a"])

    def run_in_place():
        counts["b"] += 1
        step(opt_b, own, g, 1e-3, counts["b"])

    def run_fused():
        counts["c"] += 1
        assert _run_fused(opt_c, fast, g, 1e-3, counts["c"]), "the fused update did not run"

    fns = [run_generic, run_in_place]
    if cls in fused_steps() and implementation(fused_steps()[cls], dev) != "reference":
        fns.append(run_fused)
    for _ in range(3):  # warm-up: scratch and state arrays allocated
        for fn in fns:
            fn()
    pairs = ((0, 1), (1, 2))[:len(fns) - 1]
    (ms_generic, ms_own, *ms_fused), ratios = timed(fns, steps, repeats, dev.synchronize, pairs)
    return ms_generic, ms_own, ratios[0], (ms_fused or [None])[0], (ratios[1:] or [None])[0]


def training_step_ms(spec, widths, repeats):
    """Median ms of a whole training step of the MLP ``widths`` (batch 100, Adam, softmax loss) as
    the library runs it: forward, backward, ``update`` on the FlatBuffer with the in-place step."""
    dev = anynet.as_device(spec)
    anynet.seed(0)
    with anynet.device(dev):
        net = anynet.MLP(widths[0], widths[1:-1], widths[-1])
    loss, opt = anynet.SoftmaxWithLoss(), anynet.Adam(lr=1e-3)
    x, t = (dev.from_numpy(a) for a in data((widths[0],)))
    rng, xp = np.random.default_rng(1), dev.xp

    def step():
        idx = dev.from_numpy(rng.integers(0, x.shape[0], 100))
        loss.forward(net.forward(xp.take(x, idx, axis=0), train=True), xp.take(t, idx, axis=0))
        net.backward(loss.backward())
        opt.update(net.params)

    for _ in range(3):
        step()
    return timed([step, step], 5, repeats, dev.synchronize)[0][0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="the small MLP only, fewer steps; prints only")
    parser.add_argument("--out", default=str(Path(__file__).with_name("results-optim-flat.md")))
    args = parser.parse_args()
    steps, repeats = (10, 6) if args.quick else (20, 15)  # 300 steps of each path per row
    sizes = QUICK_SIZES if args.quick else tuple(SIZES)
    rows, context = [], []
    for spec in LIBRARIES:
        for size in sizes:
            saved, fused_saved = 0.0, "-"
            for cls, step in in_place_steps().items():
                ms_generic, ms_own, ratio, ms_fast, fused_ratio = compare(spec, SIZES[size], cls, step, steps, repeats)
                fused = "| - | - |" if ms_fast is None else f"| {ms_fast:.3f} | {fused_ratio:.2f} |"
                row = f"| {spec} | {size} | {cls.__name__} | {ms_generic:.3f} | {ms_own:.3f} | {ratio:.2f} "
                rows.append(row + fused)
                print(rows[-1], flush=True)
                if cls is anynet.Adam:
                    saved = ms_generic - ms_own
                    fused_saved = "-" if ms_fast is None else f"{ms_own - ms_fast:.3f}"
            ms = training_step_ms(spec, SIZES[size], repeats)
            context.append(f"| {spec} | {size} | {ms:.2f} | {saved:.3f} | {100 * saved / ms:.1f}% | {fused_saved} |")
            print(context[-1], flush=True)
    import torch

    load = os.getloadavg()[0]
    lines = [
        "# The optimizers' flat step: generic runner, hand-written in-place step, the device's fused update",
        "",
        f"`env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python3 benchmarks/optim_flat.py` on {cpu_model()} "
        f"({platform.machine()}, {os.cpu_count()} CPUs, shared with other users while measured: load average "
        f"{load:.1f}), NumPy {np.__version__}, PyTorch {torch.__version__}, {THREADS} thread, float32. "
        f"Each row: {steps * repeats} steps of each path in {repeats} alternating blocks of {steps}; "
        "ms per step are medians over blocks, the ratios the medians of generic / in-place and in-place / "
        "fused over the same blocks (the figures to read on a shared machine). The flat step alone: the "
        "gradient gather and the rest of the training step are the same for all. Fused: the device's own "
        "fused update (`anynet.kernels.fused_update`), where it supplies one (-: none).",
        "",
        "| library | buffer | optimizer | generic ms | in-place ms | generic / in-place | fused ms "
        "| in-place / fused |",
        "|---|---|---|---:|---:|---:|---:|---:|",
        *rows,
        "",
        "For scale: a whole training step of the same MLP (batch 100, Adam, as the library runs it: the "
        "fused update where the device has one, else the in-place step), what Adam's in-place step saves "
        "against the generic runner (generic ms - in-place ms above), and what the fused update saves "
        "against the in-place step (in-place ms - fused ms).",
        "",
        "| library | MLP | training step ms | Adam's in-place step saves ms | of the step "
        "| the fused update saves ms |",
        "|---|---|---:|---:|---:|---:|",
        *context,
    ]
    if not args.quick:
        Path(args.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
