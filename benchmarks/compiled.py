"""Training-step throughput on the CPU: anynet's compiled JAX step against anynet on NumPy
(eager), PyTorch (eager) and anynet's step under torch.compile.

Every system trains the same architecture (PyTorch's net translated layer by layer) with plain
SGD on random Fashion-MNIST-shaped data, batch 100, float32, 2 threads. Each anynet step is one
whole training step as the Trainer runs it (``TrainStep.run`` / ``CompiledStep.run``, with the
parameters written back into the model every step). Blocks of steps alternate between the
systems in one process, so the load of other users of a shared machine hits all alike; the
table reports median samples/s and the median ratio to PyTorch eager over adjacent blocks.

    python3 benchmarks/compiled.py                 # writes benchmarks/results-compiled.md
    python3 benchmarks/compiled.py --quick         # MLP and SimpleConvNet, fewer repeats
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
    os.environ[_var] = THREADS  # before NumPy loads its BLAS
os.environ.setdefault("TORCHINDUCTOR_COMPILE_THREADS", "1")  # no pool of compiler processes

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import anynet  # noqa: E402
from anynet.training import TrainStep, compile_step  # noqa: E402
from benchmarks.cpu_convnets import torch_twin  # noqa: E402

BATCH, POOL = 100, 1000
MODELS = {
    "MLP": (lambda: anynet.MLP(784, [100, 100], 10), (784,)),
    "SimpleConvNet": (lambda: anynet.SimpleConvNet(), (1, 28, 28)),
    "DeepConvNet": (lambda: anynet.DeepConvNet(), (1, 28, 28)),
    "TimeLSTM": (lambda: anynet.SequenceClassifier(28, 64, 10, cell="lstm"), (28, 28)),  # rows as time steps
}
QUICK = ("MLP", "SimpleConvNet")
# anynet's step under torch.compile: compiling the conv nets and the unrolled LSTM takes many
# minutes on a shared two-core machine, so it runs for the MLP only unless --torch-compile-all
TORCH_COMPILE = ("MLP",)


def data(shape):
    rng = np.random.default_rng(0)
    return rng.random((POOL, *shape), dtype=np.float32), rng.integers(0, 10, POOL)


def anynet_stepper(name: str, device: str, compiled: bool):
    anynet.seed(0)
    dev = anynet.as_device(device)
    make, shape = MODELS[name]
    with anynet.device(dev):
        net = make()
    loss, opt = anynet.SoftmaxWithLoss(), anynet.SGD(lr=0.01)
    step = compile_step(net, loss, opt) if compiled else TrainStep(net, loss, opt)
    x, t = (anynet.to_device(a, dev) for a in data(shape))
    rng = np.random.default_rng(1)
    xp = dev.xp

    def run():
        idx = anynet.to_device(rng.integers(0, POOL, BATCH), dev)
        with anynet.device(dev), anynet.debug(False):
            value, _ = step.run(xp.take(x, idx, axis=0), xp.take(t, idx, axis=0))
        return value

    return run


def lstm_twin():
    """SequenceClassifier(28, 64, 10) in torch.nn: LSTM, then Linear on the last hidden state."""
    import torch.nn as nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm, self.fc = nn.LSTM(28, 64, batch_first=True), nn.Linear(64, 10)

        def forward(self, x):
            return self.fc(self.lstm(x)[0][:, -1])

    return Net()


def torch_stepper(name: str):
    import torch

    torch.manual_seed(0)
    make, shape = MODELS[name]
    net = (lstm_twin() if name == "TimeLSTM" else torch_twin(make())).train()
    loss_fn = torch.nn.CrossEntropyLoss()
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    x, t = (torch.from_numpy(a) for a in data(shape))
    rng = np.random.default_rng(1)

    def run():
        idx = torch.from_numpy(rng.integers(0, POOL, BATCH))
        opt.zero_grad(set_to_none=True)
        value = loss_fn(net(x[idx]), t[idx])
        value.backward()
        opt.step()
        return value.detach()

    return run


def systems(name: str, torch_compile_all: bool) -> dict:
    found = {
        "numpy": anynet_stepper(name, "cpu", False),
        "jax-jit": anynet_stepper(name, "jax:cpu", True),
        "torch": torch_stepper(name),
    }
    if torch_compile_all or name in TORCH_COMPILE:
        found["torch-compile"] = anynet_stepper(name, "torch:cpu", True)
    return found


def throughput(name: str, repeats: int, block_s: float, torch_compile_all: bool) -> dict[str, float]:
    steps = systems(name, torch_compile_all)
    sizes = {}
    for system, step in steps.items():  # compile, warm up, and how many steps fill a block
        float(step())
        float(step())
        t0 = time.perf_counter()
        float(step())
        sizes[system] = max(1, round(block_s / max(time.perf_counter() - t0, 1e-6)))
    rates: dict[str, list[float]] = {s: [] for s in steps}
    for i in range(repeats):
        order = list(steps)[i % len(steps):] + list(steps)[:i % len(steps)]  # rotate who goes first
        for system in order:
            t0 = time.perf_counter()
            for _ in range(sizes[system]):
                value = steps[system]()
            float(value)  # wait for asynchronous work (JAX dispatches ahead)
            rates[system].append(sizes[system] * BATCH / (time.perf_counter() - t0))
    result = {s: statistics.median(r) for s, r in rates.items()}
    for s in steps:
        result[f"{s}/torch"] = statistics.median(a / b for a, b in zip(rates[s], rates["torch"]))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--torch-compile-all", action="store_true")
    parser.add_argument("--out", default=str(Path(__file__).with_name("results-compiled.md")))
    args = parser.parse_args()
    import jax
    import torch

    torch.set_num_threads(int(THREADS))
    names = QUICK if args.quick else tuple(MODELS)
    repeats, block = (3, 0.3) if args.quick else (5, 0.4)
    rows = []
    for name in names:
        r = throughput(name, repeats, block, args.torch_compile_all)
        rows.append((name, r))
        print(name, {k: round(v, 2) for k, v in r.items()}, flush=True)
    systems_ = ("numpy", "jax-jit", "torch", "torch-compile")
    head = "| model | " + " | ".join(f"{s} samples/s" for s in systems_) + " | jax-jit / torch | numpy / torch |"
    lines = [
        "# Compiled training steps on the CPU",
        "",
        f"`python3 benchmarks/compiled.py{' --quick' if args.quick else ''}` on {platform.machine()}, "
        f"{os.cpu_count()} CPUs (shared with other users while measured), NumPy {np.__version__}, "
        f"JAX {jax.__version__}, PyTorch {torch.__version__}, {THREADS} threads, batch {BATCH}, float32, "
        f"SGD. numpy: anynet eager on NumPy; jax-jit: anynet's step under jax.jit; torch: the same net "
        f"in torch.nn, eager; torch-compile: anynet's step under torch.compile (MLP only unless "
        f"--torch-compile-all: compiling the others takes minutes here). Median of {repeats} rotating blocks of about "
        f"{block} s; ratios are medians over adjacent blocks.",
        "",
        head,
        "|---|" + "---:|" * (len(systems_) + 2),
    ]
    for name, r in rows:
        cells = [f"{r[s]:,.0f}" if s in r else "-" for s in systems_]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {r['jax-jit/torch']:.2f} | {r['numpy/torch']:.2f} |")
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
