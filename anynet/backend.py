"""The one module that knows array libraries by name.

Everything else in anynet computes with the namespace of its inputs
(``namespace(x, W)``) and asks this module for what the array API standard
leaves out: where new arrays are born (the device context), moving arrays
between devices and to the host, and random numbers.
"""

from __future__ import annotations

import base64
import contextlib
import contextvars
import importlib
import zlib
from typing import Any, Iterator

import array_api_compat
import numpy as np

__all__ = [
    "Device",
    "DeviceError",
    "as_device",
    "current_device",
    "describe",
    "device",
    "device_of",
    "host_rng",
    "namespace",
    "normal",
    "rng_state",
    "seed",
    "set_rng_state",
    "to_device",
    "to_numpy",
    "uniform_like",
]


class DeviceError(ValueError):
    """Arrays from two libraries or two devices met in one computation."""


def _compat_numpy():
    return array_api_compat.array_namespace(np.empty(0))


class Device:
    """Where new arrays are born: an array namespace and a device inside it.

    Build one with ``as_device``: ``"cpu"`` (NumPy), ``"cuda"``/``"cuda:N"``
    (CuPy), ``"torch:cpu"``, ``"torch:cuda:0"``, ``"jax:cpu"``,
    ``"array_api_strict:device1"``, or a namespace module and its device object.
    """

    __slots__ = ("xp", "device", "name", "kind")

    def __init__(self, xp: Any, device: Any, name: str, kind: str):
        self.xp = xp  # the array-api-compat namespace
        self.device = device  # the library's own device object ("cpu" for NumPy)
        self.name = name  # canonical text, e.g. "cpu", "cuda:0", "torch:cpu"
        self.kind = kind  # numpy | cupy | torch | jax | array_api_strict | other

    def __repr__(self) -> str:
        return f"Device({self.name!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Device) and other.name == self.name

    def __hash__(self) -> int:
        return hash(self.name)

    @contextlib.contextmanager
    def _cuda_scope(self) -> Iterator[None]:
        # array-api-compat ignores device= in CuPy's creation functions; the
        # current CUDA device decides instead.
        if self.kind == "cupy":
            with self.device:
                yield
        else:
            yield

    def from_numpy(self, a: np.ndarray) -> Any:
        """A copy of the host array ``a`` on this device."""
        a = np.asarray(a)
        if self.kind == "numpy":
            return a
        if self.kind == "cupy":
            with self._cuda_scope():
                return self.xp.asarray(a)
        if self.kind == "torch":
            import torch

            return torch.tensor(a, device=self.device)
        if self.kind == "jax":
            import jax

            return jax.device_put(a, self.device)
        return self.xp.asarray(a, device=self.device)

    def synchronize(self) -> None:
        """Wait until queued work on this device is done (timing asynchronous GPUs)."""
        if self.kind == "cupy":
            self.device.synchronize()
        elif self.kind == "torch" and self.device.type == "cuda":
            import torch

            torch.cuda.synchronize(self.device)
        elif self.kind == "jax":
            import jax

            jax.effects_barrier()

    def zeros(self, shape: tuple[int, ...], dtype: Any = None) -> Any:
        dtype = self.xp.float32 if dtype is None else dtype
        with self._cuda_scope():
            return self.xp.zeros(shape, dtype=dtype, device=self.device)


_CURRENT: contextvars.ContextVar[Device | None] = contextvars.ContextVar(
    "anynet_device", default=None
)
_CPU: Device | None = None


def _cpu() -> Device:
    global _CPU
    if _CPU is None:
        _CPU = Device(_compat_numpy(), "cpu", "cpu", "numpy")
    return _CPU


def current_device() -> Device:
    """The device new arrays are born on: the innermost ``anynet.device``, else the CPU."""
    dev = _CURRENT.get()
    return _cpu() if dev is None else dev


def _kind_of(xp: Any) -> str:
    if array_api_compat.is_numpy_namespace(xp):
        return "numpy"
    if array_api_compat.is_cupy_namespace(xp):
        return "cupy"
    if array_api_compat.is_torch_namespace(xp):
        return "torch"
    if array_api_compat.is_jax_namespace(xp):
        return "jax"
    if array_api_compat.is_array_api_strict_namespace(xp):
        return "array_api_strict"
    return "other"


def _import(name: str, extra: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError as err:
        raise DeviceError(
            f"device {extra!r} needs the package {name!r}, which is not installed"
            + (" (pip install 'anynet[cuda12]' or 'anynet[cuda13]')" if name == "cupy" else "")
        ) from err


def _cupy_device(index: int) -> Device:
    cp = _import("cupy", f"cuda:{index}")
    if index >= cp.cuda.runtime.getDeviceCount():
        raise DeviceError(f"no CUDA device {index}: this machine has {cp.cuda.runtime.getDeviceCount()}")
    xp = array_api_compat.array_namespace(cp.empty(0))
    return Device(xp, cp.cuda.Device(index), f"cuda:{index}", "cupy")


def _device_name(kind: str, dev: Any) -> str:
    if kind == "numpy":
        return "cpu"
    if kind == "cupy":
        return f"cuda:{dev.id}"
    if kind == "torch":
        if dev.type == "cuda":
            return f"torch:cuda:{0 if dev.index is None else dev.index}"
        return f"torch:{dev}"
    if kind == "jax":
        return f"jax:{dev.platform}:{dev.id}"
    if kind == "array_api_strict":
        return f"array_api_strict:{getattr(dev, '_device', dev)}"  # its repr is not a name
    return f"{kind}:{dev}"


def _from_namespace(xp: Any, dev: Any = None) -> Device:
    xp = array_api_compat.array_namespace(xp.empty(0))  # raw module -> compat namespace
    kind = _kind_of(xp)
    if kind == "numpy":
        return _cpu()
    if kind == "cupy":
        if dev is None:
            import cupy

            dev = cupy.cuda.Device()
        return _cupy_device(dev if isinstance(dev, int) else dev.id)
    if kind == "torch":
        import torch

        dev = torch.device("cpu" if dev is None else dev)
        if dev.type == "cuda" and dev.index is None:
            dev = torch.device("cuda", torch.cuda.current_device())
    elif kind == "jax":
        import jax

        if dev is None:
            dev = jax.devices()[0]
        elif isinstance(dev, str):
            platform, _, index = dev.partition(":")
            dev = jax.devices(platform)[int(index or 0)]
    elif dev is None:
        dev = array_api_compat.device(xp.empty(0))
    elif kind == "array_api_strict" and isinstance(dev, str):
        dev = xp.Device(dev)
    return Device(xp, dev, _device_name(kind, dev), kind)


def as_device(spec: Any = None, dev: Any = None) -> Device:
    """Turn a device description into a ``Device``.

    ``spec`` is a ``Device``; an array (its device); a string such as
    ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"torch:cpu"``, ``"torch:cuda"``,
    ``"jax:cpu"``, ``"array_api_strict:device1"``; or an array namespace module
    (``torch``, ``jax.numpy``, ``array_api_strict``) with ``dev`` its device.
    ``None`` is the current device.
    """
    if spec is None:
        return current_device()
    if isinstance(spec, Device):
        return spec
    if isinstance(spec, str):
        lib, _, rest = spec.partition(":")
        lib = lib.strip().lower()
        if lib in ("cpu", "numpy") and rest in ("", "cpu"):
            return _cpu()
        if lib in ("cuda", "gpu", "cupy"):
            return _cupy_device(int(rest or 0))
        if lib == "torch":
            return _from_namespace(_import("torch", spec), rest or "cpu")
        if lib == "jax":
            _import("jax", spec)
            return _from_namespace(_import("jax.numpy", spec), rest or "cpu")
        if lib in ("array_api_strict", "strict"):
            strict = _import("array_api_strict", spec)
            return _from_namespace(strict, strict.Device(rest or "CPU_DEVICE"))
        raise DeviceError(
            f"unknown device {spec!r}: use 'cpu', 'cuda', 'cuda:N', 'torch:cpu', "
            "'torch:cuda', 'jax:cpu', 'array_api_strict:device1', or a namespace and a device"
        )
    if hasattr(spec, "__array_namespace__") or array_api_compat.is_array_api_obj(spec):
        return device_of(spec)
    if hasattr(spec, "__name__") and hasattr(spec, "asarray"):
        return _from_namespace(spec, dev)
    raise DeviceError(f"cannot read a device from {spec!r}")


@contextlib.contextmanager
def device(spec: Any = "cpu", dev: Any = None) -> Iterator[Device]:
    """Within the block, new parameters, batches and random draws are born on ``spec``.

    Computation always follows its inputs; the context only places new arrays.
    Nests, and is safe across threads and async tasks.
    """
    target = as_device(spec, dev)
    token = _CURRENT.set(target)
    try:
        with target._cuda_scope():
            yield target
    finally:
        _CURRENT.reset(token)


# -- namespaces of arrays -----------------------------------------------------

_NAMESPACES: dict[type, Any] = {}


def describe(x: Any) -> str:
    """A short text naming an array's library, dtype, shape and device."""
    if not array_api_compat.is_array_api_obj(x):
        return f"{type(x).__name__}"
    lib = type(x).__module__.split(".")[0]
    lib = {"jaxlib": "jax", "builtins": "?"}.get(lib, lib)
    dtype = str(x.dtype).replace("torch.", "")
    return f"{lib} {dtype} array of shape {tuple(x.shape)} on {array_api_compat.device(x)}"


_HINT = (
    "move the model with model.to(anynet.device_of(x)), or the data with "
    "anynet.to_device(x, device)"
)


def namespace(*arrays: Any, where: str = "anynet") -> Any:
    """The array namespace shared by ``arrays`` (None skipped), checking they share a device.

    Raises DeviceError naming both arrays when libraries or devices differ.
    """
    arrays = tuple(a for a in arrays if a is not None)
    first = type(arrays[0])
    xp = _NAMESPACES.get(first)
    if xp is None:
        try:
            xp = array_api_compat.array_namespace(arrays[0])
        except TypeError as err:
            raise TypeError(f"{where}: expected an array, got {describe(arrays[0])}") from err
        _NAMESPACES[first] = xp
    for a in arrays[1:]:
        if type(a) is not first and _namespace_of_other(a, where) is not xp:
            raise DeviceError(
                f"{where}: arrays from two libraries: {describe(arrays[0])} and {describe(a)}; {_HINT}"
            )
    if len(arrays) > 1 and first is not np.ndarray:
        dev = array_api_compat.device(arrays[0])
        for a in arrays[1:]:
            if array_api_compat.device(a) != dev:
                raise DeviceError(
                    f"{where}: arrays on two devices: {describe(arrays[0])} and {describe(a)}; {_HINT}"
                )
    return xp


def _namespace_of_other(a: Any, where: str) -> Any:
    try:
        return namespace(a, where=where)
    except TypeError:
        raise DeviceError(f"{where}: expected an array, got {describe(a)}") from None


_DEVICES: dict[tuple[type, str], Device] = {}


def device_of(x: Any) -> Device:
    """The ``Device`` an array lives on."""
    if isinstance(x, np.ndarray):
        return _cpu()
    dev = array_api_compat.device(x)
    key = (type(x), repr(dev))
    found = _DEVICES.get(key)
    if found is None:  # building a Device allocates; per-step callers (dropout) hit the cache
        xp = namespace(x)
        found = _cpu() if _kind_of(xp) == "numpy" else _from_namespace(xp, dev)
        _DEVICES[key] = found
    return found


# -- moving arrays ------------------------------------------------------------


def to_numpy(x: Any) -> np.ndarray:
    """A NumPy copy (or view, for NumPy input) of any array, brought to the host."""
    if isinstance(x, np.ndarray):
        return x
    if isinstance(x, (int, float, bool, list, tuple)):
        return np.asarray(x)
    kind = _kind_of(namespace(x))
    if kind == "cupy":
        return x.get()
    if kind == "torch":
        return x.detach().cpu().numpy()
    if kind == "array_api_strict":
        import array_api_strict

        return np.asarray(x.to_device(array_api_strict.Device("CPU_DEVICE")))
    if kind == "numpy":
        return np.asarray(x)
    return np.from_dlpack(x) if kind == "other" else np.asarray(x)


def to_device(x: Any, device: Any = None) -> Any:
    """``x`` on ``device`` (default: the current one); the same object if already there.

    Host data (NumPy arrays, lists, scalars) and arrays of any library are accepted.
    """
    target = as_device(device)
    if isinstance(x, np.ndarray) or not array_api_compat.is_array_api_obj(x):
        return target.from_numpy(np.asarray(x))
    if device_of(x) == target:
        return x
    if target.kind == "numpy":
        return to_numpy(x)
    same_lib = _kind_of(namespace(x)) == target.kind
    if same_lib and target.kind == "torch":
        return x.to(target.device)
    if same_lib and target.kind == "array_api_strict":
        return x.to_device(target.device)
    if same_lib and target.kind == "jax":
        import jax

        return jax.device_put(x, target.device)
    return target.from_numpy(to_numpy(x))


# -- random numbers -----------------------------------------------------------
# The standard has no random numbers. Weight initialisation draws on the host
# (once; the same numbers on every device for one seed); per-step draws such as
# dropout masks use a generator that lives on the array's own device.

_SEED: int | None = None
_HOST: np.random.Generator = np.random.default_rng()
_DEVICE_RNGS: dict[str, Any] = {}


def seed(n: int) -> None:
    """Make every later random draw repeatable: weights, dropout masks, shuffling."""
    global _SEED, _HOST
    _SEED = int(n)
    _HOST = np.random.default_rng(_SEED)
    _DEVICE_RNGS.clear()


def host_rng() -> np.random.Generator:
    """The seeded host generator (initialisation, shuffling)."""
    return _HOST


def _device_seed(dev: Device) -> int | None:
    if _SEED is None:
        return None
    return (_SEED * 1_000_003 + zlib.crc32(dev.name.encode())) % (2**63)


class _JaxKey:
    def __init__(self, s: int | None, dev: Any):
        import jax

        self.key = jax.device_put(jax.random.key(np.random.SeedSequence(s).generate_state(1)[0]), dev)

    def uniform(self, shape: tuple[int, ...], dtype: Any) -> Any:
        import jax

        self.key, sub = jax.random.split(self.key)
        return jax.random.uniform(sub, shape, dtype=dtype)


def _device_rng(dev: Device) -> Any:
    rng = _DEVICE_RNGS.get(dev.name)
    if rng is None:
        s = _device_seed(dev)
        if dev.kind == "cupy":
            import cupy

            with dev._cuda_scope():
                rng = cupy.random.default_rng(s)
        elif dev.kind == "torch":
            import torch

            rng = torch.Generator(device=dev.device)
            rng.manual_seed(s) if s is not None else rng.seed()
        elif dev.kind == "jax":
            rng = _JaxKey(s, dev.device)
        else:
            rng = np.random.default_rng(s)
        _DEVICE_RNGS[dev.name] = rng
    return rng


def uniform_like(x: Any, shape: tuple[int, ...] | None = None) -> Any:
    """Uniform [0, 1) numbers of ``x``'s dtype, drawn on ``x``'s device."""
    dev = device_of(x)
    shape = tuple(x.shape) if shape is None else shape
    rng = _device_rng(dev)
    if dev.kind == "cupy":
        with dev._cuda_scope():
            return rng.random(shape, dtype=x.dtype)
    if dev.kind == "torch":
        import torch

        return torch.rand(shape, generator=rng, device=dev.device, dtype=x.dtype)
    if dev.kind == "jax":
        return rng.uniform(shape, x.dtype)
    u = rng.random(shape, dtype=np.float64 if "64" in str(x.dtype) else np.float32)
    return u if dev.kind == "numpy" else dev.from_numpy(u)


def normal(shape: tuple[int, ...], scale: float = 1.0, dtype: Any = None, device: Any = None) -> Any:
    """Normal(0, scale^2) numbers drawn on the host and placed on ``device``.

    Drawn on the host so that one seed gives the same weights on every device.
    """
    dev = as_device(device)
    w = (_HOST.standard_normal(shape) * scale).astype(numpy_dtype(dtype))
    return dev.from_numpy(w)


def numpy_dtype(dtype: Any) -> np.dtype:
    """The NumPy dtype of the same name as any library's dtype (float32 for None)."""
    if dtype is None:
        return np.dtype(np.float32)
    try:
        return np.dtype(dtype)
    except TypeError:
        return np.dtype(str(dtype).rsplit(".", 1)[-1])


def rng_state() -> dict[str, Any]:
    """The state of the host generator and of every device generator drawn from so far
    (JSON-able), so that a resumed run draws the same numbers. CuPy's generators are
    not included: after a restore they start again from the seed."""
    devices: dict[str, Any] = {}
    for name, rng in _DEVICE_RNGS.items():
        if isinstance(rng, np.random.Generator):
            devices[name] = {"numpy": rng.bit_generator.state}
        elif isinstance(rng, _JaxKey):
            import jax

            devices[name] = {"jax": np.asarray(jax.random.key_data(rng.key)).tolist()}
        elif type(rng).__module__.startswith("torch"):
            devices[name] = {"torch": base64.b64encode(rng.get_state().numpy().tobytes()).decode()}
    return {"seed": _SEED, "host": _HOST.bit_generator.state, "devices": devices}


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what ``rng_state`` returned."""
    global _SEED, _HOST
    _SEED = state["seed"]
    _HOST = np.random.default_rng()
    _HOST.bit_generator.state = state["host"]
    _DEVICE_RNGS.clear()
    for name, saved in state["devices"].items():
        if "numpy" in saved:
            rng = np.random.default_rng()
            rng.bit_generator.state = saved["numpy"]
        elif "jax" in saved:
            import jax

            rng = _JaxKey(0, as_device(name).device)
            key = jax.random.wrap_key_data(np.asarray(saved["jax"], dtype=np.uint32))
            rng.key = jax.device_put(key, as_device(name).device)
        elif "torch" in saved:
            import torch

            rng = _device_rng(as_device(name))
            raw = np.frombuffer(base64.b64decode(saved["torch"]), dtype=np.uint8).copy()
            rng.set_state(torch.from_numpy(raw))
        else:
            continue
        _DEVICE_RNGS[name] = rng
