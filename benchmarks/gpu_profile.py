"""Where a GPU training step's time goes: anynet on CuPy and on PyTorch-CUDA beside PyTorch eager CUDA.

For each model of ``benchmarks/gpu.py`` (its steppers, SGD on random data kept on the device) and each
batch, three systems: PyTorch eager on ``--peer``, anynet on ``--device`` (CuPy) and anynet on
``torch:<peer>``. Per system and step: the wall time of blocks of steps ending with a synchronize
(alternating between the systems), the same blocks on the GPU's clock (CUDA events of the system's
library), the host time (the step's Python call returning, started with the GPU idle: launches are
asynchronous, so this is the Python and launch overhead), and torch.profiler's count of the kernels,
copies and kernel time per step (CUPTI records every kernel of the process, CuPy's included), with the
top kernels of anynet's own device. Each model and batch goes to ``results-gpu-profile.md`` and ``.json``
in ``--out`` as soon as it is measured; a part that fails (no CUPTI, a profiler error) is said in its row.

Off the GPU (``--device cpu --peer cpu``, the dry run the tests use) the same code runs with
``time.perf_counter`` for the GPU's clock and torch's outermost aten ops standing for the kernels.

    python3 benchmarks/gpu_profile.py --out benchmarks          # on a GPU machine (ci/gpu.sh profile)
    python3 benchmarks/gpu_profile.py --device cpu --peer cpu --models MLP --batches 16 --quick   # dry run
"""

from __future__ import annotations

import argparse
import datetime
import gc
import statistics
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import anynet  # noqa: E402
from benchmarks import gpu  # noqa: E402

STEM = "results-gpu-profile"
COPIES = ("Memcpy", "Memset")  # CUPTI's copy and fill records: counted apart from the kernels
COLUMNS = ("system", "step ms", "GPU ms", "host ms", "kernel ms", "bound", "GPU idle", "kernels", "copies",
           "vs PyTorch", "note")


class Clock:
    """Times one system's steps: CUDA events of its library (``kind`` "cupy" or "torch") for the GPU's
    clock, ``time.perf_counter`` for the host's; off the GPU (``kind`` None) the GPU's clock is the wall.

    **Arguments:** kind: the library whose events time the GPU (None: no GPU); sync: waits for the device.
    """

    def __init__(self, kind: str | None, sync: Callable[[], None]):
        self.kind, self.sync = kind, sync

    def _events(self) -> tuple[Any, Any, Callable[[Any, Any], float]] | None:
        if self.kind == "cupy":
            import cupy

            return cupy.cuda.Event(), cupy.cuda.Event(), cupy.cuda.get_elapsed_time
        if self.kind == "torch":
            import torch

            return (torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True),
                    lambda a, b: a.elapsed_time(b))
        return None

    def block(self, step: Callable[[], None], n: int) -> tuple[float, float]:
        """Seconds per step of ``n`` steps ending with a synchronize: (wall, GPU clock).

        **Returns:** the wall time and the time between CUDA events recorded before the first launch and
        after the last (the wall time again off the GPU), each divided by ``n``.
        """
        events = self._events()
        self.sync()
        t0 = time.perf_counter()
        if events:
            events[0].record()
        for _ in range(n):
            step()
        if events:
            events[1].record()
        self.sync()
        wall = (time.perf_counter() - t0) / n
        return wall, (events[2](events[0], events[1]) / 1e3 / n if events else wall)

    def host(self, step: Callable[[], None], n: int) -> float:
        """Median seconds of ``n`` step calls to return without a synchronize, each started with the GPU idle
        (a synchronize before it, untimed), so no launch waits for a full queue."""
        took = []
        for _ in range(n):
            self.sync()
            t0 = time.perf_counter()
            step()
            took.append(time.perf_counter() - t0)
        self.sync()
        return statistics.median(took)


def count(step: Callable[[], None], sync: Callable[[], None], on_gpu: bool, steps: int, top: int) -> dict[str, Any]:
    """Kernels, copies and kernel time per step, by torch.profiler around ``steps`` steps: on the GPU
    the CUDA records of CUPTI (every kernel of the process), off it the aten ops called from outside aten.

    **Returns:** {"kernels", "copies" (None off the GPU), "kernel_ms", "top": [{"name", "calls", "ms"}]},
    per step, the top ``top`` kernels by time; or {"note"} when nothing was recorded.
    """
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU, ProfilerActivity.CUDA] if on_gpu else [ProfilerActivity.CPU]
    sync()
    with profile(activities=activities) as prof:
        for _ in range(steps):
            step()
        sync()
    events = list(prof.events())
    if on_gpu:
        device = [e for e in events if e.device_type == DeviceType.CUDA]
        kernels = [e for e in device if not e.name.startswith(COPIES)]
        copies: int | None = len(device) - len(kernels)
    else:
        kernels = [e for e in events if e.device_type == DeviceType.CPU and _outer_aten(e)]
        copies = None
    if not kernels:
        return {"note": "the profiler recorded no kernels" + (" (no CUPTI?)" if on_gpu else "")}
    by_name: dict[str, list[float]] = {}
    for e in kernels:
        calls_us = by_name.setdefault(e.name, [0, 0.0])
        calls_us[0] += 1
        calls_us[1] += e.time_range.elapsed_us()
    ranked = sorted(by_name.items(), key=lambda item: -item[1][1])[:top]
    return {"kernels": len(kernels) // steps if len(kernels) % steps == 0 else round(len(kernels) / steps, 1),
            "copies": None if copies is None else round(copies / steps, 1),
            "kernel_ms": sum(us for _, us in by_name.values()) / steps / 1e3,
            "top": [{"name": k, "calls": calls / steps, "ms": us / steps / 1e3} for k, (calls, us) in ranked]}


def _outer_aten(event: Any) -> bool:
    """Whether ``event`` is an aten op called from outside aten (its time holds its inner ops')."""
    if not event.name.startswith("aten::"):
        return False
    parent = event.cpu_parent
    while parent is not None:
        if parent.name.startswith("aten::"):
            return False
        parent = parent.cpu_parent
    return True


def libraries(devices: list[anynet.Device], peer: str) -> dict[str, str]:
    """The library behind each system label of ``gpu.systems``."""
    return {f"PyTorch {peer}": "torch", **{f"anynet {d.name}": d.library for d in devices}}


def timed(made: dict[str, tuple[Callable, Callable]], clocks: dict[str, Clock], repeats: int, block_s: float,
          warmup: int) -> dict[str, dict[str, list[float]]]:
    """Wall and GPU-clock seconds per step of each system, over ``repeats`` rounds of alternating blocks of
    about ``block_s`` seconds (the blocks of a round are adjacent in time, so they saw the same load)."""
    sizes = {}
    for label, (step, _) in made.items():
        for _ in range(warmup):
            step()
        sizes[label] = max(1, round(block_s / max(clocks[label].block(step, 1)[0], 1e-6)))
    times: dict[str, dict[str, list[float]]] = {label: {"wall": [], "gpu": []} for label in made}
    labels = list(made)
    for i in range(repeats):
        for label in labels if i % 2 == 0 else labels[::-1]:  # no system always goes first
            wall, on_gpu = clocks[label].block(made[label][0], sizes[label])
            times[label]["wall"].append(wall)
            times[label]["gpu"].append(on_gpu)
    return times


def profile_rows(name: str, batch: int, spec: gpu.Spec, libs: dict[str, str], args: argparse.Namespace) -> list[dict]:
    """One row per system of ``spec`` for model ``name`` at ``batch``: the times, the counts and the verdict."""
    made = {label: factory() for label, (factory, _) in spec.items()}
    clocks = {label: Clock(kind, made[label][1]) for label, (_, kind) in spec.items()}
    repeats, block_s, host_n, prof_n = (3, 0.03, 3, 2) if args.quick else (3, 0.1, 5, 2)
    times = timed(made, clocks, repeats, block_s, warmup=3)
    first = list(made)[0]
    rows = []
    for label, (step, sync) in made.items():
        wall, gpu_clock = (statistics.median(times[label][k]) for k in ("wall", "gpu"))
        row: dict[str, Any] = {"model": name, "batch": batch, "system": label, "library": libs[label],
                               "on_gpu": clocks[label].kind is not None,
                               "step_ms": wall * 1e3, "gpu_ms": gpu_clock * 1e3,
                               "host_ms": clocks[label].host(step, host_n) * 1e3,
                               "vs_pytorch": statistics.median(a / b for a, b in zip(times[first]["wall"],
                                                                                   times[label]["wall"]))}
        if clocks[label].kind is None and libs[label] != "torch":
            row["note"] = f"no counter: torch.profiler sees no {libs[label]} work"
        else:
            try:
                row.update(count(step, sync, clocks[label].kind is not None, prof_n, args.top))
            except Exception as err:  # noqa: BLE001 - the times stand; the row says why the counts do not
                traceback.print_exc()
                row["note"] = f"profiler: {type(err).__name__}: {str(err)[:160]}"
        rows.append(verdict(row))
    return rows


def verdict(row: dict[str, Any]) -> dict[str, Any]:
    """Host bound when the step's call takes at least as long as its kernels (its GPU time when the
    profiler gave none; none off the GPU without counts): the GPU then waits for launches; idle: the part
    of the GPU clock not in kernels."""
    busy = row.get("kernel_ms", row["gpu_ms"] if row["on_gpu"] else None)
    row["bound"] = "-" if busy is None else "host" if row["host_ms"] >= busy else "GPU"
    row["gpu_idle"] = max(0.0, 1 - row["kernel_ms"] / row["gpu_ms"]) if "kernel_ms" in row and row["gpu_ms"] else None
    return row


def row_line(row: dict[str, Any]) -> str:
    """The Markdown row of one system."""
    f = gpu._fmt
    cells = [row["system"], f(row["step_ms"], ".3f"), f(row["gpu_ms"], ".3f"), f(row["host_ms"], ".3f"),
             f(row.get("kernel_ms"), ".3f"), row["bound"], f(row["gpu_idle"], ".0%"), f(row.get("kernels"), ""),
             f(row.get("copies"), ""), f(row["vs_pytorch"], ".2f"), row.get("note", "")]
    return "| " + " | ".join(str(c) for c in cells) + " |"


def top_lines(row: dict[str, Any]) -> list[str]:
    """The top kernels of one system as a Markdown table (names cut at 90 characters)."""
    lines = ["", f"Top kernels of {row['system']} per step ({row['kernel_ms']:.3f} ms of kernels):", "",
             "| kernel | calls | ms | share |", "|---|---:|---:|---:|"]
    for k in row["top"]:
        name = k["name"] if len(k["name"]) <= 90 else k["name"][:87] + "..."
        lines.append(f"| `{name.replace('|', '/')}` | {k['calls']:g} | {k['ms']:.3f} | "
                     f"{k['ms'] / row['kernel_ms']:.0%} |")
    return lines


def header(args: argparse.Namespace, devices: list[anynet.Device], broken: list[str]) -> tuple[dict, list[str]]:
    """The run's description: for the JSON, and the Markdown lines before the tables."""
    import torch

    cupy = sys.modules.get("cupy")
    on_gpu = any(getattr(d, "is_gpu", False) for d in devices) or args.peer.startswith("cuda")
    meta = {"gpu": gpu.gpu_name(devices, args.peer), "date": datetime.date.today().isoformat(),
            "argv": sys.argv[1:], "tf32": args.tf32, "torch": torch.__version__, "torch_cuda": torch.version.cuda,
            "cupy": getattr(cupy, "__version__", None), "quick": args.quick, "broken": broken}
    clock = ("GPU ms: the same blocks between CUDA events of the system's library; kernels, copies: CUDA "
             "kernels and memcpy/memset per step, as CUPTI records them (every kernel of the process, CuPy's "
             "included); kernel ms: their summed durations per step" if on_gpu else
             "off the GPU (a dry run): GPU ms is the wall time (perf_counter); kernels: the aten ops called from "
             "outside aten per step, kernel ms their CPU time; NumPy has no counter")
    lines = [f"# Where a training step's time goes on {meta['gpu']}: anynet on "
             f"{' and '.join(d.name for d in devices)} against PyTorch eager on {args.peer}", "", *broken,
             f"{meta['date']}, `python3 benchmarks/gpu_profile.py {' '.join(meta['argv'])}`; PyTorch {meta['torch']} "
             f"(CUDA {meta['torch_cuda']}), CuPy {meta['cupy']}; float32 with TF32 "
             f"{'allowed' if args.tf32 else 'off'} on both sides; SGD lr 0.01, random data on the device.", "",
             "Per step: step ms: wall time of blocks of steps ending with a synchronize, median of alternating "
             f"blocks; {clock}; host ms: the step's Python call returning without a synchronize, started with "
             "the GPU idle (median): Python and launch overhead; bound: host where host ms >= kernel ms (the GPU "
             "waits for launches), else GPU; GPU idle: 1 - kernel ms / GPU ms; vs PyTorch: PyTorch's step ms over "
             "the system's (above 1: faster), median over rounds. torch.profiler (2 steps) gives the counts."]
    return meta, lines


def run_models(args: argparse.Namespace, devices: list[anynet.Device], results: gpu.Results, t0: float) -> None:
    """Every model at every batch, one Markdown block each, written as soon as it is measured."""
    libs = libraries(devices, args.peer)
    for batch in args.batches:
        for name in args.models:
            results.lines("", f"## {name}, batch {batch}", "", "| " + " | ".join(COLUMNS) + " |",
                          "|---|" + "---:|" * 4 + "---|" + "---:|" * 4 + "---|")
            if args.time_limit and time.perf_counter() - t0 > args.time_limit:
                results.data["notes"].append(f"{name} batch {batch} not measured: --time-limit {args.time_limit} s")
                results.lines(f"| not measured: --time-limit {args.time_limit} s |")
                continue
            try:
                rows = profile_rows(name, batch, gpu.systems(name, batch, devices, args.peer), libs, args)
            except Exception as err:  # noqa: BLE001 - one model's failure (out of memory, a bug) is written
                traceback.print_exc()
                results.add("profile", {"model": name, "batch": batch, "error": f"{type(err).__name__}: {err}"},
                            f"| error: {type(err).__name__}: {str(err)[:200]} |")
                continue
            for row in rows:
                results.add("profile", row, row_line(row))
            for row in rows[1:]:  # anynet's devices: where their kernel time goes
                if row.get("top"):
                    results.lines(*top_lines(row))
            gc.collect()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="anynet's device (default cuda: CuPy)")
    parser.add_argument("--peer", default="cuda", help="PyTorch's device, and anynet's torch:<peer> (default cuda)")
    parser.add_argument("--models", nargs="+", choices=gpu.GPU_MODELS, default=list(gpu.GPU_MODELS))
    parser.add_argument("--batches", nargs="+", type=int, default=[128, 1024])
    parser.add_argument("--quick", action="store_true", help="blocks of 0.03 s, not 0.1 s; 3 host steps, not 5")
    parser.add_argument("--top", type=int, default=8, help="kernels listed for each anynet device (default 8)")
    parser.add_argument("--tf32", action="store_true", help="allow TF32 on both sides (default: float32 on both)")
    parser.add_argument("--time-limit", type=float, default=0, help="seconds: start no model after them (0: none)")
    parser.add_argument("--out", default=str(Path(__file__).parent), help=f"folder for {STEM}.md/.json")
    args = parser.parse_args(argv)
    gpu.pin_tf32(args.tf32)  # before the first device imports cupy
    t0 = time.perf_counter()
    devices, broken = gpu.open_devices(args.device, args.peer)
    meta, lines = header(args, devices, broken)
    results = gpu.Results(Path(args.out), meta, lines, stem=STEM, sections=("profile", "notes"))
    if devices:
        run_models(args, devices, results, t0)
    print(f"wrote {results.md} and {results.json} in {time.perf_counter() - t0:.0f} s", flush=True)
    sys.exit(1 if broken else 0)


if __name__ == "__main__":
    main()
