"""PyTorch's own convolution and pooling kernels (oneDNN on the CPU, cuDNN on CUDA), run without
autograd: ``torch.nn.functional`` forward, ``torch.ops.aten`` backward ops for the gradients."""

from __future__ import annotations

from typing import Any

from ._kernels import FastKernels

__all__ = ["TorchKernels"]


def _empty_of_shape(like: Any, shape: tuple[int, ...]) -> Any:
    # convolution_backward reads only the shape of the operand whose gradient it does not compute:
    # one element seen with zero strides, as torch.nn.grad.conv2d_input builds it
    return like.new_empty(1).expand(shape)


class TorchKernels(FastKernels):
    """Every convolution and pooling operation of ``anynet.kernels`` with PyTorch's kernels, under
    ``torch.no_grad()`` (parameters are plain tensors; nothing is recorded)."""

    name = "torch"

    def conv2d_forward(self, x: Any, W: Any, b: Any, stride: tuple[int, int], pad: tuple[int, int]) -> Any:
        """``torch.nn.functional.conv2d``."""
        import torch

        with torch.no_grad():
            return torch.nn.functional.conv2d(x, W, b, stride, pad)

    def conv2d_dgrad(self, dout: Any, W: Any, x_shape: tuple[int, ...], stride: tuple[int, int],
                     pad: tuple[int, int]) -> Any:
        """``aten.convolution_backward`` for the input only."""
        import torch

        with torch.no_grad():
            return torch.ops.aten.convolution_backward(
                dout, _empty_of_shape(dout, x_shape), W, None, list(stride), list(pad), [1, 1], False, [0, 0], 1,
                [True, False, False])[0]

    def conv2d_wgrad(self, x: Any, dout: Any, W_shape: tuple[int, ...], stride: tuple[int, int],
                     pad: tuple[int, int]) -> Any:
        """``aten.convolution_backward`` for the weight only."""
        import torch

        with torch.no_grad():
            return torch.ops.aten.convolution_backward(
                dout, x, _empty_of_shape(dout, W_shape), None, list(stride), list(pad), [1, 1], False, [0, 0], 1,
                [False, True, False])[1]

    def max_pool2d_forward(self, x: Any, kernel: tuple[int, int], stride: tuple[int, int],
                           pad: tuple[int, int]) -> tuple[Any, Any]:
        """``aten.max_pool2d_with_indices``: (y, the argmax indices backward needs)."""
        import torch

        with torch.no_grad():
            return torch.ops.aten.max_pool2d_with_indices(x, list(kernel), list(stride), list(pad))

    def max_pool2d_backward(self, dout: Any, x: Any, saved: Any, kernel: tuple[int, int], stride: tuple[int, int],
                            pad: tuple[int, int]) -> Any:
        """``aten.max_pool2d_with_indices_backward`` with forward's indices."""
        import torch

        with torch.no_grad():
            return torch.ops.aten.max_pool2d_with_indices_backward(
                dout, x, list(kernel), list(stride), list(pad), [1, 1], False, saved)

    def avg_pool2d_forward(self, x: Any, kernel: tuple[int, int], stride: tuple[int, int], pad: tuple[int, int]) -> Any:
        """``torch.nn.functional.avg_pool2d`` with ``count_include_pad=True``."""
        import torch

        with torch.no_grad():
            return torch.nn.functional.avg_pool2d(x, kernel, stride, pad, count_include_pad=True)

    def avg_pool2d_backward(self, dout: Any, x_shape: tuple[int, ...], kernel: tuple[int, int],
                            stride: tuple[int, int], pad: tuple[int, int]) -> Any:
        """``aten.avg_pool2d_backward`` (it reads only the input's shape)."""
        import torch

        with torch.no_grad():
            return torch.ops.aten.avg_pool2d_backward(
                dout, _empty_of_shape(dout, x_shape), list(kernel), list(stride), list(pad), False, True, None)
