"""Residual networks: ``ResNet`` of ``BasicBlock`` or ``Bottleneck`` blocks, the CIFAR ResNets of the
original paper (``resnet20`` and its siblings) and a ``resnet18`` for 28x28 / 32x32 images.

x (N, C, H, W) -> scores (N, output_size). The stem's convolution skips the gradient of the input
images (``input_grad=True`` turns it back on). He et al., https://arxiv.org/abs/1512.03385
"""

from __future__ import annotations

from typing import Any, Sequence

from ..layers import Affine, BatchNorm, Conv, MaxPool, ReLU
from ..layers.base import Layer
from ..layers.containers import Sequential
from ..layers.global_pool import GlobalAvgPool
from ..layers.residual import Residual
from ..validation import check_bool, check_choice, check_int

__all__ = ["BasicBlock", "Bottleneck", "ResNet", "resnet8", "resnet10", "resnet14", "resnet18", "resnet20", "resnet32"]


def _zero_gamma(norm: BatchNorm) -> None:
    """Start a block's last BatchNorm at gamma 0: the block begins as its shortcut (Goyal et al.)."""
    norm.gamma.data = norm.gamma.data * 0.0


def _shortcut(in_channels: int, out_channels: int, stride: int, dtype: Any) -> Layer | None:
    """The identity where the shape is kept, else a 1x1 Conv with ``stride`` and a BatchNorm."""
    if stride == 1 and in_channels == out_channels:
        return None
    return Sequential(Conv(in_channels, out_channels, 1, stride, 0, "he", dtype=dtype),
                      BatchNorm(out_channels, dtype=dtype))


class BasicBlock(Residual):
    """Two 3x3 convolutions with a shortcut: x (N, C, H, W) -> (N, width, H/stride, W/stride).

    y = ReLU(BN(Conv3x3(ReLU(BN(Conv3x3/stride(x))))) + shortcut(x)); the shortcut is the identity
    where the shape is kept, else a 1x1 Conv with ``stride`` and a BatchNorm (the paper's option B).
    ``expansion`` 1: the block gives ``width`` channels.

    **Arguments:**

    - ``in_channels``, ``width``: channels in and out; ``stride``: of the first convolution and the shortcut.
    - ``zero_init``: start the last BatchNorm's gamma at 0, so the block starts as its shortcut.
    - ``dtype``: of the parameters (None: the device context's, float32 by default).
    """

    expansion = 1

    def __init__(self, in_channels: int, width: int, stride: int = 1, zero_init: bool = False, dtype: Any = None):
        out = width * self.expansion
        body = Sequential(Conv(in_channels, width, 3, stride, 1, "he", dtype=dtype), BatchNorm(width, dtype=dtype),
                          ReLU(), Conv(width, out, 3, 1, 1, "he", dtype=dtype), BatchNorm(out, dtype=dtype))
        if zero_init:
            _zero_gamma(body[-1])
        super().__init__(body, _shortcut(in_channels, out, stride, dtype), ReLU())


class Bottleneck(Residual):
    """1x1 - 3x3 - 1x1 convolutions with a shortcut: x (N, C, H, W) -> (N, 4*width, H/stride, W/stride).

    y = ReLU(BN(Conv1x1(ReLU(BN(Conv3x3/stride(ReLU(BN(Conv1x1(x))))))) + shortcut(x)), the stride on
    the 3x3 convolution (as torchvision's ResNet v1.5); ``expansion`` 4.

    **Arguments:** as ``BasicBlock``'s; the block gives ``4 * width`` channels.
    """

    expansion = 4

    def __init__(self, in_channels: int, width: int, stride: int = 1, zero_init: bool = False, dtype: Any = None):
        out = width * self.expansion
        body = Sequential(Conv(in_channels, width, 1, 1, 0, "he", dtype=dtype), BatchNorm(width, dtype=dtype), ReLU(),
                          Conv(width, width, 3, stride, 1, "he", dtype=dtype), BatchNorm(width, dtype=dtype), ReLU(),
                          Conv(width, out, 1, 1, 0, "he", dtype=dtype), BatchNorm(out, dtype=dtype))
        if zero_init:
            _zero_gamma(body[-1])
        super().__init__(body, _shortcut(in_channels, out, stride, dtype), ReLU())


_BLOCKS = {"basic": BasicBlock, "bottleneck": Bottleneck}


class ResNet(Sequential):
    """A residual network: stem - stages of blocks - GlobalAvgPool - Affine output_size.

    The stem is Conv 3x3 (``widths[0]`` filters) - BatchNorm - ReLU (``stem="small"``, for 28x28 and
    32x32 images, as the paper's CIFAR nets), or Conv 7x7/2 - BatchNorm - ReLU - MaxPool 3/2
    (``stem="imagenet"``). Stage i holds ``layers[i]`` blocks of width ``widths[i]``; every stage
    after the first halves the map in its first block (stride 2). Initialisation: He normal for
    the convolutions, BatchNorm gamma 1 and beta 0, and the last BatchNorm of each block at gamma
    0 with ``zero_init_residual`` (Goyal et al., https://arxiv.org/abs/1706.02677). Parameters in
    layer order; each block's keys read "i.body.*", "i.shortcut.*". He et al., https://arxiv.org/abs/1512.03385

    **Arguments:**

    - ``input_shape``: (C, H, W) of one image; ``output_size``: the number of classes.
    - ``block``: "basic" (``BasicBlock``) or "bottleneck" (``Bottleneck``).
    - ``layers``, ``widths``: blocks per stage and each stage's width (as many of one as of the other).
    - ``stem``: "small" or "imagenet"; ``zero_init_residual``: as above.
    - ``input_grad``: compute the gradient of the images; ``dtype``: of the parameters.
    """

    def __init__(self, input_shape: Sequence[int] = (1, 28, 28), output_size: int = 10, block: str = "basic",
                 layers: Sequence[int] = (3, 3, 3), widths: Sequence[int] = (16, 32, 64), stem: str = "small",
                 zero_init_residual: bool = False, input_grad: bool = False, dtype: Any = None):
        where = "ResNet"
        if not isinstance(input_shape, Sequence) or len(input_shape) != 3:
            raise ValueError(f"{where}: input_shape must be (C, H, W), got {input_shape!r}")
        shape = [check_int(where, f"input_shape[{i}]", s) for i, s in enumerate(input_shape)]
        Block = _BLOCKS[check_choice(where, "block", block, tuple(_BLOCKS))]
        check_choice(where, "stem", stem, ("small", "imagenet"))
        layers, widths = _ints(where, "layers", layers), _ints(where, "widths", widths)
        if len(layers) != len(widths):
            raise ValueError(f"{where}: layers and widths must have one entry per stage, got {len(layers)} and "
                             f"{len(widths)}")
        check_int(where, "output_size", output_size)
        zero_init = check_bool(where, "zero_init_residual", zero_init_residual)
        input_grad = check_bool(where, "input_grad", input_grad)
        if stem == "small":
            net: list[Layer] = [Conv(shape[0], widths[0], 3, 1, 1, "he", input_grad, dtype)]
        else:
            net = [Conv(shape[0], widths[0], 7, 2, 3, "he", input_grad, dtype)]
        net += [BatchNorm(widths[0], dtype=dtype), ReLU()] + ([MaxPool(3, 2, 1)] if stem == "imagenet" else [])
        channels, size = widths[0], (shape[1], shape[2])
        for layer in net:
            if isinstance(layer, (Conv, MaxPool)):
                size = _smaller(where, layer, size)
        for i, (count, width) in enumerate(zip(layers, widths)):
            for j in range(count):
                stride = 2 if i > 0 and j == 0 else 1
                if stride == 2 and min(size) < 2:
                    raise ValueError(f"{where}: input_shape {tuple(shape)} is too small for {len(layers)} stages: "
                                     f"the map is {size[0]}x{size[1]} before stage {i + 1}")
                size = (size[0] - 1) // stride + 1, (size[1] - 1) // stride + 1
                net.append(Block(channels, width, stride, zero_init, dtype))
                channels = width * Block.expansion
        net += [GlobalAvgPool(), Affine(channels, output_size, "xavier", dtype)]
        super().__init__(*net)


def _ints(where: str, name: str, values: Any) -> list[int]:
    if not isinstance(values, Sequence) or isinstance(values, str) or not values:
        raise ValueError(f"{where}: {name} must be a non-empty sequence of integers, got {values!r}")
    return [check_int(where, f"{name}[{i}]", v) for i, v in enumerate(values)]


def _smaller(where: str, layer: Any, size: tuple[int, int]) -> tuple[int, int]:
    try:
        return layer.output_shape((1, *size))[1:]
    except ValueError as err:
        raise ValueError(f"{where}: input_shape is too small for this net: {err}") from None


def _cifar(depth: int, input_shape: Sequence[int], output_size: int, width: int, zero_init_residual: bool,
           input_grad: bool, dtype: Any) -> ResNet:
    """The paper's CIFAR ResNet of ``depth`` = 6n + 2 layers: three stages of n BasicBlocks, widths
    ``width``, 2 ``width``, 4 ``width``."""
    n = (depth - 2) // 6
    return ResNet(input_shape, output_size, "basic", (n, n, n), (width, 2 * width, 4 * width), "small",
                  zero_init_residual, input_grad, dtype)


def resnet20(input_shape: Sequence[int] = (1, 28, 28), output_size: int = 10, width: int = 16,
             zero_init_residual: bool = False, input_grad: bool = False, dtype: Any = None) -> ResNet:
    """ResNet-20, the paper's CIFAR net: a 3x3 stem, three stages of three BasicBlocks of ``width``,
    2 ``width`` and 4 ``width`` channels (16/32/64: 0.27M parameters), GlobalAvgPool, Affine.

    **Arguments:** ``input_shape`` (C, H, W), ``output_size``, ``width`` (the first stage's),
    ``zero_init_residual``, ``input_grad``, ``dtype``: as ``ResNet``'s.

    **Returns:** the ``ResNet``.
    """
    return _cifar(20, input_shape, output_size, width, zero_init_residual, input_grad, dtype)


def resnet8(input_shape: Sequence[int] = (1, 28, 28), output_size: int = 10, width: int = 16,
            zero_init_residual: bool = False, input_grad: bool = False, dtype: Any = None) -> ResNet:
    """ResNet-8: ``resnet20`` with one BasicBlock per stage (0.08M parameters at width 16).

    **Arguments:** as ``resnet20``'s. **Returns:** the ``ResNet``.
    """
    return _cifar(8, input_shape, output_size, width, zero_init_residual, input_grad, dtype)


def resnet10(input_shape: Sequence[int] = (1, 28, 28), output_size: int = 10, width: int = 16,
             zero_init_residual: bool = False, input_grad: bool = False, dtype: Any = None) -> ResNet:
    """ResNet-10: a 3x3 stem and four stages of one BasicBlock of ``width`` x 1, 2, 4, 8 channels
    (16/32/64/128: 0.31M parameters), the form of ``resnet18`` with one block per stage. On 28x28
    images the fourth stage works on 4x4 maps, so it holds most of the parameters for a small part
    of the time: at width 16 a training step costs about 1.25x ``resnet8``'s for four times its
    parameters.

    **Arguments:** as ``resnet20``'s. **Returns:** the ``ResNet``.
    """
    return ResNet(input_shape, output_size, "basic", (1, 1, 1, 1), tuple(width * k for k in (1, 2, 4, 8)), "small",
                  zero_init_residual, input_grad, dtype)


def resnet14(input_shape: Sequence[int] = (1, 28, 28), output_size: int = 10, width: int = 16,
             zero_init_residual: bool = False, input_grad: bool = False, dtype: Any = None) -> ResNet:
    """ResNet-14: ``resnet20`` with two BasicBlocks per stage (0.17M parameters at width 16).

    **Arguments:** as ``resnet20``'s. **Returns:** the ``ResNet``.
    """
    return _cifar(14, input_shape, output_size, width, zero_init_residual, input_grad, dtype)


def resnet32(input_shape: Sequence[int] = (1, 28, 28), output_size: int = 10, width: int = 16,
             zero_init_residual: bool = False, input_grad: bool = False, dtype: Any = None) -> ResNet:
    """ResNet-32: ``resnet20`` with five BasicBlocks per stage (0.46M parameters at width 16).

    **Arguments:** as ``resnet20``'s. **Returns:** the ``ResNet``.
    """
    return _cifar(32, input_shape, output_size, width, zero_init_residual, input_grad, dtype)


def resnet18(input_shape: Sequence[int] = (1, 28, 28), output_size: int = 10, width: int = 64,
             stem: str = "small", zero_init_residual: bool = False, input_grad: bool = False,
             dtype: Any = None) -> ResNet:
    """ResNet-18: four stages of two BasicBlocks of ``width`` x 1, 2, 4, 8 channels (64: 11M
    parameters, torchvision's ``resnet18``). ``stem="small"`` (default) starts with a 3x3 conv at full
    resolution, the usual form for 28x28 / 32x32 images; "imagenet" with torchvision's 7x7/2 conv
    and 3/2 max pool.

    **Arguments:** as ``ResNet``'s, with ``width`` the first stage's. **Returns:** the ``ResNet``.
    """
    return ResNet(input_shape, output_size, "basic", (2, 2, 2, 2), tuple(width * k for k in (1, 2, 4, 8)), stem,
                  zero_init_residual, input_grad, dtype)
