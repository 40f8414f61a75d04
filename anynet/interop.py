"""Weights exchanged with PyTorch: an anynet model's state as the ``state_dict`` of its ``torch.nn`` twin,
and back.

Each layer maps to the ``torch.nn`` module that computes the same function, at the same place of a
``torch.nn.Sequential`` (so "3.W" of an anynet ``Sequential`` becomes "3.weight"):

- ``Affine``, ``TimeAffine`` -> ``nn.Linear``: ``W`` (in, out) is ``weight`` (out, in) transposed; ``b`` is ``bias``.
- ``Conv`` -> ``nn.Conv2d``: ``W`` (FN, C, FH, FW) and ``b`` as they are (the same layout).
- ``BatchNorm`` -> ``nn.BatchNorm1d`` / ``nn.BatchNorm2d``: ``gamma``, ``beta``, ``running_mean``,
  ``running_var`` are ``weight``, ``bias``, ``running_mean``, ``running_var`` (``num_batches_tracked``:
  0 going out, ignored coming in).
- ``Embedding``, ``TimeEmbedding`` -> ``nn.Embedding``: ``W`` (V, D) is ``weight``.
- ``TimeRNN``, ``TimeLSTM`` -> ``nn.RNN`` / ``nn.LSTM`` (one layer, ``batch_first=True``): ``Wx`` (D, G*H) is
  ``weight_ih_l0`` (G*H, D) transposed, ``Wh`` likewise ``weight_hh_l0``; anynet's one bias ``b`` is
  ``bias_ih_l0`` with ``bias_hh_l0`` zero going out, and their sum coming in. The LSTM's gates are in
  PyTorch's order (i, f, g, o) on both sides.
- Layers without parameters or buffers (activations, pooling, ``Flatten``, ``Dropout``) have no entries.

``TimeGRU`` has no exact twin: anynet's GRU is Cho et al.'s (the reset gate applied to h before its
product with Wh), ``nn.GRU`` applies it after the product, so no weights make the two equal; it is refused.
"""

from __future__ import annotations

from typing import Any, Iterator

from . import backend
from .layers import Affine, BatchNorm, Conv, Embedding, TimeAffine, TimeGRU, TimeLSTM, TimeRNN
from .layers.base import ParameterHolder, check_keys
from .training.checkpoint import _to_host as to_host

__all__ = ["from_torch_state_dict", "to_torch_state_dict"]

# anynet class -> (anynet key, torch key, transposed), in the torch module's order
_LINEAR = (("W", "weight", True), ("b", "bias", False))
_TABLE: tuple[tuple[type, tuple[tuple[str, str, bool], ...]], ...] = (
    (Affine, _LINEAR),
    (TimeAffine, _LINEAR),
    (Conv, (("W", "weight", False), ("b", "bias", False))),
    (BatchNorm, (("gamma", "weight", False), ("beta", "bias", False), ("running_mean", "running_mean", False),
                 ("running_var", "running_var", False))),
    (Embedding, (("W", "weight", False),)),
    (TimeRNN, (("Wx", "weight_ih_l0", True), ("Wh", "weight_hh_l0", True), ("b", "bias_ih_l0", False))),
    (TimeLSTM, (("Wx", "weight_ih_l0", True), ("Wh", "weight_hh_l0", True), ("b", "bias_ih_l0", False))),
)
_RECURRENT = (TimeRNN, TimeLSTM)  # their second bias, bias_hh_l0, has no anynet counterpart


def _entries(layer: ParameterHolder) -> tuple[tuple[str, str, bool], ...] | None:
    for cls, entries in _TABLE:
        if type(layer) is cls:
            return entries
    return None


def _mapped(holder: ParameterHolder, prefix: str = "") -> Iterator[tuple[str, ParameterHolder, tuple]]:
    """(key prefix, layer, its entries) for every layer of ``holder`` that holds arrays, in order;
    ValueError naming the first layer that holds arrays and has no twin."""
    entries = _entries(holder)
    if entries is not None:
        yield prefix, holder, entries
        return
    if isinstance(holder, TimeGRU):
        raise ValueError(f"interop: layer {prefix.rstrip('.') or '(the model)'} is a TimeGRU, which torch.nn.GRU "
                         "cannot reproduce (anynet's reset gate acts on h before its product with Wh, PyTorch's "
                         "after it)")
    if holder.own_params or holder.buffers:
        raise ValueError(f"interop: layer {prefix.rstrip('.') or '(the model)'} ({holder.name}) has no torch.nn "
                         "twin here; the mapped layers are "
                         f"{', '.join(cls.__name__ for cls, _ in _TABLE)}")
    for name, part in holder.parts.items():
        yield from _mapped(part, f"{prefix}{name}.")


def to_torch_state_dict(model: Any, device: Any = "torch:cpu") -> dict[str, Any]:
    """The weights of ``model`` as the ``state_dict`` of its ``torch.nn`` twin (see the module's table).

    **Arguments:**

    - ``model``: an anynet model or layer whose array-holding layers all have twins (every
      ``Sequential`` of the zoo but GRU models).
    - ``device``: where the tensors are made (default "torch:cpu"; "torch:cuda" for a GPU twin).

    **Returns:** a dict of torch tensors (new memory) for ``twin.load_state_dict``; ValueError naming the
    first layer without a twin.
    """
    dev = backend.as_device(device)
    xp = dev.xp
    out: dict[str, Any] = {}
    for prefix, layer, entries in _mapped(model):
        state = layer.state_dict()
        for mine, theirs, transposed in entries:
            value = backend.to_device(backend.to_numpy(state[mine]), dev)
            if transposed:
                value = xp.permute_dims(value, (1, 0))
            out[prefix + theirs] = xp.asarray(value, copy=True)
        if isinstance(layer, _RECURRENT):
            out[prefix + "bias_hh_l0"] = xp.zeros_like(out[prefix + "bias_ih_l0"])
        if isinstance(layer, BatchNorm):
            out[prefix + "num_batches_tracked"] = dev.zeros((), dev.xp.int64)
    return out


def from_torch_state_dict(model: Any, state_dict: dict[str, Any]) -> Any:
    """Load the ``state_dict`` of ``model``'s ``torch.nn`` twin into ``model`` (see the module's table).

    Every key and shape is checked before anything is assigned: a state that does not fit raises
    ValueError (naming what is missing and extra, or the first shape) and leaves the model unchanged.
    Floating arrays take the dtype of the model's (a float64 twin into a float32 model).

    **Arguments:**

    - ``model``: the anynet model to load into (on any device; the arrays are moved there).
    - ``state_dict``: torch tensors (or any arrays) by the twin's names, ``num_batches_tracked`` optional.

    **Returns:** ``model``.
    """
    own = model.state_dict()
    state: dict[str, Any] = {}
    expected: set[str] = set()
    given = {k for k in state_dict if not k.endswith("num_batches_tracked")}
    for prefix, layer, entries in _mapped(model):
        names = [prefix + theirs for _, theirs, _ in entries]
        names += [prefix + "bias_hh_l0"] if isinstance(layer, _RECURRENT) else []
        expected.update(names)
        if not set(names) <= given:
            continue  # reported with every other missing key below
        for mine, theirs, transposed in entries:
            value = to_host(state_dict[prefix + theirs], {}, theirs)  # a bfloat16 twin's tensors widened
            state[prefix + mine] = value.T if transposed else value
        if isinstance(layer, _RECURRENT):
            state[prefix + "b"] = state[prefix + "b"] + to_host(state_dict[prefix + "bias_hh_l0"], {}, "bias_hh_l0")
    try:
        check_keys("from_torch_state_dict", {k: None for k in expected}, {k: None for k in given})
    except ValueError as err:
        raise ValueError(f"{err} (torch names of this {type(model).__name__}'s twin)") from None
    dev = model.device
    for key, value in state.items():
        if tuple(value.shape) != tuple(own[key].shape):
            raise ValueError(f"from_torch_state_dict: {key} of this {type(model).__name__} has shape "
                             f"{tuple(own[key].shape)}, the state gives {tuple(value.shape)} (as anynet lays it out)")
        state[key] = dev.xp.astype(backend.to_device(value.copy(), dev), own[key].dtype)
    model.load_state_dict(state)
    return model

