"""The fused flat updates of ``_updates`` on CuPy: one ``cupy.ElementwiseKernel`` per rule, reading
the gradient and writing the weights and the optimizer's state in one pass over the FlatBuffer.

Each kernel is type-generic (``T``, the buffer's dtype: float32, or float64; under mixed precision
the buffer holds the float32 master weights and their float32 gradients), its scalars cast to
``T`` as the rule's Python floats are on an array of ``T``, its operations those of the rule in the
rule's order, compiled with ``--fmad=false`` so that NVRTC contracts no product and sum into one
rounding that the array operations of the reference round twice.

**Unchecked**: written against CuPy's documented ``ElementwiseKernel`` API (argument lists with a
type placeholder, output arrays passed in and updated in place, ``options`` handed to NVRTC,
``no_return``) but never run on a GPU. So these updates are off unless
``anynet.kernels.unchecked()`` is active; without them CuPy runs the optimizers' in-place steps
(a few array operations, one kernel each). A GPU run of ``tests/optim/test_fused.py`` checks them.
"""

from __future__ import annotations

import functools
from typing import Any

from ._cupy_kernels import gpu_missing
from ._updates import FusedUpdates

__all__ = ["CuPyFusedUpdates"]

_IN = "T g, T lr"  # every kernel's first inputs; its out arguments are the arrays it updates in place
_ADAM_IN = f"{_IN}, T beta1, T c1, T beta2, T c2, T eps, T bias1, T bias2"
_MOMENTS = "m = beta1 * m + c1 * g; v = beta2 * v + c2 * (g * g);"
_ADAM_STEP = "lr * (m / bias1) / (sqrt(v / bias2) + eps)"
# name -> (in_params, out_params, operation): each one of anynet's rules, as in anynet.optim
_SOURCES = {
    "sgd_update": (_IN, "T w", "w = w - lr * g;"),
    "momentum_update": (f"{_IN}, T mu", "T w, T v", "v = mu * v - lr * g; w = w + v;"),
    "nesterov_update": (f"{_IN}, T mu", "T w, T v", "v = mu * v - lr * g; w = w + mu * v - lr * g;"),
    "adam_update": (_ADAM_IN, "T w, T m, T v", f"{_MOMENTS} w = w - {_ADAM_STEP};"),
    "adamw_update": (f"{_ADAM_IN}, T lr_wd", "T w, T m, T v",
                     f"{_MOMENTS} T w0 = w; w = w0 - {_ADAM_STEP} - lr_wd * w0;"),
}


@functools.cache
def _kernel(name: str) -> Any:
    """The ``ElementwiseKernel`` of one update, built once per process (CuPy compiles it per device
    and dtype at its first call and caches the binary)."""
    import cupy

    in_params, out_params, operation = _SOURCES[name]
    return cupy.ElementwiseKernel(in_params, out_params, operation, f"anynet_{name}",
                                  options=("--fmad=false",), no_return=True)


class CuPyFusedUpdates(FusedUpdates):
    """SGD, Momentum, Nesterov, Adam and AdamW as one CuPy ``ElementwiseKernel`` each, on CuPy's
    current device and stream."""

    name = "cupy-elementwise"
    checked = False  # no GPU has run these yet: see the module's notes

    def unavailable(self) -> str | None:
        """Why the kernels cannot run here: a working CUDA GPU missing; None when they can."""
        return gpu_missing()

    def sgd_update(self, w: Any, g: Any, state: dict[str, Any], lr: float, t: int) -> None:
        """w <- w - lr g."""
        _kernel("sgd_update")(g, lr, w)

    def momentum_update(self, w: Any, g: Any, state: dict[str, Any], lr: float, t: int, *, momentum: float) -> None:
        """v <- momentum v - lr g; w <- w + v."""
        _kernel("momentum_update")(g, lr, momentum, w, state["v"])

    def nesterov_update(self, w: Any, g: Any, state: dict[str, Any], lr: float, t: int, *, momentum: float) -> None:
        """v <- momentum v - lr g; w <- w + momentum v - lr g."""
        _kernel("nesterov_update")(g, lr, momentum, w, state["v"])

    def adam_update(self, w: Any, g: Any, state: dict[str, Any], lr: float, t: int, *, beta1: float,
                    beta2: float, eps: float, bias1: float, bias2: float) -> None:
        """Adam's moments and step, with the bias corrections the optimizer computed."""
        _kernel("adam_update")(g, lr, beta1, 1.0 - beta1, beta2, 1.0 - beta2, eps, bias1, bias2,
                               w, state["m"], state["v"])

    def adamw_update(self, w: Any, g: Any, state: dict[str, Any], lr: float, t: int, *, beta1: float,
                     beta2: float, eps: float, bias1: float, bias2: float, weight_decay: float) -> None:
        """Adam's step, then the decoupled decay lr weight_decay of the weights before the step."""
        _kernel("adamw_update")(g, lr, beta1, 1.0 - beta1, beta2, 1.0 - beta2, eps, bias1, bias2, lr * weight_decay,
                                w, state["m"], state["v"])
