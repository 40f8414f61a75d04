"""Input checks that name the layer, what it expected and what came.

Constructor arguments go through ``check_int``, ``check_float``, ``check_choice`` and
``check_bool``: TypeError for a value of the wrong kind, ValueError for one out of range,
both naming the class, the argument and the value.

Metadata checks (shape, dtype, empty batch) are always on. Checks that read
values (NaN/Inf, label range) cost a device sync, so they run only where it is
free or asked for: in debug mode (``anynet.debug()``), or by default on NumPy
arrays where data enters a network (a container's input, a loss's targets,
a layer called on its own).
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import numbers
from typing import Any, Iterator, Sequence

from .backend import is_host, trace_constant

__all__ = [
    "check_array", "check_bool", "check_choice", "check_finite", "check_float", "check_int", "check_labels",
    "debug", "inside_network", "values_checked",
]

_DEBUG: contextvars.ContextVar[bool | None] = contextvars.ContextVar("anynet_debug", default=None)
_INSIDE: contextvars.ContextVar[bool] = contextvars.ContextVar("anynet_inside", default=False)


@contextlib.contextmanager
def debug(on: bool | None = True) -> Iterator[None]:
    """Check values (NaN/Inf, label range) in every layer call (True), never (False),
    or where it is free (None, the default: NumPy data entering a network)."""
    token = _DEBUG.set(on)
    try:
        yield
    finally:
        _DEBUG.reset(token)


@trace_constant
def _debug_mode() -> bool | None:
    return _DEBUG.get()


@trace_constant
def _inside() -> bool:
    return _INSIDE.get()


@contextlib.contextmanager
def inside_network() -> Iterator[None]:
    """Mark layer calls made by a container, which checked its input once already."""
    if _inside():  # nested: nothing to set (and nothing a compiler must trace)
        yield
        return
    token = _INSIDE.set(True)
    try:
        yield
    finally:
        _INSIDE.reset(token)


def values_checked(xp: Any) -> bool:
    """Whether checks that read values (NaN/Inf, label range) run for arrays of ``xp``: in debug mode,
    or outside networks on host arrays, unless ``debug(False)``."""
    mode = _debug_mode()
    if mode is None:
        return not _inside() and is_host(xp)
    return mode


def _fmt(shape: Sequence[Any]) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def check_array(
    where: str,
    x: Any,
    xp: Any,
    shape: Sequence[Any] | None = None,
    dtype: Any = None,
    name: str = "x",
) -> None:
    """Check ``x``'s shape against ``shape`` (ints must match, names like "N" are free; a dimension
    of ``x`` that is None, unknown while a graph is traced, matches anything), that it is floating
    (and of ``dtype`` when given), and that it has a batch axis and values."""
    got = tuple(x.shape)
    if shape is not None:
        fits = len(got) == len(shape) and all(
            not isinstance(want, int) or g is None or want == g for want, g in zip(shape, got)
        )
        if not fits:
            raise ValueError(f"{where}: expected {name} of shape {_fmt(shape)}, got {_fmt(got)}")
    if len(got) == 0:
        raise ValueError(f"{where}: expected {name} with a batch axis, (N, ...), got a 0-d array")
    if got[0] == 0:
        raise ValueError(f"{where}: empty batch: {name} has shape {_fmt(got)}")
    if 0 in got:
        raise ValueError(f"{where}: {name} of shape {_fmt(got)} holds no values")
    if not xp.isdtype(x.dtype, "real floating"):
        raise TypeError(
            f"{where}: expected {name} of a floating dtype, got {x.dtype} of shape {_fmt(got)}; "
            "convert it first (e.g. xp.astype(x, xp.float32))"
        )
    if dtype is not None and x.dtype != dtype:
        raise TypeError(
            f"{where}: expected {name} of dtype {dtype} like the layer's parameters, got "
            f"{x.dtype} of shape {_fmt(got)}; convert the data or build the layer with dtype=..."
        )
    if values_checked(xp):
        check_finite(where, x, xp, name)


def check_finite(where: str, x: Any, xp: Any, name: str = "x") -> None:
    """Raise ValueError if ``x`` holds NaN or Inf (reads values: a sync on a GPU)."""
    if not bool(xp.all(xp.isfinite(x))):
        bad = int(xp.sum(xp.astype(~xp.isfinite(x), xp.int64)))
        raise ValueError(f"{where}: {name} of shape {_fmt(tuple(x.shape))} holds {bad} NaN or Inf values")


def check_labels(
    where: str, t: Any, xp: Any, n_classes: int, shape: Sequence[Any], name: str = "labels t",
    also: str = "", ignore: int | None = None,
) -> None:
    """Check class indices (labels, embedding ids): ``shape`` (ints must match, names like "N"
    are free, as are sizes unknown while a graph is traced (None); ``also`` names another
    accepted form), an integer dtype, a non-empty batch, and (reading values)
    0 <= t < n_classes wherever t is not ``ignore`` (padding)."""
    got = tuple(t.shape)
    if len(got) != len(shape) or any(isinstance(w, int) and g is not None and w != g for w, g in zip(shape, got)):
        raise ValueError(f"{where}: expected {name} of shape {_fmt(shape)}{also}, got {_fmt(got)}")
    if not xp.isdtype(t.dtype, "integral"):
        raise TypeError(f"{where}: expected integer {name.split()[0]}, got {t.dtype} of shape {_fmt(got)}")
    if got and got[0] == 0:
        raise ValueError(f"{where}: empty batch: {name} have shape {_fmt(got)}")
    if values_checked(xp):
        counted = t if ignore is None else xp.where(t == ignore, xp.zeros_like(t), t)
        lo, hi = int(xp.min(counted)), int(xp.max(counted))
        if lo < 0 or hi >= n_classes:
            also_ignored = "" if ignore is None else f" or equal ignore_label={ignore}"
            raise ValueError(
                f"{where}: {name.split()[0]} must lie in [0, {n_classes}){also_ignored} for {n_classes} classes, "
                f"got values in [{lo}, {hi}]"
            )


def check_int(where: str, name: str, value: Any, minimum: int | None = 1, maximum: int | None = None) -> int:
    """``value`` as an int in [minimum, maximum] (None: unbounded); bools and floats are refused."""
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise TypeError(f"{where}: {name} must be an integer, got {value!r} ({type(value).__name__})")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        bound = (f">= {minimum}" if maximum is None else f"<= {maximum}" if minimum is None
                 else f"in [{minimum}, {maximum}]")
        raise ValueError(f"{where}: {name} must be an integer {bound}, got {value!r}")
    return int(value)


def check_float(where: str, name: str, value: Any, low: float | None = None, high: float | None = None,
                low_open: bool = False, high_open: bool = False) -> float:
    """``value`` as a finite float between ``low`` and ``high`` (each bound closed unless ``*_open``)."""
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise TypeError(f"{where}: {name} must be a number, got {value!r} ({type(value).__name__})")
    v = float(value)
    fits = math.isfinite(v) and not (
        low is not None and (v < low or (low_open and v == low))
        or high is not None and (v > high or (high_open and v == high))
    )
    if not fits:
        if low is not None and high is not None:
            bound = f"in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
        elif low is not None:
            bound = f"{'>' if low_open else '>='} {low}"
        elif high is not None:
            bound = f"{'<' if high_open else '<='} {high}"
        else:
            bound = "that is finite"
        raise ValueError(f"{where}: {name} must be a number {bound}, got {value!r}")
    return v


def check_choice(where: str, name: str, value: Any, choices: Sequence[Any]) -> Any:
    """``value`` if it is one of ``choices``."""
    if not any(value is c or (type(value) is type(c) and value == c) for c in choices):
        raise ValueError(f"{where}: {name} must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return value


def check_bool(where: str, name: str, value: Any) -> bool:
    """``value`` if it is a bool."""
    if not isinstance(value, bool):
        raise TypeError(f"{where}: {name} must be True or False, got {value!r} ({type(value).__name__})")
    return bool(value)
