"""A device's fused optimizer updates: one kernel over a whole FlatBuffer for the weights, the
gradient and the optimizer's state.

On a FlatBuffer (``anynet.parameter.FlatBuffer``) the optimizers of ``anynet.optim`` step all
parameters as one array: their rule (``run_rule_flat``) or its hand-written in-place form, a few
array operations, each one pass over the buffer (one kernel launch each on a GPU). A device may
hand out, as ``dev.updates``, a ``FusedUpdates`` whose methods of the names in ``UPDATES`` do the
same step in one pass with its library's own kernel (``torch._fused_adam_``, a CuPy
``ElementwiseKernel``). The optimizer asks for one through ``anynet.kernels.fused_update`` and
runs its own flat step where none is handed out: the device supplies none, the dtype is not
one it takes, ``anynet.kernels.reference()`` is active, or the kernels are unchecked
(``checked = False``) and ``anynet.kernels.unchecked()`` is not. Each library's fused updates live
beside its device (``_torch_updates``, ``_cupy_updates``).

Every method has one signature, ``update(w, g, state, lr, t, **numbers)``, and returns nothing:

- ``w``: the flat weights (P,), written in place; ``g``: the flat gradient (P,), same dtype;
- ``state``: the optimizer's flat state arrays by slot name (``{"v": ...}``, ``{"m": ..., "v": ...}``),
  written in place;
- ``lr``: this update's learning rate, a Python float; ``t``: the update count, a Python int (1 first);
- ``numbers``: the optimizer's hyper-parameters, Python floats:

| update | state | numbers | the rule it must compute |
|---|---|---|---|
| ``sgd_update`` | - | - | ``SGD``: w <- w - lr g |
| ``momentum_update`` | v | momentum | ``Momentum``: v <- momentum v - lr g; w <- w + v |
| ``nesterov_update`` | v | momentum | ``Nesterov``: v <- momentum v - lr g; w <- w + momentum v - lr g |
| ``adam_update`` | m, v | beta1, beta2, eps, bias1, bias2 | ``Adam`` (bias_k = 1 - beta_k^t) |
| ``adamw_update`` | m, v | the same and weight_decay | ``AdamW`` |
"""

from __future__ import annotations

from typing import Any, ClassVar

from ._kernels import FastKernels

__all__ = ["UPDATES", "FusedUpdates"]

UPDATES = ("sgd_update", "momentum_update", "nesterov_update", "adam_update", "adamw_update")
"""The fused flat optimizer updates a device may supply (``FusedUpdates``)."""


class FusedUpdates(FastKernels):
    """A device's fused flat updates for some of ``UPDATES``; this one supplies none (each
    optimizer runs its own flat step). ``checked`` and ``unavailable`` mean what they mean for
    ``FastKernels``; ``dtypes`` names the dtypes of the buffers the updates take."""

    dtypes: ClassVar[tuple[str, ...]] = ("float32", "float64")

    def supplies(self, operation: str) -> bool:
        """Whether this object has its own fused update ``operation`` (one of ``UPDATES``).

        **Arguments:**

        - ``operation``: the update's name, e.g. ``"adam_update"``.

        **Returns:** True where a method of that name is defined.
        """
        return operation in UPDATES and callable(getattr(self, operation, None))

    def takes(self, x: Any) -> bool:
        """Whether the updates take a buffer of ``x``'s dtype.

        **Arguments:**

        - ``x``: the flat weights (an array of this device's library).

        **Returns:** True where the dtype is one of ``dtypes``.
        """
        return str(x.dtype).rsplit(".", 1)[-1] in self.dtypes

    def __repr__(self) -> str:
        own = [op for op in UPDATES if self.supplies(op)]
        return f"{type(self).__name__}({', '.join(own) or 'none'})"
