"""What the benchmarks share: the PyTorch twin of an anynet model, training steppers for both
systems, one interleaved timing loop, peak-memory probes and a description of the machine.

Importing this module sets no environment variable and starts no thread pool: the entry
scripts choose thread counts (``OMP_NUM_THREADS`` and friends) before NumPy is imported.
"""

from __future__ import annotations

import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import anynet  # noqa: E402
from anynet import layers as L  # noqa: E402

POOL = 1000  # random "samples" the batches are drawn from

# name -> (builder, shape of one sample); recurrent models read a 28x28 image row by row
MODELS: dict[str, tuple[Callable[[], Any], tuple[int, ...]]] = {
    "MLP": (lambda: anynet.MLP(784, [100, 100], 10), (784,)),
    "SimpleConvNet": (lambda: anynet.SimpleConvNet(), (1, 28, 28)),
    "DeepConvNet": (lambda: anynet.DeepConvNet(), (1, 28, 28)),
    "LeNet5": (lambda: anynet.LeNet5(), (1, 28, 28)),
    "AlexNet": (lambda: anynet.AlexNet(), (1, 28, 28)),
    "VGG": (lambda: anynet.VGG(), (1, 28, 28)),
    "ResNet8": (lambda: anynet.models.resnet8(), (1, 28, 28)),
    "ResNet10": (lambda: anynet.models.resnet10(), (1, 28, 28)),
    "ResNet10w18": (lambda: anynet.models.resnet10(width=18), (1, 28, 28)),  # the Fashion-MNIST recipe's net
    "ResNet20": (lambda: anynet.models.resnet20(), (1, 28, 28)),
    "TimeLSTM": (lambda: anynet.SequenceClassifier(28, 128, 10, cell="lstm"), (28, 28)),
    "TimeGRU": (lambda: anynet.SequenceClassifier(28, 128, 10, cell="gru"), (28, 28)),
}

OPTIMIZERS = {
    "SGD": (lambda: anynet.SGD(lr=0.01), lambda params: _torch().optim.SGD(params, lr=0.01)),
    "Adam": (lambda: anynet.Adam(lr=1e-3), lambda params: _torch().optim.Adam(params, lr=1e-3)),
}


def _torch():
    import torch

    return torch


def torch_twin(model: anynet.Layer) -> Any:
    """The same architecture as the anynet ``model`` (a Sequential), in torch.nn."""
    nn = _torch().nn

    class LastOrAll(nn.Module):
        """torch.nn.LSTM / GRU with batch_first, returning all states or the last one."""

        def __init__(self, rnn, return_sequences):
            super().__init__()
            self.rnn, self.return_sequences = rnn, return_sequences

        def forward(self, x):
            hs, _ = self.rnn(x)
            return hs if self.return_sequences else hs[:, -1, :]

    class Residual(nn.Module):
        """act(body(x) + shortcut(x)), the identity where anynet's shortcut is None."""

        def __init__(self, layer):
            super().__init__()
            self.body = torch_twin(layer.body)
            self.shortcut = nn.Identity() if layer.shortcut is None else torch_twin(layer.shortcut)
            self.act = nn.Identity() if layer.activation is None else torch_twin(anynet.Sequential(layer.activation))

        def forward(self, x):
            return self.act(self.body(x) + self.shortcut(x))

    out = []
    for layer in model:
        if isinstance(layer, L.Residual):
            out.append(Residual(layer))
        elif isinstance(layer, L.GlobalAvgPool):
            out.append(nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten()))
        elif isinstance(layer, L.Conv):
            FN, C, FH, FW = layer.W.shape
            out.append(nn.Conv2d(C, FN, (FH, FW), layer.stride, layer.pad))
        elif isinstance(layer, L.Affine):
            out.append(nn.Linear(*layer.W.shape))
        elif isinstance(layer, L.MaxPool):
            out.append(nn.MaxPool2d(layer.kernel, layer.stride, layer.pad))
        elif isinstance(layer, L.AvgPool):
            out.append(nn.AvgPool2d(layer.kernel, layer.stride, layer.pad))
        elif isinstance(layer, L.LRN):
            out.append(nn.LocalResponseNorm(layer.size, layer.alpha, layer.beta, layer.k))
        elif isinstance(layer, L.BatchNorm):
            norm = nn.BatchNorm2d if _after_conv(model, layer) else nn.BatchNorm1d
            out.append(norm(layer.num_features, momentum=1 - layer.momentum, eps=layer.eps))
        elif isinstance(layer, L.Dropout):
            out.append(nn.Dropout(layer.ratio))
        elif isinstance(layer, (L.TimeLSTM, L.TimeGRU)):
            rnn = nn.LSTM if isinstance(layer, L.TimeLSTM) else nn.GRU
            out.append(LastOrAll(rnn(layer.input_size, layer.hidden_size, batch_first=True),
                                 layer.return_sequences))
        else:
            simple = {L.ReLU: nn.ReLU, L.Sigmoid: nn.Sigmoid, L.Tanh: nn.Tanh, L.Flatten: nn.Flatten}
            kind = next((k for k in simple if isinstance(layer, k)), None)
            if kind is None:
                raise ValueError(f"no PyTorch twin for {layer!r}")
            out.append(simple[kind]())
    return nn.Sequential(*out)


def _after_conv(model: anynet.Layer, norm: Any) -> bool:
    """Whether the BatchNorm ``norm`` follows a Conv in ``model`` (normalises image channels)."""
    previous = None
    for layer in model:
        if layer is norm:
            return isinstance(previous, L.Conv)
        previous = layer
    return False


def data(shape: tuple[int, ...], pool: int = POOL, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``pool`` random float32 samples of ``shape`` in [0, 1) and labels in [0, 10)."""
    rng = np.random.default_rng(seed)
    return rng.random((pool, *shape), dtype=np.float32), rng.integers(0, 10, pool)


Step = Callable[[], None]


def anynet_stepper(name: str, opt: str, batch: int, dev: Any = None, checks: bool | None = None) -> tuple[Step, Step]:
    """A training step of anynet model ``name`` with optimizer ``opt``, and a sync function.
    ``dev`` is an anynet device (None: NumPy); ``checks`` is ``anynet.debug``'s mode (None: the
    library's default, what a user's step runs; False: no value checks; True: in every layer)."""
    make, shape = MODELS[name]
    dev = anynet.as_device(dev or "cpu")
    anynet.seed(0)
    with anynet.device(dev):
        net = make()
    return stepper_of(net, anynet.SoftmaxWithLoss(), OPTIMIZERS[opt][0](), data(shape), batch, dev, checks)


def stepper_of(net: Any, loss: Any, optimizer: Any, host: tuple[Any, Any], batch: int, dev: Any,
               checks: bool | None = None) -> tuple[Step, Step]:
    """A training step of ``net`` on random batches of ``batch`` drawn from the host pool ``host``
    (x, t), uploaded to ``dev`` once, and a sync function."""
    x, t = (anynet.to_device(a, dev) for a in host)
    xp, rng = dev.xp, np.random.default_rng(1)
    pool = int(x.shape[0])

    def step():
        idx = anynet.to_device(rng.integers(0, pool, batch), dev)
        with anynet.debug(checks):
            y = net.forward(xp.take(x, idx, axis=0), train=True)
            loss.forward(y, xp.take(t, idx, axis=0))
            net.backward(loss.backward())
            optimizer.update(net.params)

    return step, dev.synchronize


def torch_stepper(name: str, opt: str, batch: int, where: str = "cpu") -> tuple[Step, Step]:
    """The same training step in PyTorch eager on ``where``, and a sync function."""
    torch = _torch()
    make, shape = MODELS[name]
    torch.manual_seed(0)
    net = torch_twin(make()).to(where).train()
    loss_fn = torch.nn.CrossEntropyLoss()
    optimizer = OPTIMIZERS[opt][1](net.parameters())
    x, t = (torch.from_numpy(a).to(where) for a in data(shape))
    rng = np.random.default_rng(1)
    pool = int(x.shape[0])
    sync = torch.cuda.synchronize if where.startswith("cuda") else (lambda: None)

    def step():
        idx = torch.from_numpy(rng.integers(0, pool, batch)).to(where)
        optimizer.zero_grad(set_to_none=True)
        loss_fn(net(x[idx]), t[idx]).backward()
        optimizer.step()

    return step, sync


def interleaved(systems: dict[str, tuple[Step, Step]], repeats: int, block_s: float, batch: int,
                warmup: int = 2) -> dict[str, float]:
    """Median samples/s of each system over ``repeats`` alternating blocks of steps (each block
    ends with a sync), and ``"ratio"``: the median over rounds of the first system's rate over the
    second's (the blocks of one round are adjacent in time, so they saw the same load), and
    ``"<name> / <first>"``: the same for every other system against the first."""
    sizes = {}
    for name, (step, sync) in systems.items():  # warm-up, and how many steps fill a block
        for _ in range(warmup):
            step()
        sync()
        t0 = time.perf_counter()
        step()
        sync()
        sizes[name] = max(1, round(block_s / max(time.perf_counter() - t0, 1e-6)))
    rates: dict[str, list[float]] = {s: [] for s in systems}
    names = list(systems)
    for i in range(repeats):
        for name in names if i % 2 == 0 else names[::-1]:  # neither system always goes first
            step, sync = systems[name]
            t0 = time.perf_counter()
            for _ in range(sizes[name]):
                step()
            sync()
            rates[name].append(sizes[name] * batch / (time.perf_counter() - t0))
    result = {s: statistics.median(r) for s, r in rates.items()}
    first, second = names[:2]
    result["ratio"] = statistics.median(a / b for a, b in zip(rates[first], rates[second]))
    for name in names[1:]:  # each system against the first, likewise
        result[f"{name} / {first}"] = statistics.median(a / b for a, b in zip(rates[name], rates[first]))
    return result


def _rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def measure_peak(name: str, opt: str, system: str, batch: int, steps: int = 3) -> float:
    """MiB the resident set grows by, at its peak, over ``steps`` training steps (this process)."""
    step = (anynet_stepper if system == "anynet" else torch_stepper)(name, opt, batch)[0]
    before = _rss_kib("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # resets the peak (VmHWM) to the current RSS
    for _ in range(steps):
        step()
    return (_rss_kib("VmHWM") - before) / 1024


def peak_memory(name: str, opt: str, system: str, batch: int, runs: int = 3) -> float:
    """The median of ``runs`` ``measure_peak``s, each in a fresh subprocess (which inherits this
    process's environment): one PyTorch process's peak varies by a quarter from the next's."""
    code = (f"from benchmarks._common import measure_peak; "
            f"print(measure_peak({name!r}, {opt!r}, {system!r}, {batch}))")
    peaks = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
        peaks.append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(peaks)


def blas_kernel() -> str:
    """The BLAS NumPy loaded, its kernel (OpenBLAS's core type) and thread count."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "unknown (pip install threadpoolctl, or anynet[bench])"
    infos = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    return "; ".join(f"{i.get('internal_api')} {i.get('version')} {i.get('architecture')} kernel, "
                     f"{i.get('num_threads')} threads" for i in infos) or "none found"


def cpu_model() -> str:
    """The processor's model name (Linux), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
