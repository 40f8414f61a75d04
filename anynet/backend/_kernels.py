"""A device's fast kernels: its library's own implementation of named window operations.

``anynet.kernels`` holds the reference of every operation, written once in array-API code. A
``Device`` may hand out, as ``dev.kernels``, an object whose methods of the names in ``OPERATIONS``
compute the same thing with its library's own kernel (PyTorch's oneDNN convolution, JAX's
``lax.conv_general_dilated``); ``anynet.kernels`` calls them unless its ``reference()`` context is
active. The base ``FastKernels`` has none: everything runs the reference. Each library's kernels
live beside its device (``_numpy_kernels``, ``_torch_kernels``, ``_jax_kernels``, ``_cupy_kernels``).

Each method takes and returns arrays of its library, with the signature of the reference of the
same name (see ``anynet.kernels``); shapes are NCHW, ``kernel``, ``stride`` and ``pad`` are
(height, width) pairs of ints.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = ["OPERATIONS", "FastKernels"]

# the operations a device may supply, by name
OPERATIONS = (
    "im2col",
    "conv2d_forward", "conv2d_dgrad", "conv2d_wgrad",
    "max_pool2d_forward", "max_pool2d_backward",
    "avg_pool2d_forward", "avg_pool2d_backward",
)
"""The operations a device may supply its own kernel for (``FastKernels``); ``anynet.kernels`` has the reference."""


class FastKernels:
    """A device's own kernels for some of ``OPERATIONS``; this one supplies none.

    A subclass defines methods named after operations. ``checked = False`` marks kernels that no
    test has run on their hardware yet (the cuDNN Frontend path): ``anynet.kernels`` uses them only
    inside ``anynet.kernels.unchecked()``.
    """

    name: ClassVar[str] = "reference"  # how the docs and ``anynet.kernels.implementation`` call it
    checked: ClassVar[bool] = True

    def supplies(self, operation: str) -> bool:
        """Whether this object has its own kernel for ``operation`` (one of ``OPERATIONS``).

        **Arguments:**

        - ``operation``: the operation's name, e.g. ``"conv2d_forward"``.

        **Returns:** True where a method of that name is defined.
        """
        return operation in OPERATIONS and callable(getattr(self, operation, None))

    def unavailable(self) -> str | None:
        """Why these kernels cannot run here (a missing optional package), or None when they can.
        Asked once per kernel call only for unchecked kernels that were switched on."""
        return None

    def __repr__(self) -> str:
        own = [op for op in OPERATIONS if self.supplies(op)]
        return f"{type(self).__name__}({', '.join(own) or 'none'})"
