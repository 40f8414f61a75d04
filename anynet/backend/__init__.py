"""The one package that knows array libraries by name.

Everything else in anynet computes with the namespace of its inputs (``namespace(x, W)``) and
asks this package for what the array API standard leaves out: where new arrays are born (the
device context), moving arrays between devices and to the host, and random numbers. Each
library has one module with its ``Device`` subclass (``_numpy``, ``_cupy``, ``_torch``, ``_jax``,
``_strict``, ``_ndonnx``); adding a library is adding a module that registers its class.
"""

from . import _cupy, _jax, _ndonnx, _numpy, _strict, _torch  # noqa: F401 - each registers its Device class
from ._arrays import array_device, describe, device_of, following, is_host, namespace, pad, to_device, to_numpy
from ._context import as_device, current_device, current_dtype, device, library_of, local_device
from ._device import FLOAT_NAMES, Device, DeviceError, trace_constant
from ._generic import GenericDevice
from ._random import (
    check_rng_state,
    host_rng,
    normal,
    numpy_dtype,
    rng_state,
    seed,
    seed_process,
    set_rng_state,
    set_step_key,
    step_key,
    threaded_key,
    uniform_like,
)

__all__ = [
    "FLOAT_NAMES", "Device", "DeviceError", "GenericDevice", "array_device", "as_device", "check_rng_state",
    "current_device", "current_dtype", "describe", "device", "device_of", "following", "host_rng", "is_host",
    "library_of", "local_device", "namespace", "normal", "numpy_dtype", "pad", "rng_state", "seed", "seed_process",
    "set_rng_state", "set_step_key", "step_key", "threaded_key", "to_device", "to_numpy", "trace_constant",
    "uniform_like",
]
