"""Convolutional nets: the book's SimpleConvNet and DeepConvNet, LeNet5, and small AlexNet and VGG.

Every model takes ``input_shape=(C, H, W)`` of one image and ``output_size`` and maps
x (N, C, H, W) -> scores (N, output_size). The first convolution skips the gradient
of the input images (nothing uses it; ``input_grad=True`` turns it back on).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from ..layers import LRN, Affine, AvgPool, BatchNorm, Conv, Dropout, Flatten, MaxPool, ReLU, Sigmoid, Tanh
from ..layers.base import Layer
from ..layers.containers import Sequential
from ..validation import check_float, check_int

__all__ = ["AlexNet", "DeepConvNet", "LeNet5", "SimpleConvNet", "VGG"]

_ACTIVATIONS = {"relu": ReLU, "sigmoid": Sigmoid, "tanh": Tanh}


class _Builder:
    """Appends layers while tracking the (C, H, W) shape of one example."""

    def __init__(self, where: str, input_shape: Sequence[int], weight_init: Any, input_grad: bool, dtype: Any):
        if not isinstance(input_shape, Sequence) or len(input_shape) != 3:
            raise ValueError(f"{where}: input_shape must be (C, H, W), got {input_shape!r}")
        self.where, self.shape = where, tuple(check_int(where, "input_shape", s) for s in input_shape)
        self.weight_init, self.input_grad, self.dtype = weight_init, input_grad, dtype
        self.layers: list[Layer] = []

    def ints(self, name: str, values: Any) -> list[int]:
        """Positive integers (one or a sequence of them) given as the model's argument ``name``."""
        if isinstance(values, Sequence):
            return [check_int(self.where, f"{name}[{i}]", v) for i, v in enumerate(values)]
        return [check_int(self.where, name, values)]

    def rate(self, dropout: float) -> float:
        return check_float(self.where, "dropout", dropout, 0.0, 1.0, high_open=True)

    def add(self, layer: Layer) -> None:
        if isinstance(layer, (Conv, MaxPool, AvgPool)):  # the layers that change (C, H, W)
            try:
                self.shape = layer.output_shape(self.shape)
            except ValueError as err:
                raise ValueError(f"{self.where}: input_shape is too small for this net: {err}") from None
        self.layers.append(layer)

    def conv(self, out_channels: int, kernel: Any, stride: Any = 1, pad: Any = 0) -> None:
        first = not any(isinstance(layer, Conv) for layer in self.layers)
        self.add(Conv(self.shape[0], out_channels, kernel, stride, pad, self.weight_init,
                      input_grad=self.input_grad or not first, dtype=self.dtype))

    def batchnorm(self) -> None:
        self.add(BatchNorm(self.shape[0], dtype=self.dtype))

    def flatten(self) -> None:
        self.add(Flatten())
        self.shape = (math.prod(self.shape),)

    def affine(self, out_size: int) -> None:
        self.add(Affine(self.shape[0], out_size, self.weight_init, self.dtype))
        self.shape = (out_size,)

    def head(self, hidden_sizes: Sequence[int], output_size: int, act: type = ReLU, dropout: float = 0.0) -> None:
        """Flatten, then Affine - act - [Dropout] per hidden size, then Affine output_size."""
        self.flatten()
        for size in hidden_sizes:
            self.affine(size)
            self.add(act())
            if dropout:
                self.add(Dropout(dropout))
        self.affine(output_size)


class SimpleConvNet(Sequential):
    """The book's SimpleConvNet: Conv (filter_num x filter_size^2) - ReLU - MaxPool 2 -
    Affine hidden_size - ReLU - Affine output_size."""

    def __init__(self, input_shape: Sequence[int] = (1, 28, 28), output_size: int = 10, filter_num: int = 30,
                 filter_size: int = 5, pad: int = 0, stride: int = 1, hidden_size: int = 100,
                 weight_init: str | float = "he", input_grad: bool = False, dtype: Any = None):
        b = _Builder("SimpleConvNet", input_shape, weight_init, input_grad, dtype)
        for name, value in (("output_size", output_size), ("filter_num", filter_num), ("filter_size", filter_size),
                            ("stride", stride), ("hidden_size", hidden_size)):
            b.ints(name, value)
        check_int("SimpleConvNet", "pad", pad, 0)
        b.conv(filter_num, filter_size, stride, pad)
        b.add(ReLU())
        b.add(MaxPool(2))
        b.head([hidden_size], output_size)
        super().__init__(*b.layers)


class LeNet5(Sequential):
    """LeNet-5: Conv 6x5x5 - act - pool 2 - Conv 16x5x5 - act - pool 2 - Affine 120 - act -
    Affine 84 - act - Affine output_size. Inputs smaller than 32x32 are padded by 2 (28x28 to the
    original 32x32).
    LeCun et al., http://yann.lecun.com/exdb/publis/pdf/lecun-98.pdf
    """

    def __init__(self, input_shape: Sequence[int] = (1, 28, 28), output_size: int = 10, activation: str = "relu",
                 pool: str = "max", weight_init: str | float | None = None, input_grad: bool = False,
                 dtype: Any = None):
        if activation not in _ACTIVATIONS or pool not in ("max", "avg"):
            raise ValueError(f"LeNet5: activation must be one of {sorted(_ACTIVATIONS)} and pool 'max' or 'avg', "
                             f"got {activation!r}, {pool!r}")
        if weight_init is None:
            weight_init = "he" if activation == "relu" else "xavier"
        act, Pool = _ACTIVATIONS[activation], MaxPool if pool == "max" else AvgPool
        b = _Builder("LeNet5", input_shape, weight_init, input_grad, dtype)
        b.ints("output_size", output_size)
        b.conv(6, 5, pad=2 if min(b.shape[1:]) < 32 else 0)
        b.add(act())
        b.add(Pool(2))
        b.conv(16, 5)
        b.add(act())
        b.add(Pool(2))
        b.head([120, 84], output_size, act)
        super().__init__(*b.layers)


class DeepConvNet(Sequential):
    """The book's VGG-like net: [Conv 3x3 - ReLU] x2 - MaxPool 2, three times, with
    16-16-32-32-64-64 filters, then Affine hidden_size - ReLU - Dropout - Affine output_size.

    As in the book the fourth convolution pads by 2 when that makes the map divisible by 4
    (28x28 input: 28 -> 14 -> 16 -> 8 -> 4). ``batchnorm=True`` adds BatchNorm after each Conv.
    """

    def __init__(self, input_shape: Sequence[int] = (1, 28, 28), output_size: int = 10,
                 channels: Sequence[int] = (16, 16, 32, 32, 64, 64), hidden_size: int = 50,
                 dropout: float = 0.5, batchnorm: bool = False, weight_init: str | float = "he",
                 input_grad: bool = False, dtype: Any = None):
        b = _Builder("DeepConvNet", input_shape, weight_init, input_grad, dtype)
        channels, dropout = b.ints("channels", channels), b.rate(dropout)
        if len(channels) != 6:
            raise ValueError(f"DeepConvNet: channels must list six filter counts, got {tuple(channels)}")
        b.ints("output_size", output_size), b.ints("hidden_size", hidden_size)
        for i, ch in enumerate(channels):
            pad = 2 if i == 3 and (b.shape[1] % 4 or b.shape[2] % 4) else 1
            b.conv(ch, 3, pad=pad)
            if batchnorm:
                b.batchnorm()
            b.add(ReLU())
            if i % 2 == 1:
                b.add(MaxPool(2))
        b.head([hidden_size], output_size, dropout=dropout)
        super().__init__(*b.layers)


class AlexNet(Sequential):
    """A small AlexNet for 28x28 / 32x32 inputs: Conv 5x5 - ReLU - LRN - MaxPool 3/2, twice;
    three Conv 3x3 - ReLU; MaxPool 3/2; then Affine - ReLU - Dropout twice and Affine output_size.
    ``channels`` gives the five convolutions' filter counts.
    Krizhevsky et al., https://papers.nips.cc/paper/4824
    """

    def __init__(self, input_shape: Sequence[int] = (1, 28, 28), output_size: int = 10,
                 channels: Sequence[int] = (32, 64, 96, 96, 64), hidden_size: int = 256, dropout: float = 0.5,
                 weight_init: str | float = "he", input_grad: bool = False, dtype: Any = None):
        b = _Builder("AlexNet", input_shape, weight_init, input_grad, dtype)
        channels, dropout = b.ints("channels", channels), b.rate(dropout)
        if len(channels) != 5:
            raise ValueError(f"AlexNet: channels must list five filter counts, got {tuple(channels)}")
        b.ints("output_size", output_size), b.ints("hidden_size", hidden_size)
        for ch in channels[:2]:
            b.conv(ch, 5, pad=2)
            b.add(ReLU())
            b.add(LRN())
            b.add(MaxPool(3, stride=2))
        for ch in channels[2:]:
            b.conv(ch, 3, pad=1)
            b.add(ReLU())
        b.add(MaxPool(3, stride=2, pad=1))
        b.head([hidden_size, hidden_size], output_size, dropout=dropout)
        super().__init__(*b.layers)


class VGG(Sequential):
    """A small VGG: blocks of Conv 3x3 pad 1 - [BatchNorm] - ReLU, a MaxPool 2 after each block,
    then Affine hidden_size - ReLU - Dropout - Affine output_size.
    ``blocks`` lists each block's filter counts. Simonyan and Zisserman, https://arxiv.org/abs/1409.1556
    """

    def __init__(self, input_shape: Sequence[int] = (1, 28, 28), output_size: int = 10,
                 blocks: Sequence[Sequence[int]] = ((32, 32), (64, 64), (128, 128)), hidden_size: int = 256,
                 dropout: float = 0.5, batchnorm: bool = True, weight_init: str | float = "he",
                 input_grad: bool = False, dtype: Any = None):
        b = _Builder("VGG", input_shape, weight_init, input_grad, dtype)
        blocks, dropout = [b.ints(f"blocks[{i}]", block) for i, block in enumerate(blocks)], b.rate(dropout)
        b.ints("output_size", output_size), b.ints("hidden_size", hidden_size)
        for block in blocks:
            for ch in block:
                b.conv(ch, 3, pad=1)
                if batchnorm:
                    b.batchnorm()
                b.add(ReLU())
            b.add(MaxPool(2))
        b.head([hidden_size], output_size, dropout=dropout)
        super().__init__(*b.layers)
