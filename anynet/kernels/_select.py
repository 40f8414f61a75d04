"""Which implementation runs an operation: the device's own kernel, or the reference.

Two context variables (thread- and async-safe, nesting, as the device context): ``reference()``
forces the array-API reference everywhere; ``unchecked()`` lets kernels that no test has run on
their hardware yet (``FastKernels.checked = False``) run. Their reads are trace constants, so a
compiled step (torch.compile, jax.jit) keeps the choice it was traced under.
"""

from __future__ import annotations

import contextlib
import contextvars
from typing import Any, Callable, Iterator

from ..backend import UPDATES, DeviceError, as_device, device_of, trace_constant

__all__ = ["fast_kernel", "implementation", "reference", "reference_active", "unchecked", "unchecked_active"]

_REFERENCE: contextvars.ContextVar[bool] = contextvars.ContextVar("anynet_kernels_reference", default=False)
_UNCHECKED: contextvars.ContextVar[bool] = contextvars.ContextVar("anynet_kernels_unchecked", default=False)


@trace_constant
def reference_active() -> bool:
    """Whether the innermost ``reference()`` block is active here (the reference runs everywhere)."""
    return _REFERENCE.get()


@trace_constant
def unchecked_active() -> bool:
    """Whether the innermost ``unchecked()`` block is active here."""
    return _UNCHECKED.get()


@contextlib.contextmanager
def reference(active: bool = True) -> Iterator[None]:
    """Run every kernel as its array-API reference inside the block, on every device::

        with anynet.kernels.reference():
            y = model.forward(x)        # im2col + matmul, even on torch or JAX arrays

    **Arguments:**

    - ``active``: False re-enables the fast kernels inside an outer ``reference()`` block.
    """
    token = _REFERENCE.set(bool(active))
    try:
        yield
    finally:
        _REFERENCE.reset(token)


@contextlib.contextmanager
def unchecked(active: bool = True) -> Iterator[None]:
    """Let fast kernels that no test has yet run on their hardware run inside the block: today the
    cuDNN Frontend convolutions on CuPy (``anynet[cudnn]``), written against its documented API and
    never run on a GPU. Off by default; where they cannot run (the package or a GPU missing), a
    kernel call inside the block raises ``DeviceError`` saying why.

    **Arguments:**

    - ``active``: False switches them off again inside an outer block.
    """
    token = _UNCHECKED.set(bool(active))
    try:
        yield
    finally:
        _UNCHECKED.reset(token)


def _chosen(kernels: Any, operation: str) -> Callable[..., Any] | None:
    if reference_active() or not kernels.supplies(operation):
        return None
    if not kernels.checked:
        if not unchecked_active():
            return None
        why = kernels.unavailable()
        if why is not None:
            raise DeviceError(f"anynet.kernels: the unchecked {kernels.name} kernels were switched on "
                              f"(anynet.kernels.unchecked()) but cannot run: {why}")
    return getattr(kernels, operation)


def fast_kernel(operation: str, x: Any) -> Callable[..., Any] | None:
    """The device's own kernel for ``operation`` on the array ``x``, or None where the reference
    runs (none supplied, ``reference()`` active, or unchecked and not switched on).

    **Arguments:**

    - ``operation``: one of ``anynet.backend._kernels.OPERATIONS``.
    - ``x``: an array of the computation (its device decides).

    **Returns:** the kernel (a bound method of the device's ``FastKernels``) or None.
    """
    return _chosen(device_of(x).kernels, operation)


def implementation(operation: str, device: Any = None) -> str:
    """What runs ``operation`` on ``device`` here and now: the name of the device's fast kernels
    or fused updates (``"torch"``, ``"jax"``, ``"numpy"``, ``"cudnn-frontend"``,
    ``"cupy-elementwise"``) or ``"reference"`` (for an update of ``UPDATES``: the optimizer's own
    flat step).

    **Arguments:**

    - ``operation``: e.g. ``"conv2d_forward"``, ``"adam_update"``.
    - ``device``: a device spec or ``Device`` (None: the current device).

    **Returns:** the name; DeviceError where unchecked kernels are switched on but cannot run.
    """
    dev = as_device(device)
    kernels = dev.updates if operation in UPDATES else dev.kernels
    return "reference" if _chosen(kernels, operation) is None else kernels.name
