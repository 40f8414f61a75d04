"""Export a model to ONNX by running its forward pass on ndonnx arrays.

Every layer is written against the array API standard, so its inference forward pass, run on
the arrays of ``ndonnx`` (values of an ONNX graph), records the graph: parameters and running
statistics become constants, the input batch an argument, the scores the output. By default
a layer that has one standard ONNX operator (Conv, pooling, Gemm, BatchNormalization, LRN,
RNN/GRU/LSTM) is emitted as that operator (``_onnx_operators``): a smaller, faster graph;
``operators=False`` keeps the traced primitives of every layer, the reference.
Needs the extra ``onnx`` (``pip install 'anynet[onnx]'``).
"""

from __future__ import annotations

import copy
import os
from typing import Any, Sequence

from .. import backend
from ..files import atomic_write
from ..layers.containers import Sequential
from ..layers.residual import Residual
from .operators import emitter

__all__ = ["ExportError", "to_onnx"]


class ExportError(ValueError):
    """A model or an input shape that cannot be exported."""


def _stateful(model: Any) -> list[Any]:
    """The layers that carry a recurrent state from one call to the next."""
    return [layer for layer in model.modules() if layer.carries_state]


def _forward(net: Any, x: Any, ops: Any) -> Any:
    """``net``'s inference forward pass on ``x``, each layer with an ONNX operator emitted as it."""
    if isinstance(net, Residual):  # its branches' layers become operators too
        return net.forward_with(x, lambda part, v: _forward(part, v, ops))
    if not isinstance(net, Sequential) or type(net).forward is not Sequential.forward:
        emit = emitter(net)  # a container with its own forward is traced whole
        return net.forward(x, train=False) if emit is None else emit(ops, net, x)
    for layer in net.layers:
        x = _forward(layer, x, ops)
    return x


def _input_dtype(model: Any, dtype: Any) -> Any:
    if dtype is not None:
        return backend.numpy_dtype(dtype)
    if model.input_ids is not None:
        return backend.numpy_dtype("int64")  # token ids
    params = model.params
    return backend.numpy_dtype(params[0].data.dtype if params else None)


def to_onnx(model: Any, input_shape: Sequence[int | None], path: str | os.PathLike | None = None,
            dynamic_batch: bool = True, dtype: Any = None, operators: bool = True) -> Any:
    """The ONNX graph of ``model``'s inference forward pass on a batch of ``input_shape``
    (batch axis first, e.g. (N, 1, 28, 28)), written to ``path`` when given; returns the
    ``onnx.ModelProto``.

    ``dynamic_batch``: the batch axis is symbolic ("N"; its value in ``input_shape`` may be None),
    so one file serves every batch size. The input is float32 (the parameters' dtype) or int64
    token ids for a model that starts with an embedding; ``dtype`` overrides. The model itself
    is not changed: a copy in inference mode (no dropout, BatchNorm's running statistics) is
    traced. Graph inputs ``x`` and outputs ``y``; a model with stateful recurrent layers
    (``LanguageModel``) also takes each layer's state (``h0``, ``c0``, ``h1``, ...; (N, H)) and
    returns the next (``h0_next``, ...), so a caller carries it from call to call.
    ``operators``: emit whole ONNX operators where a layer has one (False: trace every layer).
    """
    dev = backend.as_device("ndonnx")
    shape = tuple(input_shape)
    if shape and shape[0] is not None and (isinstance(shape[0], bool) or not isinstance(shape[0], int)
                                          or shape[0] < 1):
        raise ExportError(f"to_onnx: input_shape[0], the batch size, must be a positive integer or None, "
                          f"got {shape[0]!r}")
    if not shape or any(s is not None and (isinstance(s, bool) or not isinstance(s, int) or s < 1)
                        for s in shape[1:]):
        raise ExportError(f"to_onnx: input_shape must be (N, ...) with positive sizes after the batch axis, "
                          f"got {shape}")
    if shape[0] is None and not dynamic_batch:
        raise ExportError("to_onnx: a fixed batch (dynamic_batch=False) needs its size in input_shape[0]")
    if any(s is None for s in shape[1:]):
        raise ExportError(f"to_onnx: only the batch axis may be unknown, got input_shape {shape}")
    if dynamic_batch:
        shape = ("N", *shape[1:])
    net = copy.deepcopy(model)
    net.eval()
    net.to(dev)
    x = dev.argument(shape, _input_dtype(model, dtype))
    inputs, state_layers = {"x": x}, _stateful(net)
    for i, layer in enumerate(state_layers):
        names = ("h", "c")[:layer.spec.n_state]
        state = [dev.argument((shape[0], layer.hidden_size), layer.params[0].data.dtype) for _ in names]
        inputs.update({f"{n}{i}": s for n, s in zip(names, state)})
        layer.set_state(*state)
    try:
        y = _forward(net, x, dev.operators) if operators else net.forward(x, train=False)
    except backend.DeviceError:
        raise
    except (TypeError, ValueError) as err:  # e.g. Python arithmetic on the symbolic batch size
        shown = "(" + ", ".join(str(s) for s in shape) + ")"
        raise ExportError(f"to_onnx: {type(model).__name__} cannot be traced on input of shape {shown}: {err}") from err
    outputs = {"y": y}
    for i, layer in enumerate(state_layers):
        names = ("h", "c")[:layer.spec.n_state]
        outputs.update({f"{n}{i}_next": s for n, s in zip(names, layer.state)})
    proto = dev.build(inputs, outputs)
    if path is not None:
        with atomic_write(path) as f:
            f.write(proto.SerializeToString())
    return proto
