"""GPU training throughput, peak memory and CPU/GPU agreement: anynet on CuPy and on PyTorch-CUDA
against PyTorch eager on CUDA.

Models: MLP 784-100-100-10, SimpleConvNet, DeepConvNet, TimeLSTM (28 steps of 28, 128 hidden),
TransformerLM (vocabulary 1000, 64 tokens, width 128, 4 heads, 2 blocks) and ResNet10 (the Fashion-MNIST
recipe's net, at width 16), at batch 128 and 1024; then one epoch of the ResNet recipe on each anynet device.
First the same seed trains a few SGD steps on NumPy and on each anynet GPU device with the same
batches (dropout off: its masks are drawn on each device): the largest relative differences of the
initial weights, losses and final weights. Then three systems train each model with SGD on random
data kept on the device: PyTorch eager on ``--peer``, anynet on ``--device`` (CuPy) and anynet on
``torch:<peer>``, in alternating blocks of steps that each end with a device synchronisation:
median samples/s, each anynet's median ratio to PyTorch, and the peak memory each allocator holds.
TF32 is off on both sides unless ``--tf32``. Each row goes to ``results-gpu.md`` and ``.json`` in
``--out`` as soon as it is measured (a failed row as its error), so a stopped run keeps its rows.

    python3 benchmarks/gpu.py --out benchmarks                     # on a GPU machine (ci/gpu.sh bench)
    python3 benchmarks/gpu.py --device cpu --peer cpu --models MLP --batches 16 --quick   # a dry run
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import anynet  # noqa: E402
from anynet import layers as L  # noqa: E402
from benchmarks import _common as bench  # noqa: E402

GPU_MODELS = ("MLP", "SimpleConvNet", "DeepConvNet", "TimeLSTM", "TransformerLM", "ResNet10")
# docs/guides/resnet.md: one epoch of its Fashion-MNIST recipe (resnet10 at width 18, batch 64) is timed
# when --models has RECIPE
RECIPE, RECIPE_WIDTH, RECIPE_BATCH = "ResNet10", 18, 64
VOCAB, T, D, HEADS, BLOCKS = 1000, 64, 128, 4, 2  # the TransformerLM measured
MEMORY_STEPS = 3

Stepper = tuple[Callable[[], None], Callable[[], None]]
Spec = dict[str, tuple[Callable[[], Stepper], "str | None"]]  # label -> (stepper factory, memory kind)


def pin_tf32(on: bool) -> None:
    """TF32 alike on both sides: PyTorch's matmuls and cuDNN convolutions, and CuPy's GEMMs
    (``CUPY_TF32``, which CuPy 14 reads once per process: it must be set before cupy is imported).

    **Arguments:** on: allow TF32 (False: float32 GEMMs everywhere).
    """
    import torch

    want = "1" if on else "0"
    if "cupy" in sys.modules and os.environ.get("CUPY_TF32", "0") != want:
        raise RuntimeError(f"benchmarks/gpu.py: CUPY_TF32 must be {want!r} before cupy is imported; cupy is "
                           f"already imported with CUPY_TF32={os.environ.get('CUPY_TF32')!r}")
    os.environ["CUPY_TF32"] = want
    torch.backends.cuda.matmul.allow_tf32 = on
    torch.backends.cudnn.allow_tf32 = on


# -- TransformerLM, which benchmarks/_common.py does not hold ------------------------------------


def lm_data(pool: int = bench.POOL, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``pool`` random token sequences: ids (pool, T) and the next ids (pool, T), in [0, VOCAB)."""
    ids = np.random.default_rng(seed).integers(0, VOCAB, (pool, T + 1))
    return np.ascontiguousarray(ids[:, :-1]), np.ascontiguousarray(ids[:, 1:])


def task(name: str) -> tuple[Callable[[], Any], tuple[np.ndarray, np.ndarray], Any]:
    """Model ``name``'s builder, its host data pool (x, t) and its loss."""
    if name == "TransformerLM":
        return (lambda: anynet.TransformerLM(VOCAB, D, HEADS, BLOCKS, max_len=T)), lm_data(), \
            anynet.TimeSoftmaxWithLoss()
    make, shape = bench.MODELS[name]
    return make, bench.data(shape), anynet.SoftmaxWithLoss()


def anynet_lm_stepper(batch: int, dev: Any) -> Stepper:
    """``bench.anynet_stepper`` for the TransformerLM (ids in, TimeSoftmaxWithLoss), no value checks."""
    dev = anynet.as_device(dev)
    make, host, loss = task("TransformerLM")
    anynet.seed(0)
    with anynet.device(dev):
        net = make()
    return bench.stepper_of(net, loss, bench.OPTIMIZERS["SGD"][0](), host, batch, dev, checks=False)


def torch_lm(torch: Any) -> Any:
    """The TransformerLM in torch.nn: pre-norm GELU blocks with a causal mask, as anynet's."""
    nn = torch.nn

    class LM(nn.Module):
        def __init__(self):
            super().__init__()
            angles = np.arange(T)[:, None] / 10000.0 ** (np.arange(0, D, 2) / D)
            pe = np.stack([np.sin(angles), np.cos(angles)], axis=-1).reshape(T, D)
            self.register_buffer("pe", torch.tensor(pe, dtype=torch.float32))
            self.register_buffer("mask", nn.Transformer.generate_square_subsequent_mask(T))
            self.embed = nn.Embedding(VOCAB, D)
            block = nn.TransformerEncoderLayer(D, HEADS, 4 * D, dropout=0.0, activation="gelu", batch_first=True,
                                               norm_first=True)
            self.blocks = nn.TransformerEncoder(block, BLOCKS, enable_nested_tensor=False)
            self.norm, self.head = nn.LayerNorm(D), nn.Linear(D, VOCAB)

        def forward(self, ids):
            h = self.blocks(self.embed(ids) + self.pe, mask=self.mask, is_causal=True)
            return self.head(self.norm(h))

    return LM()


def torch_lm_stepper(batch: int, where: str) -> Stepper:
    """``bench.torch_stepper`` for the TransformerLM."""
    import torch

    torch.manual_seed(0)
    net = torch_lm(torch).to(where).train()
    loss_fn = torch.nn.CrossEntropyLoss()
    optimizer = bench.OPTIMIZERS["SGD"][1](net.parameters())
    x, t = (torch.from_numpy(a).to(where) for a in lm_data())
    rng = np.random.default_rng(1)

    def step():
        idx = torch.from_numpy(rng.integers(0, bench.POOL, batch)).to(where)
        optimizer.zero_grad(set_to_none=True)
        loss_fn(net(x[idx]).reshape(-1, VOCAB), t[idx].reshape(-1)).backward()
        optimizer.step()

    return step, (torch.cuda.synchronize if where.startswith("cuda") else (lambda: None))


def systems(name: str, batch: int, devices: list[anynet.Device], peer: str) -> Spec:
    """PyTorch on ``peer`` first (the ratios' denominator), then anynet on each of ``devices``."""
    lm = name == "TransformerLM"
    spec: Spec = {f"PyTorch {peer}": ((lambda: torch_lm_stepper(batch, peer)) if lm else
                                      (lambda: bench.torch_stepper(name, "SGD", batch, peer)),
                                      "torch" if peer.startswith("cuda") else None)}
    for dev in devices:
        make = (lambda d=dev: anynet_lm_stepper(batch, d)) if lm else \
            (lambda d=dev: bench.anynet_stepper(name, "SGD", batch, d, checks=False))
        kind = dev.library if dev.library in ("cupy", "torch") and getattr(dev, "is_gpu", False) else None
        spec[f"anynet {dev.name}"] = (make, kind)
    return spec


def peak_mib(factory: Callable[[], Stepper], kind: str | None) -> float | None:
    """MiB the GPU allocator holds at its peak (CuPy's pool; PyTorch's reserved memory) over
    ``MEMORY_STEPS`` training steps of a stepper built from an empty cache; None off the GPU."""
    if kind is None:
        return None
    gc.collect()
    if kind == "cupy":
        import cupy

        pool = cupy.get_default_memory_pool()
        pool.free_all_blocks()
        base = pool.total_bytes()
        _steps(factory)
        return (pool.total_bytes() - base) / 2**20
    import torch

    torch.cuda.synchronize()
    torch.cuda.empty_cache()
    base = torch.cuda.memory_reserved()
    torch.cuda.reset_peak_memory_stats()
    _steps(factory)
    return (torch.cuda.max_memory_reserved() - base) / 2**20


def _steps(factory: Callable[[], Stepper]) -> None:
    step, sync = factory()
    for _ in range(MEMORY_STEPS):
        step()
    sync()


def throughput(name: str, batch: int, spec: Spec, repeats: int, block_s: float) -> dict[str, Any]:
    """One table row: samples/s of each system, each anynet's ratio to PyTorch, peak MiB."""
    made = {label: factory() for label, (factory, _) in spec.items()}
    r = bench.interleaved(made, repeats, block_s, batch, warmup=3)
    del made
    labels = list(spec)
    return {"model": name, "batch": batch, "samples_per_s": {s: r[s] for s in labels},
            "vs_pytorch": {s: r[f"{s} / {labels[0]}"] for s in labels[1:]},
            "peak_mib": {s: peak_mib(factory, kind) for s, (factory, kind) in spec.items()}}


def train_few(name: str, where: anynet.Device, steps: int, batch: int) -> tuple[list, np.ndarray, list]:
    """Initial weights, losses and final weights of ``steps`` SGD steps on ``where`` from seed 0."""
    make, (x, t), loss = task(name)
    anynet.seed(0)
    with anynet.device(where):
        net = make()
    _no_dropout(net)
    first = [anynet.to_numpy(p.data).copy() for p in net.params]
    optimizer, rng, losses = anynet.SGD(lr=0.01), np.random.default_rng(1), []
    for _ in range(steps):
        idx = rng.integers(0, len(x), batch)
        with anynet.debug(False):
            y = net.forward(anynet.to_device(x[idx], where), train=True)
            losses.append(loss.forward(y, anynet.to_device(t[idx], where)))
            net.backward(loss.backward())
            optimizer.update(net.params)
    return first, np.array([float(v) for v in losses]), [anynet.to_numpy(p.data) for p in net.params]


def _no_dropout(layer: Any) -> None:
    """Dropout off everywhere in ``layer``: its masks are drawn on each device, so they differ."""
    if isinstance(layer, L.Dropout):
        layer.ratio = 0.0
    for part in (getattr(layer, "parts", None) or {}).values():
        _no_dropout(part)


def relative(a: list, b: list) -> float:
    """max |a - b| / max |a| over all the arrays of ``a`` and ``b`` together: relative to the largest
    value of all, since a parameter whose gradient cancels (attention's key bias) holds only rounding."""
    diff = max(float(np.max(np.abs(np.asarray(x, np.float64) - np.asarray(y, np.float64)))) for x, y in zip(a, b))
    return diff / max(max(float(np.max(np.abs(np.asarray(x, np.float64)))) for x in a), 1e-30)


def agreement(reference: tuple, run: tuple) -> dict[str, float]:
    """The largest relative differences between two ``train_few`` results."""
    (w0a, la, wa), (w0b, lb, wb) = reference, run
    return {"initial": relative(w0a, w0b), "loss": relative([la], [lb]), "final": relative(wa, wb)}


# -- the results files, rewritten row by row -----------------------------------------------------


class Results:
    """``results-gpu.md`` (lines appended) and ``results-gpu.json`` (rewritten whole) in ``out``; another
    ``stem`` and list ``sections`` for another script's results (benchmarks/gpu_profile.py)."""

    def __init__(self, out: Path, meta: dict[str, Any], header: list[str], stem: str = "results-gpu",
                 sections: tuple[str, ...] = ("agreement", "throughput", "recipe", "notes")):
        out.mkdir(parents=True, exist_ok=True)
        self.md, self.json = out / f"{stem}.md", out / f"{stem}.json"
        self.data: dict[str, Any] = {**meta, **{section: [] for section in sections}}
        self.md.write_text("")
        self.lines(*header)

    def lines(self, *lines: str) -> None:
        with self.md.open("a") as f:
            f.write("".join(line + "\n" for line in lines))
        tmp = self.json.with_name(self.json.name + ".tmp")  # replaced at once: a killed run leaves valid JSON
        tmp.write_text(json.dumps(self.data, indent=1))
        os.replace(tmp, self.json)

    def add(self, section: str, row: dict[str, Any], line: str) -> None:
        self.data[section].append(row)
        self.lines(line)
        print(line, flush=True)


def _fmt(value: float | None, spec: str = ",.0f") -> str:
    return "-" if value is None else format(value, spec)


def throughput_line(row: dict[str, Any]) -> str:
    rates, ratios, peaks = row["samples_per_s"], row["vs_pytorch"], row["peak_mib"]
    return (f"| {row['model']} | {row['batch']} | " + " | ".join(_fmt(v) for v in rates.values()) + " | "
            + " | ".join(f"{v:.2f}" for v in ratios.values()) + " | "
            + " / ".join(_fmt(v) for v in peaks.values()) + " |")


def gpu_name(devices: list[anynet.Device], peer: str) -> str:
    """The GPU's name, else the first device's (or the peer's)."""
    dev = devices[0] if devices else None
    if dev is not None and dev.library == "cupy":
        import cupy

        name = cupy.cuda.runtime.getDeviceProperties(dev.device.id)["name"]
        return name.decode() if isinstance(name, bytes) else str(name)
    if peer.startswith("cuda"):
        import torch

        return torch.cuda.get_device_name()
    return dev.name if dev is not None else peer


def header(args: argparse.Namespace, devices: list[anynet.Device], repeats: int, block_s: float) -> tuple[dict, list]:
    """The run's description: for the JSON, and the Markdown lines before the tables."""
    import torch

    cupy = sys.modules.get("cupy")
    meta = {"gpu": gpu_name(devices, args.peer), "date": datetime.date.today().isoformat(),
            "argv": sys.argv[1:], "tf32": args.tf32, "torch": torch.__version__, "torch_cuda": torch.version.cuda,
            "cupy": getattr(cupy, "__version__", None), "repeats": repeats, "block_s": block_s}
    names = " and ".join(d.name for d in devices)
    lines = [f"# Training on {meta['gpu']}: anynet on {names} against PyTorch eager on {args.peer}", "",
             f"{meta['date']}, `python3 benchmarks/gpu.py {' '.join(meta['argv'])}`; PyTorch {meta['torch']} "
             f"(CUDA {meta['torch_cuda']}), CuPy {meta['cupy']}; float32 with TF32 "
             f"{'allowed' if args.tf32 else 'off'} on both sides; SGD lr 0.01.", "",
             f"## CPU/GPU agreement: {args.agree_steps} SGD steps of batch {args.agree_batch} from seed 0", "",
             "NumPy against each device, the same batches, dropout off; the largest difference relative to the "
             "largest value (max |a - b| / max |a|, over all parameters together).", "",
             "| model | device | initial weights | loss per step | final weights |", "|---|---|---:|---:|---:|"]
    return meta, lines


def run_agreement(args: argparse.Namespace, devices: list[anynet.Device], results: Results, t0: float) -> None:
    for name in args.models:
        if args.time_limit and time.perf_counter() - t0 > args.time_limit / 3:
            results.data["notes"].append(f"agreement stopped before {name}: a third of --time-limit spent")
            results.lines(f"| {name} | - | not measured: a third of --time-limit spent | | |")
            continue
        try:
            reference = train_few(name, anynet.as_device("cpu"), args.agree_steps, args.agree_batch)
            for dev in devices:
                d = agreement(reference, train_few(name, dev, args.agree_steps, args.agree_batch))
                results.add("agreement", {"model": name, "device": dev.name, **d},
                            f"| {name} | {dev.name} | {d['initial']:.1e} | {d['loss']:.1e} | {d['final']:.1e} |")
        except Exception as err:  # noqa: BLE001 - one model's failure is a row; the others still run
            traceback.print_exc()
            results.add("agreement", {"model": name, "error": f"{type(err).__name__}: {err}"},
                        f"| {name} | error | {type(err).__name__}: {str(err)[:200]} | | |")


def run_throughput(args: argparse.Namespace, devices: list[anynet.Device], results: Results, t0: float,
                   repeats: int, block_s: float) -> None:
    labels = list(systems("MLP", 1, devices, args.peer))
    results.lines("", f"## Throughput: median samples/s of {repeats} alternating blocks of about {block_s:g} s "
                  f"after a warm-up; peak MiB the allocator holds over {MEMORY_STEPS} steps from an empty cache "
                  "(CuPy's pool, PyTorch's reserved memory)", "",
                  "| model | batch | " + " | ".join(labels) + " | "
                  + " | ".join(f"{s.removeprefix('anynet ')} / PyTorch" for s in labels[1:])
                  + " | peak MiB (" + " / ".join(labels) + ") |",
                  "|---|---:|" + "---:|" * (2 * len(labels) - 1) + "---|")
    for batch in args.batches:
        for name in args.models:
            if args.time_limit and time.perf_counter() - t0 > args.time_limit:
                results.data["notes"].append(f"{name} batch {batch} not measured: --time-limit {args.time_limit} s")
                results.lines(f"| {name} | {batch} | not measured: --time-limit {args.time_limit} s |")
                continue
            try:
                row = throughput(name, batch, systems(name, batch, devices, args.peer), repeats, block_s)
                results.add("throughput", row, throughput_line(row))
            except Exception as err:  # noqa: BLE001 - one row's failure (out of memory, a bug) is written
                traceback.print_exc()
                results.add("throughput", {"model": name, "batch": batch, "error": f"{type(err).__name__}: {err}"},
                            f"| {name} | {batch} | error: {type(err).__name__}: {str(err)[:200]} |")
            gc.collect()


def run_prefetch(args: argparse.Namespace, devices: list[anynet.Device], results: Results, t0: float) -> None:
    """Batches prepared ahead against the plain loader on each device (benchmarks/data_prefetch.py)."""
    import tempfile

    from benchmarks import data_prefetch as prefetch

    batch, steps, repeats, n = (16, 4, 2, 256) if args.quick else (256, 20, 5, 8192)
    results.data["prefetch"] = []
    results.lines("", f"## Batches prepared ahead: SimpleConvNet on memory-mapped shards, host augmentation, "
                  f"{steps} steps a pass, median of {repeats} alternating passes", "", *prefetch.TABLE)
    with tempfile.TemporaryDirectory() as tmp:
        files = prefetch.make_files(tmp, n)
        for dev in devices:
            if args.time_limit and time.perf_counter() - t0 > args.time_limit:
                results.lines(f"| {dev.name} | {batch} | not measured: --time-limit {args.time_limit} s |")
                continue
            try:
                row = prefetch.measure(dev, files, batch, steps, repeats)
                results.add("prefetch", row, prefetch.line(row))
            except Exception as err:  # noqa: BLE001 - one row's failure is written; the others still run
                traceback.print_exc()
                results.add("prefetch", {"device": dev.name, "error": f"{type(err).__name__}: {err}"},
                            f"| {dev.name} | {batch} | error: {type(err).__name__}: {str(err)[:200]} |")


def recipe_epoch(dev: anynet.Device, samples: int) -> float:
    """Seconds of one epoch of the ResNet recipe (resnet10 at width 18, batch 64, AdamW with a one-cycle
    peak of 0.01, left-right flips, label smoothing 0.1) on ``samples`` random Fashion-MNIST-shaped images
    on ``dev``."""
    from anynet.data.augment import RandomFlip

    x, t = bench.data((1, 28, 28), pool=samples)
    anynet.seed(0)
    with anynet.device(dev):
        model = anynet.models.resnet10(width=RECIPE_WIDTH)
    opt = anynet.AdamW(anynet.OneCycle(0.01, total=max(2, -(-samples // RECIPE_BATCH))))
    trainer = anynet.Trainer(model, anynet.SoftmaxWithLoss(label_smoothing=0.1), opt, verbose=0)
    t0 = time.perf_counter()
    with anynet.device(dev):
        trainer.fit((x, t), epochs=1, batch_size=RECIPE_BATCH, augment=RandomFlip())
        dev.synchronize()
    return time.perf_counter() - t0


def run_recipe(args: argparse.Namespace, devices: list[anynet.Device], results: Results, t0: float) -> None:
    results.lines("", f"## One epoch of the ResNet recipe ({RECIPE} at width {RECIPE_WIDTH}, batch {RECIPE_BATCH}, "
                  f"{args.recipe_samples} random images)", "",
                  "| device | seconds | samples/s |", "|---|---:|---:|")
    for dev in devices:
        if args.time_limit and time.perf_counter() - t0 > args.time_limit:
            results.lines(f"| {dev.name} | not measured: --time-limit {args.time_limit} s | |")
            continue
        try:
            took = recipe_epoch(dev, args.recipe_samples)
            results.add("recipe", {"device": dev.name, "seconds": took, "samples": args.recipe_samples},
                        f"| {dev.name} | {took:.1f} | {args.recipe_samples / took:,.0f} |")
        except Exception as err:  # noqa: BLE001 - written as a row, like the others
            traceback.print_exc()
            results.add("recipe", {"device": dev.name, "error": f"{type(err).__name__}: {err}"},
                        f"| {dev.name} | error: {type(err).__name__}: {str(err)[:200]} | |")


def open_devices(device: str, peer: str) -> tuple[list[anynet.Device], list[str]]:
    """The anynet devices measured, ``device`` (CuPy) and ``torch:<peer>``; one that does not work
    leaves the other measured.

    **Returns:** (the devices that work, a line per device that does not, with its error).
    """
    devices, broken = [], []
    for spec in (device, f"torch:{peer}"):
        try:
            devices.append(anynet.as_device(spec))
        except Exception as err:  # noqa: BLE001 - reported in the results and the exit status
            traceback.print_exc()
            broken.append(f"device {spec} does not work: {type(err).__name__}: {err}")
    return devices, broken


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="anynet's device (default cuda: CuPy)")
    parser.add_argument("--peer", default="cuda", help="PyTorch's device, and anynet's torch:<peer> (default cuda)")
    parser.add_argument("--models", nargs="+", choices=GPU_MODELS, default=list(GPU_MODELS))
    parser.add_argument("--batches", nargs="+", type=int, default=[128, 1024])
    parser.add_argument("--agree-steps", type=int, default=10, help="SGD steps of the CPU/GPU agreement (0: none)")
    parser.add_argument("--agree-batch", type=int, default=32)
    parser.add_argument("--quick", action="store_true", help="3 blocks of 0.1 s per row instead of 5 of 0.3 s")
    parser.add_argument("--tf32", action="store_true", help="allow TF32 on both sides (default: float32 on both)")
    parser.add_argument("--recipe-samples", type=int, default=54000,
                        help=f"images in the timed epoch of the ResNet recipe, run when --models has {RECIPE}")
    parser.add_argument("--time-limit", type=float, default=0, help="seconds: start no row after them (0: none)")
    parser.add_argument("--out", default=str(Path(__file__).parent), help="folder for results-gpu.md/.json")
    args = parser.parse_args(argv)
    pin_tf32(args.tf32)  # before the first device imports cupy
    t0 = time.perf_counter()
    devices, broken = open_devices(args.device, args.peer)
    repeats, block_s = (3, 0.1) if args.quick else (5, 0.3)
    meta, lines = header(args, devices, repeats, block_s)
    lines = [*lines[:2], *broken, *lines[1:]] if broken else lines  # the broken devices under the title
    results = Results(Path(args.out), {**meta, "broken": broken}, lines)
    if devices and args.agree_steps > 0:
        run_agreement(args, devices, results, t0)
    if devices:
        run_throughput(args, devices, results, t0, repeats, block_s)
        run_prefetch(args, devices, results, t0)
    if devices and RECIPE in args.models and args.recipe_samples > 0:
        run_recipe(args, devices, results, t0)
    print(f"wrote {results.md} and {results.json} in {time.perf_counter() - t0:.0f} s", flush=True)
    sys.exit(1 if broken else 0)


if __name__ == "__main__":
    main()
