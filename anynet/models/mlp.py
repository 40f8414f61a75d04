"""Fully connected nets: MLP and the book's TwoLayerNet."""

from __future__ import annotations

from typing import Any, Sequence

from ..layers import ELU, Affine, BatchNorm, Dropout, LeakyReLU, ReLU, Sigmoid, Tanh
from ..layers.containers import Sequential
from ..validation import check_bool, check_choice, check_float, check_int

__all__ = ["MLP", "TwoLayerNet"]

_ACTIVATIONS = {"relu": ReLU, "leaky_relu": LeakyReLU, "elu": ELU, "sigmoid": Sigmoid, "tanh": Tanh}


class MLP(Sequential):
    """Affine - [BatchNorm] - activation - [Dropout], repeated per hidden size, then Affine.

    x (N, input_size) -> scores (N, output_size); the book's MultiLayerNet(Extend).

    **Arguments:**

    - ``input_size``, ``output_size``: the sizes of a sample and of its scores.
    - ``hidden_sizes``: the width of each hidden layer, e.g. ``[100, 100]``.
    - ``activation``: "relu" (default), "leaky_relu", "elu", "sigmoid" or "tanh".
    - ``dropout``: the rate of a Dropout after each activation (0: none).
    - ``batchnorm``: a BatchNorm after each hidden Affine.
    - ``weight_init``: as ``Affine``'s; None: "he" for ReLU-like activations, "xavier" for sigmoid and tanh.
    - ``dtype``: the parameters' dtype.
    """

    def __init__(
        self,
        input_size: int,
        hidden_sizes: Sequence[int],
        output_size: int,
        activation: str = "relu",
        dropout: float = 0.0,
        batchnorm: bool = False,
        weight_init: str | float | None = None,
        dtype: Any = None,
    ):
        where = type(self).__name__
        check_choice(where, "activation", activation, sorted(_ACTIVATIONS))
        if isinstance(hidden_sizes, str) or not isinstance(hidden_sizes, Sequence):
            raise TypeError(f"{where}: hidden_sizes must be a sequence of integers, got {hidden_sizes!r}")
        sizes = [check_int(where, "input_size", input_size),
                 *(check_int(where, f"hidden_sizes[{i}]", h) for i, h in enumerate(hidden_sizes))]
        output_size = check_int(where, "output_size", output_size)
        dropout = check_float(where, "dropout", dropout, 0.0, 1.0, high_open=True)
        batchnorm = check_bool(where, "batchnorm", batchnorm)
        if weight_init is None:
            weight_init = "xavier" if activation in ("sigmoid", "tanh") else "he"
        layers = []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            layers.append(Affine(fan_in, fan_out, weight_init, dtype))
            if batchnorm:
                layers.append(BatchNorm(fan_out, dtype=dtype))
            layers.append(_ACTIVATIONS[activation]())
            if dropout:
                layers.append(Dropout(dropout))
        layers.append(Affine(sizes[-1], output_size, weight_init, dtype))
        super().__init__(*layers)


class TwoLayerNet(MLP):
    """The book's two-layer net: Affine - ReLU - Affine."""

    def __init__(self, input_size: int, hidden_size: int, output_size: int,
                 weight_init: str | float = "he", dtype: Any = None):
        super().__init__(input_size, [hidden_size], output_size, weight_init=weight_init, dtype=dtype)
