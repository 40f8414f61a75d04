"""Numerical gradients by central differences, and checkers for backward passes.

``check_backward`` is the general checker (any number of inputs and outputs, integer inputs
left out, parameters); ``check_layer`` and ``check_loss`` are its one-input forms. Each
compares element by element, or with ``directions=k`` along k random directions v:
<grad, v> against (f(x + h v) - f(x - h v)) / 2h, two forward passes per direction
(as ``chainer.gradient_check.check_backward`` does), which makes whole-net checks cheap.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

from .. import backend
from ..backend import array_device, namespace

__all__ = ["check_backward", "check_layer", "check_loss", "numerical_gradient"]


def numerical_gradient(f: Callable[[Any], Any], x: Any, h: float = 1e-4) -> Any:
    """Gradient of the scalar function ``f`` at ``x`` by central differences
    (f(x + h e_i) - f(x - h e_i)) / 2h, one element at a time; x is not modified.
    Same shape, namespace and device as ``x``. Use float64 for accurate results."""
    xp = namespace(x)
    flat = xp.reshape(x, (-1,))
    n = flat.shape[0]
    index = xp.arange(n, device=array_device(x))
    grad = []
    for i in range(n):
        step = xp.astype(index == i, x.dtype) * h
        fp = float(f(xp.reshape(flat + step, x.shape)))
        fm = float(f(xp.reshape(flat - step, x.shape)))
        grad.append((fp - fm) / (2 * h))
    return xp.reshape(xp.asarray(grad, dtype=x.dtype, device=array_device(x)), x.shape)


def _max_error(xp: Any, analytic: Any, numeric: Any) -> float:
    err = xp.abs(analytic - numeric) / (1.0 + xp.abs(numeric))
    return float(xp.max(err)) if math.prod(err.shape) else 0.0


def _as_tuple(value: Any) -> tuple:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


def _random_like(x: Any) -> Any:
    """Standard normal numbers of ``x``'s shape, dtype and device (host RNG, so seeded runs repeat)."""
    return backend.normal(tuple(x.shape), 1.0, backend.numpy_dtype(x.dtype), backend.device_of(x))


def check_backward(
    forward: Callable[..., Any],
    backward: Callable[..., Any],
    inputs: Any,
    dout: Any = None,
    params: Sequence[Any] = (),
    tol: float = 1e-6,
    h: float = 1e-5,
    directions: int | None = None,
    name: str = "backward",
) -> dict[str, float]:
    """Compare analytic gradients with numerical gradients of sum_k sum(out_k * dout_k).

    ``forward(*inputs)`` returns one output or a tuple; ``backward(*dout)`` returns the input
    gradients (one or a tuple, in input order) and fills ``p.grad`` for each of ``params``
    (parameter objects with ``.data``/``.grad``). Integer inputs (ids, labels) get no gradient
    and are left out. ``dout`` (one array or a tuple) is random when None. ``directions=None``
    probes every element; ``directions=k`` probes k random directions of all inputs and
    parameters at once. Raises AssertionError past ``tol`` naming ``name``; returns the largest
    relative error per input ("x0", "x1", ...) and parameter ("0:W", ...), or per direction.
    """
    inputs = _as_tuple(inputs)
    xp = namespace(*inputs)
    outs = _as_tuple(forward(*inputs))
    if dout is None:
        dout = tuple(_random_like(o) for o in outs)
    dout = _as_tuple(dout)
    if len(dout) != len(outs):
        raise ValueError(f"{name}: forward gave {len(outs)} outputs but {len(dout)} dout arrays came")
    grads = _as_tuple(backward(*dout))
    floating = [i for i, x in enumerate(inputs) if xp.isdtype(x.dtype, "real floating")]
    params = list(params)
    analytic = {f"x{i}": grads[i] for i in floating}
    analytic.update({f"{k}:{p.name}": p.grad for k, p in enumerate(params)})
    for key, g in analytic.items():
        if g is None:
            raise AssertionError(f"{name}: backward gave no gradient for {key}")

    def objective(xs: Sequence[Any]) -> Any:
        total = 0.0
        for o, d in zip(_as_tuple(forward(*xs)), dout):
            total = total + xp.sum(o * d)
        return total

    originals = [p.data for p in params]
    try:
        if directions is None:
            errors = _per_element(xp, objective, inputs, floating, params, analytic, h)
        else:
            errors = _directional(xp, objective, inputs, floating, params, analytic, h, directions)
    finally:
        for p, w in zip(params, originals):
            p.data = w
    _assert_close(name, errors, tol)
    return errors


def _per_element(xp, objective, inputs, floating, params, analytic, h) -> dict[str, float]:
    errors = {}
    for i in floating:
        def of_input(v: Any, i: int = i) -> Any:
            return objective([v if j == i else x for j, x in enumerate(inputs)])

        errors[f"x{i}"] = _max_error(xp, analytic[f"x{i}"], numerical_gradient(of_input, inputs[i], h))
    for k, p in enumerate(params):
        original = p.data

        def of_param(w: Any, p: Any = p) -> Any:
            p.data = w
            return objective(inputs)

        numeric = numerical_gradient(of_param, original, h)
        p.data = original
        errors[f"{k}:{p.name}"] = _max_error(xp, analytic[f"{k}:{p.name}"], numeric)
    return errors


def _directional(xp, objective, inputs, floating, params, analytic, h, directions) -> dict[str, float]:
    if directions < 1:
        raise ValueError(f"check_backward: directions must be a positive number, got {directions}")
    originals = [p.data for p in params]
    targets = [inputs[i] for i in floating] + originals
    grads = [analytic[f"x{i}"] for i in floating] + [analytic[f"{k}:{p.name}"] for k, p in enumerate(params)]
    # all directions are drawn before any forward pass: a forward that re-seeds cannot repeat them
    drawn = [[_random_like(a) for a in targets] for _ in range(directions)]
    errors = {}
    for n, vs in enumerate(drawn):
        norm = math.sqrt(sum(float(xp.sum(v * v)) for v in vs)) or 1.0
        vs = [v / norm for v in vs]

        def moved(sign: float, vs: list = vs) -> float:
            xs = list(inputs)
            for i, v in zip(floating, vs):
                xs[i] = inputs[i] + sign * h * v
            for p, w, v in zip(params, originals, vs[len(floating):]):
                p.data = w + sign * h * v
            return float(objective(xs))

        numeric = (moved(1.0) - moved(-1.0)) / (2 * h)
        exact = sum(float(xp.sum(g * v)) for g, v in zip(grads, vs))
        errors[f"direction {n}"] = abs(exact - numeric) / (1.0 + abs(numeric))
    return errors


def check_layer(
    layer: Any,
    x: Any,
    dout: Any = None,
    tol: float = 1e-6,
    h: float = 1e-5,
    train: bool | None = None,
    reseed: int | None = None,
    directions: int | None = None,
) -> dict[str, float]:
    """``check_backward`` for a layer: x and every parameter of ``layer.forward(x, train)``.
    ``reseed`` re-seeds before each forward (stochastic layers). Errors are keyed "x", "0:W", ..."""

    def forward(inp: Any) -> Any:
        if reseed is not None:
            backend.seed(reseed)
        return layer.forward(inp, train)

    errors = check_backward(forward, layer.backward, (x,), dout, layer.params, tol=tol, h=h,
                            directions=directions, name=type(layer).__name__)
    return {("x" if key == "x0" else key): value for key, value in errors.items()}


def check_loss(loss: Any, y: Any, t: Any, tol: float = 1e-6, h: float = 1e-5) -> float:
    """Compare ``loss.backward()`` with the numerical gradient of ``loss.forward(y, t)`` in y."""
    xp = namespace(y)
    loss.forward(y, t)
    dy = loss.backward()
    numeric = numerical_gradient(lambda v: loss.forward(v, t), y, h)
    error = _max_error(xp, dy, numeric)
    _assert_close(type(loss).__name__, {"y": error}, tol)
    return error


def _assert_close(name: str, errors: dict[str, float], tol: float) -> None:
    bad = {k: v for k, v in errors.items() if not v <= tol}
    if bad:
        raise AssertionError(f"{name}: backward disagrees with numerical gradients: {bad} (tolerance {tol})")
