"""Optimizers: ``opt.update(params)`` steps every parameter with a gradient.

The reference path assigns ``p.data = new`` for each parameter and never writes
into an array, so it works on immutable arrays (JAX). Where arrays are writable
(NumPy, CuPy, PyTorch) an elementwise optimizer lays the parameters end to end in
an ``anynet.parameter.FlatBuffer`` (each ``p.data`` becomes a view of it, copied
once, so no caller's array is ever written) and runs its step once on the whole
buffer, writing the result back in place. Per-parameter state lives in
``p.state`` (created on the parameter's device, in its dtype, on first use; views
of the buffer's flat state on the flat path), so moving a model moves it too.

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
