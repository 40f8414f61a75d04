"""PyTorch tensors: ``"torch:cpu"``, ``"torch:cuda"``, ``"torch:cuda:N"``."""

from __future__ import annotations

import base64
import threading
import warnings
from typing import Any, Callable

import array_api_compat
import numpy as np

from ._comm import Comm
from ._compiler import TRACE_CONSTANTS, Compiler
from ._device import Device, DeviceError, import_library, parse_index
from ._executor import Executor, GpuExecutor
from ._generators import DeviceRandom
from ._torch_kernels import TorchKernels
from ._torch_updates import TorchFusedUpdates

__all__ = ["TorchDevice"]


# Where a step compiles with graph breaks, the layers' methods are compiled frames of their own,
# shared by every model in the process; each model's shapes are one more compilation of them.
# dynamo's default limit (8) then fails the fourth or fifth compiled trainer of a process.
RECOMPILE_LIMIT = 64


class TorchCompiler(Compiler):
    """``torch.compile`` with inductor; configuration reads become constants of the graph. The first
    compiled step raises dynamo's recompile limit to ``RECOMPILE_LIMIT`` (never lowers it), so that
    several models can be compiled in one process."""

    def compile_step(self, fn: Callable[..., Any], donate: tuple[int, ...],
                     on_trace: Callable[[], None]) -> Callable[..., Any]:
        import torch
        from torch._dynamo.backends.registry import lookup_backend

        for read in TRACE_CONSTANTS:  # configuration reads (context variables) become constants
            torch._dynamo.assume_constant_result(read)
        config = torch._dynamo.config
        config.recompile_limit = max(config.recompile_limit, RECOMPILE_LIMIT)
        inductor = lookup_backend("inductor")

        def backend(graph: Any, example_inputs: Any) -> Any:
            on_trace()  # once per graph compiled (a count in the traced code would be guarded on)
            return inductor(graph, example_inputs)

        # Donation has no torch.compile counterpart: the step returns new tensors.
        compiled = [torch.compile(fn, backend=backend, fullgraph=True, dynamic=False)]

        def step(*args: Any) -> Any:
            try:
                return compiled[0](*args)
            except torch._dynamo.exc.Unsupported as err:
                if len(compiled) > 1:
                    raise
                # e.g. dropout: torch.rand(generator=...) cannot enter a graph; the step then
                # runs as several graphs (nothing ran: the failed trace changed nothing)
                reason = str(err).strip().splitlines()[0]
                warnings.warn(f"torch.compile: the training step does not compile into one graph ({reason}); "
                              "compiling it with graph breaks", RuntimeWarning, stacklevel=2)
                compiled[:] = [torch.compile(fn, backend=backend, fullgraph=False, dynamic=False), None]
                return compiled[0](*args)

        return step


class TorchRandom(DeviceRandom):
    """``torch.Generator`` on the device; its state saves as bytes."""

    def new_rng(self, seed: int | None) -> Any:
        import torch

        rng = torch.Generator(device=self.dev.device)
        if seed is None:
            rng.seed()
        else:
            rng.manual_seed(seed)
        return rng

    def uniform(self, rng: Any, shape: tuple[int, ...], dtype: Any) -> Any:
        import torch

        return torch.rand(shape, generator=rng, device=self.dev.device, dtype=dtype)

    def rng_state(self, rng: Any) -> dict[str, Any]:
        return {"torch": base64.b64encode(rng.get_state().numpy().tobytes()).decode()}

    def restore_rng(self, saved: dict[str, Any]) -> Any | None:
        if "torch" not in saved:
            return None
        import torch

        rng = self.new_rng(None)
        raw = np.frombuffer(base64.b64decode(saved["torch"], validate=True), dtype=np.uint8).copy()
        rng.set_state(torch.from_numpy(raw))
        return rng


class TorchComm(Comm):
    """A CPU tensor's memory is a host buffer already; a GPU tensor's goes through a copy."""

    def host_buffer(self, x: Any) -> tuple[np.ndarray, bool]:
        if self.dev.device.type == "cpu" and x.is_contiguous() and not x.requires_grad:
            return x.numpy(), True  # a CPU tensor's memory as a NumPy array, no copy
        return self.dev.to_numpy(x), False

    def from_host(self, a: np.ndarray) -> Any:
        import torch

        if self.dev.device.type == "cpu" and a.flags.writeable:
            return torch.from_numpy(a)
        return self.dev.from_numpy(a)


_GPU_EXECUTORS: dict[int, GpuExecutor] = {}
_COPY_STREAMS = threading.local()  # each prefetch thread's own copy stream, per GPU


class TorchDevice(Device):
    """PyTorch tensors on the CPU or one CUDA GPU."""

    library = "torch"
    prefixes = ("torch",)
    random_class = TorchRandom
    comm_class = TorchComm
    compiler = TorchCompiler()
    kernels = TorchKernels()  # PyTorch's convolution and pooling
    updates = TorchFusedUpdates()  # PyTorch's fused SGD, Adam and AdamW steps on a FlatBuffer

    owns = staticmethod(array_api_compat.is_torch_namespace)

    @classmethod
    def parse(cls, rest: str, spec: str) -> Device:
        torch = import_library("torch", spec, "pip install torch")
        kind, _, index = (rest or "cpu").partition(":")
        if kind == "cpu" and index in ("", "0"):
            return cls.of(None, torch.device("cpu"))
        if kind != "cuda":
            raise DeviceError(f"device {spec!r}: use 'torch:cpu', 'torch:cuda' or 'torch:cuda:N'")
        if not torch.cuda.is_available():
            raise DeviceError(
                f"device {spec!r}: this PyTorch has no working CUDA (a CPU build, or no GPU or driver); "
                "available here: 'torch:cpu'"
            )
        return cls.of(None, torch.device("cuda", parse_index(index, spec, torch.cuda.device_count(), "CUDA")))

    @classmethod
    def of(cls, xp: Any, dev: Any) -> Device:
        import torch

        dev = torch.device("cpu" if dev is None else dev)
        if dev.type == "cuda":
            if dev.index is None:
                dev = torch.device("cuda", torch.cuda.current_device())
            name = f"torch:cuda:{dev.index}"
        else:
            name = f"torch:{dev}"
        return cls(array_api_compat.array_namespace(torch.empty(0)), dev, name)

    @property
    def memory(self) -> tuple[str, int]:
        return ("cuda", self.device.index) if self.device.type == "cuda" else ("cpu", 0)

    @property
    def is_gpu(self) -> bool:
        return self.device.type == "cuda"

    @property
    def executor(self) -> Executor:
        """GPU-sized chunks and a quarter of the GPU's memory for data on a GPU; the default on the CPU."""
        if not self.is_gpu:
            return Device.executor
        found = _GPU_EXECUTORS.get(self.device.index)
        if found is None:
            found = _GPU_EXECUTORS[self.device.index] = GpuExecutor(lambda dev=self.device: _total_memory(dev))
        return found

    def from_numpy(self, a: np.ndarray) -> Any:
        import torch

        return torch.tensor(a, device=self.device)

    def prefetch_to_device(self, a: np.ndarray) -> Any:
        """Host batch ``a`` on this device, for the loader's prefetch threads: on a GPU, pinned host
        memory copied on the calling thread's own stream (after the work already queued on the
        current stream, so the copy never writes memory the step still reads), complete when this
        returns; on the CPU, ``from_numpy``."""
        if not self.is_gpu:
            return self.from_numpy(a)
        import torch

        streams = _COPY_STREAMS.__dict__.setdefault("by_gpu", {})
        stream = streams.get(self.device.index)
        if stream is None:
            stream = streams[self.device.index] = torch.cuda.Stream(self.device)
        host = torch.from_numpy(np.ascontiguousarray(a)).pin_memory()
        out = torch.empty(host.shape, dtype=host.dtype, device=self.device)
        stream.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(stream):
            out.copy_(host, non_blocking=True)
        stream.synchronize()
        return out

    def to_numpy(self, x: Any) -> np.ndarray:
        import torch

        if x.dtype == torch.bfloat16:  # NumPy has no bfloat16; float32 holds every value exactly
            x = x.float()
        return x.detach().cpu().numpy()

    def receive(self, x: Any, source: Device) -> Any:
        if isinstance(source, TorchDevice):
            return x.to(self.device)
        return super().receive(x, source)

    def synchronize(self) -> None:
        if self.device.type == "cuda":
            import torch

            torch.cuda.synchronize(self.device)


def _total_memory(dev: Any) -> int:
    import torch

    return torch.cuda.get_device_properties(dev).total_memory
