"""Numerical gradients by central differences, and a checker for layer and loss backward passes."""

from __future__ import annotations

import math
from typing import Any, Callable

from . import backend
from .backend import namespace

__all__ = ["check_layer", "check_loss", "numerical_gradient"]


def numerical_gradient(f: Callable[[Any], Any], x: Any, h: float = 1e-4) -> Any:
    """Gradient of the scalar function ``f`` at ``x`` by central differences
    (f(x + h e_i) - f(x - h e_i)) / 2h, one element at a time; x is not modified.
    Same shape, namespace and device as ``x``. Use float64 for accurate results."""
    xp = namespace(x)
    flat = xp.reshape(x, (-1,))
    n = flat.shape[0]
    index = xp.arange(n, device=x.device)
    grad = []
    for i in range(n):
        step = xp.astype(index == i, x.dtype) * h
        fp = float(f(xp.reshape(flat + step, x.shape)))
        fm = float(f(xp.reshape(flat - step, x.shape)))
        grad.append((fp - fm) / (2 * h))
    return xp.reshape(xp.asarray(grad, dtype=x.dtype, device=x.device), x.shape)


def _max_error(xp: Any, analytic: Any, numeric: Any) -> float:
    err = xp.abs(analytic - numeric) / (1.0 + xp.abs(numeric))
    return float(xp.max(err)) if math.prod(err.shape) else 0.0


def check_layer(
    layer: Any,
    x: Any,
    dout: Any = None,
    tol: float = 1e-6,
    h: float = 1e-5,
    train: bool | None = None,
    reseed: int | None = None,
) -> dict[str, float]:
    """Compare ``layer.backward`` with numerical gradients of sum(forward(x) * dout)
    for x and every parameter; raise AssertionError past ``tol``. ``dout`` is
    random when None. ``reseed`` re-seeds before each forward (stochastic layers).
    Returns the largest relative error per input."""
    xp = namespace(x)

    def run(inp: Any) -> Any:
        if reseed is not None:
            backend.seed(reseed)
        return layer.forward(inp, train)

    out = run(x)
    if dout is None:
        dout = backend.normal(tuple(out.shape), 1.0, backend.numpy_dtype(out.dtype), backend.device_of(out))
    dx = layer.backward(dout)
    named = {f"{i}:{p.name}": p for i, p in enumerate(layer.params)}
    analytic = {key: p.grad for key, p in named.items()}

    def objective(inp: Any) -> Any:
        return xp.sum(run(inp) * dout)

    errors = {"x": _max_error(xp, dx, numerical_gradient(objective, x, h))}
    for key, p in named.items():
        original = p.data

        def of_param(w: Any, p: Any = p) -> Any:
            p.data = w
            return objective(x)

        numeric = numerical_gradient(of_param, original, h)
        p.data = original
        errors[key] = _max_error(xp, analytic[key], numeric)
    _assert_close(type(layer).__name__, errors, tol)
    return errors


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
