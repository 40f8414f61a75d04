"""ndonnx: arrays that are values of an ONNX graph (``"ndonnx"``, also ``"onnx"``).

Running a model's forward pass on ndonnx arrays records it as an ONNX graph
(``anynet.export.to_onnx``): parameters become constants, the input an argument. Only
constants have values here; the rest are known once the graph runs (in onnxruntime).
There are no random numbers: a graph is built in inference mode.

The exporter's fast path asks this device for whole standard ONNX operators (Conv, MaxPool,
AveragePool, Gemm, MatMul, LRN, LSTM, GRU, RNN) in place of the traced primitives of
a layer; the traced graph stays the reference, and the tests check that both agree.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._device import Device, DeviceError, import_library, numpy_dtype
from ._generators import DeviceRandom

__all__ = ["NdonnxDevice"]

_INSTALL = "pip install 'anynet[onnx]'"


def _no_random() -> DeviceError:
    return DeviceError("ndonnx: an ONNX graph draws no random numbers; trace the model in inference "
                       "mode (model.eval(), or predict), where dropout is off")


class NdonnxRandom(DeviceRandom):
    """None: a graph is built in inference mode, where nothing is drawn."""

    def new_rng(self, seed: int | None) -> Any:
        raise _no_random()

    def uniform(self, rng: Any, shape: tuple[int, ...], dtype: Any) -> Any:
        raise _no_random()

    def rng_state(self, rng: Any) -> None:
        return None


class NdonnxDevice(Device):
    """Values of an ONNX graph being built; constants have values, the rest do not."""

    library = "ndonnx"
    prefixes = ("ndonnx", "onnx")
    writable = False
    random_class = NdonnxRandom

    @classmethod
    def owns(cls, xp: Any) -> bool:
        return getattr(xp, "__name__", "") == "ndonnx"

    @classmethod
    def parse(cls, rest: str, spec: str) -> Device:
        ndx = import_library("ndonnx", spec, _INSTALL)
        if rest not in ("", "cpu"):
            raise DeviceError(f"device {spec!r}: ndonnx has one device, written 'ndonnx'")
        return cls.of(ndx, None)

    @classmethod
    def of(cls, xp: Any, dev: Any) -> Device:
        import ndonnx

        if dev is None:
            dev = ndonnx.__array_namespace_info__().default_device()
        return cls(ndonnx, dev, "ndonnx")

    def from_numpy(self, a: np.ndarray) -> Any:
        return self.xp.asarray(np.asarray(a))  # a constant of the graph

    def to_numpy(self, x: Any) -> np.ndarray:
        try:
            return np.asarray(x.unwrap_numpy())
        except ValueError:
            raise DeviceError(
                f"ndonnx: the array of shape {tuple(x.shape)} is a value of an ONNX graph, known only when "
                "the graph runs; build the graph with anynet.export.to_onnx and run it in onnxruntime"
            ) from None

    def argument(self, shape: tuple[int | str, ...], dtype: Any) -> Any:
        """A graph input of ``shape`` (a str names a symbolic axis, e.g. "N") and ``dtype`` (any library's)."""
        return self.xp.argument(shape=shape, dtype=self.xp.from_numpy_dtype(numpy_dtype(dtype)))

    def build(self, inputs: dict[str, Any], outputs: dict[str, Any]) -> Any:
        """The ``onnx.ModelProto`` computing ``outputs`` from ``inputs`` (dicts of graph values by name)."""
        return self.xp.build(inputs, outputs)

    def zeros(self, shape: tuple[int, ...], dtype: Any = None) -> Any:
        return self.xp.zeros(shape, dtype=self.xp.float32 if dtype is None else dtype)

    def pad(self, x: Any, widths: tuple[tuple[int, int], ...], value: float = 0.0) -> Any:
        # One ONNX Pad: array-api-extra's generic pad needs every size known, the batch's too.
        import spox.opset.ai.onnx.v21 as op

        pads = np.asarray([w[0] for w in widths] + [w[1] for w in widths], dtype=np.int64)
        fill = self.xp.asarray(value, dtype=x.dtype)
        return self.xp.asarray(op.pad(x.unwrap_spox(), op.const(pads), fill.unwrap_spox()))

    @property
    def operators(self) -> _Operators:
        """Whole ONNX operators (the exporter's fast path)."""
        return _Operators(self.xp)


def _op() -> Any:
    import spox.opset.ai.onnx.v21 as op  # the opset ndonnx itself emits

    return op


def _var(a: Any) -> Any:
    return a.unwrap_spox()


class _Operators:
    """Whole ONNX operators on ndonnx arrays (NCHW; weights in anynet's layouts)."""

    def __init__(self, xp: Any):
        self.xp = xp

    def _wrap(self, var: Any) -> Any:
        return self.xp.asarray(var)

    def conv2d(self, x: Any, W: Any, b: Any, stride: tuple[int, int], pad: tuple[int, int]) -> Any:
        """x (N, C, H, W), W (FN, C, FH, FW), b (FN,) -> (N, FN, OH, OW): one Conv."""
        (sh, sw), (ph, pw) = stride, pad
        return self._wrap(_op().conv(_var(x), _var(W), _var(b), kernel_shape=tuple(W.shape[2:]),
                                     strides=(sh, sw), pads=(ph, pw, ph, pw)))

    def pool2d(self, x: Any, kind: str, kernel: tuple[int, int], stride: tuple[int, int],
               pad: tuple[int, int]) -> Any:
        """One MaxPool (padding ignored, as -inf) or AveragePool (padding counted as zeros)."""
        (ph, pw) = pad
        args = {"kernel_shape": kernel, "strides": stride, "pads": (ph, pw, ph, pw)}
        if kind == "max":
            return self._wrap(_op().max_pool(_var(x), **args)[0])
        return self._wrap(_op().average_pool(_var(x), count_include_pad=1, **args))

    def gemm(self, x: Any, W: Any, b: Any = None) -> Any:
        """x (N, in) @ W (in, out) [+ b (out,)]: one Gemm."""
        return self._wrap(_op().gemm(_var(x), _var(W), None if b is None else _var(b)))

    def matmul(self, x: Any, W: Any) -> Any:
        """x (..., in) @ W (in, out): one MatMul (ndonnx's own guards zero-sized inputs with a subgraph)."""
        return self._wrap(_op().matmul(_var(x), _var(W)))

    def lrn(self, x: Any, size: int, alpha: float, beta: float, k: float) -> Any:
        """One LRN across channels of (N, C, H, W) (odd ``size``: ONNX centres an even window the other way)."""
        return self._wrap(_op().lrn(_var(x), size=size, alpha=alpha, beta=beta, bias=k))

    def recurrent(self, kind: str, x: Any, W: Any, R: Any, B: Any, state: tuple[Any, ...] | None,
                  hidden_size: int) -> tuple[Any, tuple[Any, ...]]:
        """One ONNX RNN, GRU or LSTM over x (N, T, D), weights in ONNX's layout (W (1, G*H, D),
        R (1, G*H, H), B (1, 2*G*H)); ``state`` (h, [c]) of (N, H), or None for zeros.
        -> (hs (N, T, H), (h, [c]) of the last step)."""
        op = _op()
        xp = self.xp
        # time-major (layout 0): onnxruntime's CPU kernels refuse batch-first
        initial = [None, None] if state is None else [_var(xp.expand_dims(s, axis=0)) for s in state] + [None]
        fn = {"RNN": op.rnn, "GRU": op.gru, "LSTM": op.lstm}[kind]
        extra = {"initial_c": initial[1]} if kind == "LSTM" else {}
        outs = fn(_var(xp.permute_dims(x, (1, 0, 2))), _var(W), _var(R), _var(B), initial_h=initial[0],
                  hidden_size=hidden_size, **extra)
        hs = xp.permute_dims(xp.squeeze(self._wrap(outs[0]), axis=1), (1, 0, 2))  # (T, 1, N, H) -> (N, T, H)
        last = tuple(xp.squeeze(self._wrap(v), axis=0) for v in outs[1:])  # (1, N, H) each
        return hs, last
