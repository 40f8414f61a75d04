"""The base ``Device``: an array namespace and a device inside it, and where its subclasses
register.

Each array library has a subclass in its own module (``_numpy``, ``_cupy``, ``_torch``,
``_jax``, ``_strict``); a library none of them owns gets ``_generic.GenericDevice``, built on
``__array_namespace__`` and DLPack. A subclass owns what the standard leaves out for its
library: creation on its device, host transfer both ways, zero-copy moves, ``synchronize``,
its random generator (draw, state, restore), and, where the library has them, pure random keys
and a compiler for training steps (``compile_step``).
"""

from __future__ import annotations

import contextlib
import importlib
from typing import Any, Callable, ClassVar, Iterator, Sequence

import numpy as np

__all__ = ["FLOAT_NAMES", "Device", "DeviceError", "LIBRARIES", "TRACE_CONSTANTS", "register", "trace_constant"]

# the floating dtypes anynet computes in, by their array-API names, narrowest first
FLOAT_NAMES = ("float16", "bfloat16", "float32", "float64")


class DeviceError(ValueError):
    """A device that is not there, or arrays from two libraries or two devices in one computation."""


class Device:
    """Where new arrays are born: an array namespace and a device inside it.

    Build one with ``anynet.as_device``: ``"cpu"`` (NumPy), ``"cuda"``/``"cuda:N"`` (CuPy),
    ``"torch:cpu"``, ``"torch:cuda:0"``, ``"jax:cpu"``, ``"array_api_strict:device1"``, or a
    namespace module and its device object.
    """

    library: ClassVar[str] = "?"  # the array library's name, as in the device's name
    prefixes: ClassVar[tuple[str, ...]] = ()  # the spec prefixes it parses ("torch" in "torch:cpu")
    is_host: ClassVar[bool] = False  # arrays are NumPy's: reading values costs no transfer
    writable: ClassVar[bool] = True  # arrays can be written in place (False on JAX)
    is_gpu: ClassVar[bool] = False  # an accelerator with its own memory (subclasses answer per device)

    # Bytes one temporary work array may take (conv's im2col chunks): 16 MiB suits CPU caches;
    # on a GPU every chunk costs kernel launches, so GPU devices allow far more.
    work_budget: ClassVar[int] = 16 << 20
    # Threads a layer may spread its batch chunks over (``parallel_map``); 1: in order.
    workers: ClassVar[int] = 1
    # Bytes of a data set the loader may keep on this device for a whole fit (``DataLoader``'s
    # device mode); 0: batches are gathered on the host (NumPy, whose arrays are the host's).
    data_budget: ClassVar[int] = 1 << 30

    __slots__ = ("xp", "device", "name")

    def __init__(self, xp: Any, device: Any, name: str):
        self.xp = xp  # the array-api-compat namespace
        self.device = device  # the library's own device object ("cpu" for NumPy)
        self.name = name  # canonical text, e.g. "cpu", "cuda:0", "torch:cpu"

    def __repr__(self) -> str:
        return f"Device({self.name!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Device) and other.name == self.name

    def __hash__(self) -> int:
        return hash(self.name)

    # -- what a subclass says about its library ---------------------------------

    @classmethod
    def owns(cls, xp: Any) -> bool:
        """Whether the array-api-compat namespace ``xp`` is this library's."""
        raise NotImplementedError

    @classmethod
    def parse(cls, rest: str, spec: str) -> Device:
        """The device named by a spec string ``"<prefix>:<rest>"`` (``rest`` may be empty)."""
        raise NotImplementedError

    @classmethod
    def of(cls, xp: Any, dev: Any) -> Device:
        """The device ``dev`` (the library's device object, None for its default) of ``xp``."""
        raise NotImplementedError

    @staticmethod
    def device_key(x: Any) -> Any:
        """A cheap hashable name of the device the array ``x`` (of this library) lives on: compared
        for every array of every layer call, so subclasses read it without building objects.
        The standard's ``x.device`` by default."""
        return x.device

    @property
    def memory(self) -> tuple[str, int] | None:
        """The memory its arrays live in, ("cpu", 0) or ("cuda", N): two devices with the same
        memory can hand arrays to each other through DLPack without a copy. None: never."""
        return None

    @property
    def float_dtypes(self) -> dict[str, Any]:
        """The floating dtypes arrays on this device can have, by name (of ``FLOAT_NAMES``)."""
        return {name: getattr(self.xp, name) for name in FLOAT_NAMES if hasattr(self.xp, name)}

    def float_dtype(self, name: str) -> Any:
        """The dtype called ``name`` ("float16", "bfloat16", "float32", "float64") on this device;
        DeviceError saying what it has (and where to find the dtype) when it lacks it."""
        found = self.float_dtypes.get(name)
        if found is None:
            if name not in FLOAT_NAMES:
                raise DeviceError(f"unknown floating dtype {name!r}: use one of {', '.join(FLOAT_NAMES)}")
            raise DeviceError(f"device {self.name!r} has no {name}; it has {', '.join(self.float_dtypes)}"
                              f"{self.lacks(name)}")
        return found

    def lacks(self, name: str) -> str:
        """Advice appended to the error for a floating dtype this device does not have."""
        if name == "bfloat16":
            return "; bfloat16 runs on 'torch:cpu', 'torch:cuda' and 'jax:cpu'"
        if name == "float16":
            return "; float16 runs on 'cpu', 'cuda', 'torch:cpu' and 'jax:cpu'"
        return ""

    @contextlib.contextmanager
    def scope(self) -> Iterator[None]:
        """Entered around creation and kernel launches on this device (CuPy's current GPU)."""
        yield

    # -- arrays ----------------------------------------------------------------------

    def from_numpy(self, a: np.ndarray) -> Any:
        """A copy of the host array ``a`` on this device."""
        raise NotImplementedError

    def to_numpy(self, x: Any) -> np.ndarray:
        """``x`` (an array on this device) on the host: a copy, or a view where the memory is shared."""
        return np.asarray(x)

    def zeros(self, shape: tuple[int, ...], dtype: Any = None) -> Any:
        dtype = self.xp.float32 if dtype is None else dtype
        with self.scope():
            return self.xp.zeros(shape, dtype=dtype, device=self.device)

    def receive(self, x: Any, source: Device) -> Any:
        """``x``, an array on ``source``, on this device: through DLPack without a copy when both
        see the same memory, else through the host."""
        if self.memory is not None and self.memory == source.memory and source.can_share(x):
            try:
                with self.scope():
                    y = self.xp.from_dlpack(x)
            except (BufferError, TypeError, RuntimeError, ValueError):
                y = None  # e.g. a read-only NumPy array; copy instead
            if y is not None and _device_of(y) == self:
                return y
        return self.from_numpy(source.to_numpy(x))

    def pad(self, x: Any, widths: tuple[tuple[int, int], ...], value: float = 0.0) -> Any:
        """``x`` with ``widths[k] = (before, after)`` elements of ``value`` added on axis k."""
        import array_api_extra as xpx

        return xpx.pad(x, widths, constant_values=value)

    def can_share(self, x: Any) -> bool:
        """Whether another library may see ``x``'s memory (not a read-only array)."""
        return True

    def parallel_map(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        """``[fn(item) for item in items]``, in order; a device with several ``workers`` may run
        the items at once (they must be independent, and their results are returned in order)."""
        return [fn(item) for item in items]

    def synchronize(self) -> None:
        """Wait until queued work on this device is done (timing asynchronous GPUs)."""

    # -- messages between processes (anynet.parallel) -----------------------------

    def host_buffer(self, x: Any) -> tuple[np.ndarray, bool]:
        """``x`` (a contiguous array on this device) as a writable host NumPy array for a
        message-passing library, and whether that array is ``x``'s own memory (writing it writes
        ``x``; else read the result back with ``from_host``)."""
        a = self.to_numpy(x)
        return (a if a.flags.writeable else a.copy()), False

    def from_host(self, a: np.ndarray) -> Any:
        """The host array ``a`` on this device, sharing its memory where the library allows."""
        return self.from_numpy(a)

    def collective(self, size: int, rank: int, share: Any) -> Any:
        """A device-side communicator among ``size`` processes (NCCL on CUDA GPUs) with
        ``allreduce_sum(x)`` and ``broadcast(x)``, or None: messages then go through host buffers.
        ``share(obj)`` returns rank 0's ``obj`` on every rank (how NCCL's unique id travels)."""
        return None

    # -- random numbers --------------------------------------------------------------

    def new_rng(self, seed: int | None) -> Any:
        """A generator that draws on this device, seeded (None: from the OS)."""
        return np.random.default_rng(seed)

    def uniform(self, rng: Any, shape: tuple[int, ...], dtype: Any) -> Any:
        """Uniform [0, 1) numbers of ``dtype`` drawn with ``rng`` (from ``new_rng``) on this device."""
        u = rng.random(shape, dtype=np.float64 if "64" in str(dtype) else np.float32)
        return self.from_numpy(u)

    def rng_state(self, rng: Any) -> dict[str, Any] | None:
        """The JSON-able state of ``rng``; None where the library cannot save it."""
        return {"numpy": rng.bit_generator.state}

    def restore_rng(self, saved: dict[str, Any]) -> Any | None:
        """A generator in the state ``rng_state`` returned (None if ``saved`` is not this kind's)."""
        if "numpy" not in saved:
            return None
        rng = np.random.default_rng()
        rng.bit_generator.state = saved["numpy"]
        return rng

    # -- compiled training steps -------------------------------------------------------

    def key_of(self, rng: Any) -> Any | None:
        """The pure random key that continues ``rng``'s stream inside a compiled step (see
        ``uniform_from_key``); None where the library draws only through its stateful generator."""
        return None

    def set_key(self, rng: Any, key: Any) -> None:
        """Make ``rng`` continue from ``key`` (the key a compiled step handed back)."""

    def uniform_from_key(self, key: Any, shape: tuple[int, ...], dtype: Any) -> tuple[Any, Any]:
        """Uniform [0, 1) numbers of ``dtype`` drawn from the pure ``key``, and the next key."""
        raise NotImplementedError(f"{self.name}: this library has no pure random keys")

    def compile_step(self, fn: Callable[..., Any], donate: tuple[int, ...],
                     on_trace: Callable[[], None]) -> Callable[..., Any] | None:
        """``fn`` compiled for this library, the arguments at positions ``donate`` handed over to it
        (their memory may be reused for the results), ``on_trace()`` called whenever it is traced
        or compiled anew; None where steps run eager."""
        return None


GPU_WORK_BUDGET = 1 << 30  # conv chunks of up to 1 GiB: DeepConvNet at batch 1024 in one or two pieces


def gpu_data_budget(total_bytes: int) -> int:
    """The share of a GPU's memory the loader may fill with a data set: a quarter, leaving the
    rest to parameters, activations and the library's memory pool."""
    return total_bytes // 4


# The libraries in the order they are asked (the generic one is not here: it is the fallback).
LIBRARIES: list[type[Device]] = []


# Functions whose result a compiler may take as a constant while tracing (see trace_constant).
TRACE_CONSTANTS: list[Callable[[], Any]] = []


def trace_constant(fn: Callable[[], Any]) -> Callable[[], Any]:
    """Decorator: ``fn`` reads Python configuration only (a context variable, no arrays), so a
    compiler tracing a step may call it once and keep the result (torch.compile cannot trace
    ``ContextVar.get``; JAX runs Python while tracing anyway)."""
    TRACE_CONSTANTS.append(fn)
    return fn


def register(cls: type[Device]) -> type[Device]:
    """Class decorator: make a ``Device`` subclass known to ``as_device`` and ``device_of``."""
    LIBRARIES.append(cls)
    return cls


def _device_of(x: Any) -> Device:
    from ._arrays import device_of

    return device_of(x)


def import_library(module: str, spec: str, install: str) -> Any:
    """Import the library a device spec needs, or say what to install."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        if not isinstance(err, ModuleNotFoundError) or err.name != module:
            raise DeviceError(f"device {spec!r}: the package {module!r} is installed but fails to import "
                              f"({type(err).__name__}: {err}); reinstall it ({install})") from err
        raise DeviceError(f"device {spec!r} needs the package {module!r}, which is not installed ({install})") from err
    except Exception as err:  # noqa: BLE001 - GPU libraries may fail at import (missing driver libraries)
        raise DeviceError(f"device {spec!r}: the package {module!r} is installed but fails to import "
                          f"({type(err).__name__}: {err}); check its driver and libraries ({install})") from err


def parse_index(rest: str, spec: str, count: int, what: str) -> int:
    """The device number in a spec (0 when absent), checked against the ``count`` there are."""
    if rest == "":
        index = 0
    elif rest.isdigit():
        index = int(rest)
    else:
        raise DeviceError(f"device {spec!r}: the {what} number must be a non-negative integer, got {rest!r}")
    if index >= count:
        there = f"{count} {what} device" + ("" if count == 1 else "s")
        raise DeviceError(f"device {spec!r}: no {what} device {index}; this machine has {there}")
    return index
