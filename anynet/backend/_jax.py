"""JAX arrays: ``"jax:cpu"``, ``"jax:gpu:N"``. JAX arrays are immutable (``writable = False``)."""

from __future__ import annotations

from typing import Any, Callable

import array_api_compat
import numpy as np

from ._compiler import Compiler
from ._device import Device, DeviceError, import_library, parse_index
from ._executor import Executor, GpuExecutor
from ._generators import DeviceRandom
from ._jax_kernels import JaxKernels

__all__ = ["JaxDevice"]


class _Key:
    """A JAX key that splits itself on every draw, so it behaves like a stateful generator."""

    def __init__(self, key: Any):
        self.key = key

    def uniform(self, shape: tuple[int, ...], dtype: Any) -> Any:
        u, self.key = _uniform_from_key(self.key, shape, dtype)
        return u


def _uniform_from_key(key: Any, shape: tuple[int, ...], dtype: Any) -> tuple[Any, Any]:
    # One definition for the stateful generator and the key a compiled step threads through,
    # so both draw the same masks from the same key.
    import jax

    key, sub = jax.random.split(key)
    return jax.random.uniform(sub, shape, dtype=dtype), key


class JaxRandom(DeviceRandom):
    """Keys on the device, split at every draw; a compiled step threads them as pure values."""

    def new_rng(self, seed: int | None) -> Any:
        import jax

        key = jax.random.key(np.random.SeedSequence(seed).generate_state(1)[0])
        return _Key(jax.device_put(key, self.dev.device))

    def uniform(self, rng: Any, shape: tuple[int, ...], dtype: Any) -> Any:
        return rng.uniform(shape, dtype)

    def rng_state(self, rng: Any) -> dict[str, Any]:
        import jax

        return {"jax": np.asarray(jax.random.key_data(rng.key)).tolist()}

    def restore_rng(self, saved: dict[str, Any]) -> Any | None:
        if "jax" not in saved:
            return None
        import jax

        key = jax.random.wrap_key_data(np.asarray(saved["jax"], dtype=np.uint32))
        return _Key(jax.device_put(key, self.dev.device))

    def key_of(self, rng: Any) -> Any:
        return rng.key

    def set_key(self, rng: Any, key: Any) -> None:
        rng.key = key

    def uniform_from_key(self, key: Any, shape: tuple[int, ...], dtype: Any) -> tuple[Any, Any]:
        return _uniform_from_key(key, shape, dtype)


class JaxCompiler(Compiler):
    """``jax.jit``, donating the parameters and optimizer state."""

    def compile_step(self, fn: Callable[..., Any], donate: tuple[int, ...],
                     on_trace: Callable[[], None]) -> Callable[..., Any]:
        import jax

        def traced(*args: Any) -> Any:
            on_trace()  # Python runs only while jax.jit traces
            return fn(*args)

        # donated parameters and optimizer state: XLA writes the update into their buffers
        return jax.jit(traced, donate_argnums=donate)


_GPU_EXECUTORS: dict[Any, GpuExecutor] = {}


class JaxDevice(Device):
    """JAX arrays on one of JAX's devices."""

    library = "jax"
    prefixes = ("jax",)
    writable = False
    random_class = JaxRandom
    compiler = JaxCompiler()
    kernels = JaxKernels()  # XLA's convolution and window reductions
    dtype_advice = {**Device.dtype_advice, "float64": (
        "JAX makes float64 arrays only in its 64-bit mode: set JAX_ENABLE_X64=1 in the environment (the "
        "anynet command), or call jax.config.update('jax_enable_x64', True) at start-up in Python")}

    owns = staticmethod(array_api_compat.is_jax_namespace)

    @staticmethod
    def device_key(x: Any) -> Any:
        # a JAX Device, hashable; a value traced by jax.jit has none (None: the default device)
        return getattr(x, "device", None)

    @classmethod
    def parse(cls, rest: str, spec: str) -> Device:
        jax = import_library("jax", spec, "pip install 'jax[cpu]'")
        platform, _, index = (rest or "cpu").partition(":")
        platform = {"cuda": "gpu"}.get(platform, platform)
        try:
            devices = jax.devices(platform)
        except RuntimeError as err:
            there = sorted({d.platform for d in jax.devices()})
            raise DeviceError(f"device {spec!r}: JAX has no {platform!r} devices here; available: {there}") from err
        return cls.of(None, devices[parse_index(index, spec, len(devices), f"JAX {platform}")])

    @classmethod
    def of(cls, xp: Any, dev: Any) -> Device:
        import jax

        if dev is None:
            dev = jax.devices()[0]
        return cls(array_api_compat.array_namespace(jax.numpy.empty(0)), dev, f"jax:{dev.platform}:{dev.id}")

    @property
    def memory(self) -> tuple[str, int]:
        return ("cpu", 0) if self.device.platform == "cpu" else ("cuda", self.device.id)

    @property
    def is_gpu(self) -> bool:
        return self.device.platform != "cpu"

    @property
    def executor(self) -> Executor:
        """GPU-sized chunks on a GPU, CPU-sized ones on the CPU."""
        if not self.is_gpu:
            return Device.executor
        found = _GPU_EXECUTORS.get(self.device)
        if found is None:
            found = _GPU_EXECUTORS[self.device] = GpuExecutor()  # data sets: the default budget
        return found

    @property
    def float_dtypes(self) -> dict[str, Any]:
        import jax

        found = super().float_dtypes
        if not jax.config.read("jax_enable_x64"):
            del found["float64"]  # JAX would silently make float32 arrays of it
        return found

    def from_numpy(self, a: np.ndarray) -> Any:
        import jax

        return jax.device_put(a, self.device)

    def to_numpy(self, x: Any) -> np.ndarray:
        import jax.numpy as jnp

        if x.dtype == jnp.bfloat16:  # as on PyTorch: float32 holds every bfloat16 exactly
            x = x.astype(jnp.float32)
        return np.asarray(x)

    def receive(self, x: Any, source: Device) -> Any:
        if isinstance(source, JaxDevice):
            import jax

            return jax.device_put(x, self.device)
        return super().receive(x, source)

    def synchronize(self) -> None:
        import jax

        jax.effects_barrier()
