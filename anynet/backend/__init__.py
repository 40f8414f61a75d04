"""The one package that knows array libraries by name.

Everything else in anynet computes with the namespace of its inputs (``namespace(x, W)``) and
asks this package for what the array API standard leaves out: where new arrays are born (the
device context), moving arrays between devices and to the host, and random numbers.

The modules, each importing only those listed before it:

- ``_compiler``, ``_comm``, ``_executor``, ``_generators``, ``_kernels``, ``_updates``, ``_malloc``: the
  facets a device hands out (``dev.compiler``, ``dev.comm``, ``dev.executor``, ``dev.random``,
  ``dev.kernels``, ``dev.updates``) and the allocator setting; ``_cpu_threads``: the CPU's executor
  (reads ``anynet.config``); ``_numpy_kernels``, ``_torch_kernels``, ``_jax_kernels``,
  ``_cupy_kernels``: each library's own kernels for ``anynet.kernels`` (the cuDNN Frontend's
  unchecked, off by default); ``_torch_updates``, ``_cupy_updates``: fused optimizer updates (CuPy's
  unchecked, off by default);
- ``_device``: the core ``Device``; ``_context``: the context's variables;
- ``_numpy``, ``_cupy``, ``_torch``, ``_jax``, ``_strict``, ``_ndonnx``, ``_generic``: one
  ``Device`` subclass per library (with its facets);
- ``_registry``: the list of libraries, reading a ``Device`` from a spec or an array;
- ``_placement``: ``device(...)``, ``current_dtype()``; ``_arrays``: namespaces and moves;
- ``_random``: the run's ``RandomStreams``.

Adding a library is adding a module with its ``Device`` subclass and listing it in
``_registry.LIBRARIES`` (or calling ``register`` from outside the package).
"""

from ._arrays import array_device, following, is_host, namespace, pad, to_device, to_numpy
from ._comm import Comm
from ._compiler import Compiler, trace_constant
from ._device import FLOAT_NAMES, Device, DeviceError, describe, numpy_dtype
from ._executor import Executor, GpuExecutor
from ._generators import DeviceRandom
from ._generic import GenericDevice
from ._kernels import OPERATIONS, FastKernels
from ._placement import current_dtype, device
from ._random import (
    RandomStreams,
    check_rng_state,
    current_streams,
    host_rng,
    normal,
    rng_state,
    seed,
    seed_process,
    set_rng_state,
    set_step_key,
    step_key,
    threaded_key,
    uniform_like,
    use_streams,
)
from ._registry import as_device, current_device, device_of, library_of, local_device, register, unregister
from ._updates import UPDATES, FusedUpdates

# the error users catch shows as anynet.backend.DeviceError, where it is documented, not as its private module's
DeviceError.__module__ = __name__

__all__ = [
    "FLOAT_NAMES", "OPERATIONS", "UPDATES", "Comm", "Compiler", "Device", "DeviceError", "DeviceRandom", "Executor",
    "FastKernels", "FusedUpdates", "GenericDevice", "GpuExecutor", "RandomStreams", "array_device", "as_device",
    "check_rng_state", "current_device", "current_dtype", "current_streams", "describe", "device", "device_of",
    "following",
    "host_rng", "is_host", "library_of", "local_device", "namespace", "normal", "numpy_dtype", "pad", "register",
    "rng_state", "seed", "seed_process", "set_rng_state", "set_step_key", "step_key", "threaded_key",
    "to_device", "to_numpy", "trace_constant", "unregister", "uniform_like", "use_streams",
]
