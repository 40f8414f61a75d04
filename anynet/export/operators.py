"""The exporter's fast path: a layer that has one standard ONNX operator is emitted as that
operator (Conv, MaxPool, AveragePool, Gemm, MatMul, LRN, RNN/GRU/LSTM; BatchNorm as a multiply-add
of folded constants) instead of
the primitives its array-API forward pass traces to. The traced graph stays the reference
(``to_onnx(..., operators=False)``); tests check that both agree.

Each emitter takes the ndonnx device's ``operators``, the layer (in inference mode, its arrays
on ndonnx) and its input, and returns its output, after the layer's own input checks.
"""

from __future__ import annotations

from typing import Any, Callable

from .. import backend
from ..layers import LRN, Affine, AvgPool, BatchNorm, Conv, MatMul, MaxPool, TimeAffine, TimeGRU, TimeLSTM, TimeRNN
from ..validation import check_array

__all__ = ["emitter"]


def _conv(ops: Any, layer: Conv, x: Any) -> Any:
    W = layer.W.data
    check_array(layer.name, x, ops.xp, ("N", W.shape[1], "H", "W"), W.dtype)
    return ops.conv2d(x, W, layer.b.data, layer.stride, layer.pad)


def _pool(kind: str) -> Callable[[Any, Any, Any], Any]:
    def emit(ops: Any, layer: Any, x: Any) -> Any:
        check_array(layer.name, x, ops.xp, ("N", "C", "H", "W"))
        return ops.pool2d(x, kind, layer.kernel, layer.stride, layer.pad)

    return emit


def _gemm(ops: Any, layer: MatMul, x: Any) -> Any:
    W = layer.W.data
    check_array(layer.name, x, ops.xp, ("N", W.shape[0]), W.dtype)
    return ops.gemm(x, W, layer.b.data if isinstance(layer, Affine) else None)


def _time_affine(ops: Any, layer: TimeAffine, x: Any) -> Any:
    W = layer.W.data
    check_array(layer.name, x, ops.xp, ("N", "T", W.shape[0]), W.dtype)
    return ops.matmul(x, W) + layer.b.data


def _batchnorm(ops: Any, layer: BatchNorm, x: Any) -> Any:
    # One multiply-add with constants folded from the running statistics: spox builds ONNX's
    # BatchNormalization with training outputs, which the checker refuses in inference mode.
    gamma = layer.gamma.data
    xp, dev = ops.xp, backend.device_of(gamma)
    want, _, bshape = layer._layout(x)
    check_array(layer.name, x, xp, want, gamma.dtype)
    scale = gamma / xp.sqrt(layer.running_var + layer.eps)
    shift = layer.beta.data - layer.running_mean * scale
    scale, shift = (dev.from_numpy(backend.to_numpy(xp.reshape(a, bshape))) for a in (scale, shift))
    return x * scale + shift


def _lrn(ops: Any, layer: LRN, x: Any) -> Any:
    if layer.size % 2 == 0:  # ONNX centres an even window one channel the other way: trace it
        return layer.forward(x, train=False)
    check_array(layer.name, x, ops.xp, ("N", "C", "H", "W"))
    return ops.lrn(x, layer.size, layer.alpha, layer.beta, layer.k)


# anynet's gate blocks (along the last axis of Wx, Wh, b) in ONNX's order, and their sign:
# ONNX's GRU keeps z of the old state where anynet's keeps z of the new one, so z is negated
# (sigmoid(-a) = 1 - sigmoid(a)).
_GATES = {"RNN": [(0, 1)], "LSTM": [(0, 1), (3, 1), (1, 1), (2, 1)], "GRU": [(0, -1), (1, 1), (2, 1)]}


def _onnx_weights(layer: Any, kind: str) -> tuple[Any, Any, Any]:
    """Wx (D, G*H), Wh (H, G*H), b (G*H,) -> ONNX's W (1, G*H, D), R (1, G*H, H), B (1, 2*G*H)."""
    Wx, Wh, b = layer._weights()
    xp, H, dev = backend.namespace(Wx), layer.hidden_size, backend.device_of(Wx)

    def reorder(a: Any) -> Any:
        return xp.concat([sign * a[..., k * H:(k + 1) * H] for k, sign in _GATES[kind]], axis=-1)

    def folded(a: Any) -> Any:  # one constant in the file, not the ops that made it
        return dev.from_numpy(backend.to_numpy(xp.expand_dims(a, axis=0)))

    B = xp.concat([reorder(b), xp.zeros_like(b)])  # anynet's cells have one bias, ONNX's two
    return folded(xp.permute_dims(reorder(Wx), (1, 0))), folded(xp.permute_dims(reorder(Wh), (1, 0))), folded(B)


def _recurrent(kind: str) -> Callable[[Any, Any, Any], Any]:
    def emit(ops: Any, layer: Any, x: Any) -> Any:
        Wx = layer.Wx.data
        check_array(layer.name, x, ops.xp, ("N", "T", layer.input_size), Wx.dtype)
        carried = layer.state if layer.stateful and layer.state is not None else None  # None: zeros
        hs, last = ops.recurrent(kind, x, *_onnx_weights(layer, kind), carried, layer.hidden_size)
        if layer.stateful:
            layer.set_state(*last)
        return hs if layer.return_sequences else last[0]

    return emit


_EMITTERS: dict[type, Callable[[Any, Any, Any], Any]] = {
    Conv: _conv, MaxPool: _pool("max"), AvgPool: _pool("avg"), Affine: _gemm, MatMul: _gemm,
    TimeAffine: _time_affine, BatchNorm: _batchnorm, LRN: _lrn, TimeRNN: _recurrent("RNN"),
    TimeLSTM: _recurrent("LSTM"), TimeGRU: _recurrent("GRU"),
}


def emitter(layer: Any) -> Callable[[Any, Any, Any], Any] | None:
    """The ONNX operator emitter of exactly this layer class (a subclass may compute otherwise), or None."""
    return _EMITTERS.get(type(layer))
