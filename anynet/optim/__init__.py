"""Optimizers: ``opt.update(params)`` steps every parameter with a gradient.

Each optimizer writes its update once, as a rule over arrays,
``rule(w, g, state, lr, t) -> (new w, new state)`` (``anynet.optim.base``). The runner
applies it to each parameter, assigning ``p.data = new`` and never writing into an array,
so it works on immutable arrays (JAX). Where arrays are writable (NumPy, CuPy, PyTorch) an
elementwise optimizer lays the parameters end to end in an ``anynet.parameter.FlatBuffer``
(each ``p.data`` becomes a view of it, copied once, so no caller's array is ever written),
applies the rule once to the whole buffer and writes the result back in place; SGD,
Momentum, Nesterov, Adam and AdamW have a hand-written in-place form of their rule for this,
registered with ``in_place`` (``benchmarks/results-optim-flat.md`` measures what it saves).
Where the buffer's device supplies a fused update (PyTorch's fused SGD, Adam and AdamW; CuPy's
ElementwiseKernels, unchecked), eager steps of these optimizers run it instead
(``anynet.kernels.fused_update``; off inside ``anynet.kernels.reference()``).
Per-parameter state lives in ``p.state`` (created on the parameter's device, in its dtype,
on first use; views of the buffer's flat state on the flat path), so moving a model moves it too.

``lr`` is a number or a schedule, any callable ``lr(iteration) -> float``
(``anynet.optim.schedules``): the optimizer asks it once per update with the number
of updates done so far. Weight decay and gradient clipping are hooks
(``anynet.optim.hooks``) that rewrite the gradients before the step.
"""

from .adam import LAMB, Adam, AdamW, Lion, Nadam, RAdam
from .base import Hook as Hook  # the hooks' type, as before the package split
from .base import Optimizer
from .sgd import SGD, AdaDelta, AdaGrad, Momentum, Nesterov, RMSProp

__all__ = [
    "LAMB", "AdaDelta", "AdaGrad", "Adam", "AdamW", "Lion", "Momentum", "Nadam", "Nesterov", "Optimizer",
    "RAdam", "RMSProp", "SGD",
]
