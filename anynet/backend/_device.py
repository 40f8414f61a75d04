"""The base ``Device``: an array namespace and a device inside it.

Each array library has a subclass in its own module (``_numpy``, ``_cupy``, ``_torch``,
``_jax``, ``_strict``, ``_ndonnx``); a library none of them owns gets ``_generic.GenericDevice``,
built on ``__array_namespace__`` and DLPack. The core is what every device is: creation on it,
host transfer both ways, zero-copy moves, its floating dtypes, ``synchronize``. The other
concerns are separate objects a library module may subclass, handed out by the device:
``dev.random`` (its generators, ``_generators``), ``dev.compiler`` (compiled training steps,
``_compiler``), ``dev.comm`` (messages between processes, ``_comm``), ``dev.executor`` (CPU
threads and memory budgets, ``_executor``), ``dev.kernels`` (the library's own fast kernels,
``_kernels``) and ``dev.updates`` (its fused optimizer updates, ``_updates``).
"""

from __future__ import annotations

import contextlib
import importlib
from typing import Any, ClassVar, Iterator

import array_api_compat
import array_api_extra as xpx
import numpy as np

from ._comm import Comm
from ._compiler import Compiler
from ._executor import Executor
from ._generators import DeviceRandom
from ._kernels import FastKernels
from ._updates import FusedUpdates

__all__ = ["FLOAT_NAMES", "Device", "DeviceError", "describe", "import_library", "numpy_dtype", "parse_index"]

# the floating dtypes anynet computes in, by their array-API names, narrowest first
FLOAT_NAMES = ("float16", "bfloat16", "float32", "float64")
"""The float dtype names anynet knows: "float16", "bfloat16", "float32", "float64"."""


class DeviceError(ValueError):
    """A device that is not there, or arrays from two libraries or two devices in one computation."""


class Device:
    """Where new arrays are born: an array namespace and a device inside it.

    Build one with ``anynet.as_device``: ``"cpu"`` (NumPy), ``"cuda"``/``"cuda:N"`` (CuPy),
    ``"torch:cpu"``, ``"torch:cuda:0"``, ``"jax:cpu"``, ``"array_api_strict:device1"``, or a
    namespace module and its device object.

    **Arguments:**

    - ``xp``: the array-api-compat namespace.
    - ``device``: the library's own device object ("cpu" for NumPy).
    - ``name``: canonical text that ``as_device`` reads back, e.g. "cpu", "cuda:0", "torch:cpu".
    """

    library: ClassVar[str] = "?"  # the array library's name
    prefixes: ClassVar[tuple[str, ...]] = ()  # the spec prefixes it parses ("torch" in "torch:cpu")
    is_host: ClassVar[bool] = False  # arrays are NumPy's: reading values costs no transfer
    writable: ClassVar[bool] = True  # arrays can be written in place (False on JAX)
    is_gpu: ClassVar[bool] = False  # an accelerator with its own memory (subclasses answer per device)
    # advice appended to the error for a floating dtype the device lacks
    dtype_advice: ClassVar[dict[str, str]] = {
        "bfloat16": "bfloat16 runs on 'torch:cpu', 'torch:cuda' and 'jax:cpu'",
        "float16": "float16 runs on 'cpu', 'cuda', 'torch:cpu' and 'jax:cpu'",
    }
    # the facets: classes built per device (random, comm), shared objects (compiler, executor)
    random_class: ClassVar[type[DeviceRandom]] = DeviceRandom
    comm_class: ClassVar[type[Comm]] = Comm
    compiler: ClassVar[Compiler] = Compiler()  # compiles nothing: steps run eager
    executor: ClassVar[Executor] = Executor()  # in order, CPU-sized chunks
    kernels: ClassVar[FastKernels] = FastKernels()  # none of its own: the reference runs
    updates: ClassVar[FusedUpdates] = FusedUpdates()  # no fused optimizer updates: each optimizer's own flat step

    __slots__ = ("xp", "device", "name", "_random", "_comm")

    def __init__(self, xp: Any, device: Any, name: str):
        self.xp = xp
        self.device = device
        self.name = name
        self._random: DeviceRandom | None = None
        self._comm: Comm | None = None

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
            advice = self.dtype_advice.get(name)
            raise DeviceError(f"device {self.name!r} has no {name}; it has {', '.join(self.float_dtypes)}"
                              + (f"; {advice}" if advice else ""))
        return found

    @contextlib.contextmanager
    def scope(self) -> Iterator[None]:
        """Entered around creation and kernel launches on this device (CuPy's current GPU)."""
        yield

    # -- the facets ------------------------------------------------------------------

    @property
    def random(self) -> DeviceRandom:
        """This device's generators: draw, save and restore (see ``_generators.DeviceRandom``)."""
        if self._random is None:
            self._random = self.random_class(self)
        return self._random

    @property
    def comm(self) -> Comm:
        """How this device's arrays travel between processes (see ``_comm.Comm``)."""
        if self._comm is None:
            self._comm = self.comm_class(self)
        return self._comm

    # -- arrays ----------------------------------------------------------------------

    def from_numpy(self, a: np.ndarray) -> Any:
        """A copy of the host array ``a`` on this device."""
        raise NotImplementedError

    def to_numpy(self, x: Any) -> np.ndarray:
        """``x`` (an array on this device) on the host: a copy, or a view where the memory is shared."""
        return np.asarray(x)

    def zeros(self, shape: tuple[int, ...], dtype: Any = None) -> Any:
        """Zeros of ``shape`` and ``dtype`` (float32 when None) on this device."""
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
            if y is not None and array_api_compat.device(y) == self.device:
                return y
        return self.from_numpy(source.to_numpy(x))

    def can_share(self, x: Any) -> bool:
        """Whether another library may see ``x``'s memory (not a read-only array)."""
        return True

    def pad(self, x: Any, widths: tuple[tuple[int, int], ...], value: float = 0.0) -> Any:
        """``x`` with ``widths[k] = (before, after)`` elements of ``value`` added on axis k."""
        return xpx.pad(x, widths, constant_values=value)

    def synchronize(self) -> None:
        """Wait until queued work on this device is done (timing asynchronous GPUs)."""


def describe(x: Any) -> str:
    """A short text naming an array's library, dtype, shape and device (for error messages)."""
    if not array_api_compat.is_array_api_obj(x):
        return f"{type(x).__name__}"
    lib = type(x).__module__.split(".")[0]
    lib = {"jaxlib": "jax", "builtins": "?"}.get(lib, lib)
    dtype = str(x.dtype).replace("torch.", "")
    return f"{lib} {dtype} array of shape {tuple(x.shape)} on {array_api_compat.device(x)}"


def numpy_dtype(dtype: Any) -> np.dtype:
    """The NumPy dtype of the same name as any library's dtype (float32 for None)."""
    if dtype is None:
        return np.dtype(np.float32)
    try:
        return np.dtype(dtype)
    except TypeError:
        return np.dtype(str(dtype).rsplit(".", 1)[-1])


def import_library(module: str, spec: str, install: str) -> Any:
    """Import the library a device spec needs, or say what to install (DeviceError)."""
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
