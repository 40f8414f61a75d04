"""Array-API maths shared by layers and losses: stable softmax, log-softmax, sigmoid, one-hot."""

from __future__ import annotations

from typing import Any

from .backend import array_device, device_of, namespace

__all__ = [
    "accumulation_dtype", "as_indices", "clip", "log_softmax", "one_hot", "sigmoid", "sign", "softmax", "softplus",
    "widen",
]

# the floating dtypes too narrow to accumulate in (sums, exponentials, statistics)
NARROW_FLOATS = ("float16", "bfloat16")


def accumulation_dtype(xp: Any, dtype: Any) -> Any:
    """The dtype sums, exponentials and statistics of ``dtype`` data are computed in: float32 for
    float16 and bfloat16 (whose sums lose digits after a few hundred terms and whose exp
    overflows at 11), ``dtype`` itself otherwise."""
    for name in NARROW_FLOATS:
        narrow = getattr(xp, name, None)  # (not compared when absent: NumPy reads None as float64)
        if narrow is not None and dtype == narrow:
            return xp.float32
    return dtype


def widen(x: Any) -> Any:
    """``x`` in its accumulation dtype: float16/bfloat16 as float32, anything else as it is."""
    xp = namespace(x)
    wide = accumulation_dtype(xp, x.dtype)
    return x if wide == x.dtype else xp.astype(x, wide)


def _narrow(y: Any, dtype: Any) -> Any:
    return y if y.dtype == dtype else namespace(y).astype(y, dtype)


def softmax(x: Any, axis: int = -1) -> Any:
    """exp(x) / sum(exp(x)) along ``axis``, with the max subtracted first; float16/bfloat16 input
    is computed in float32 and returned in its own dtype."""
    xp = namespace(x)
    w = widen(x)
    e = xp.exp(w - xp.max(w, axis=axis, keepdims=True))
    return _narrow(e / xp.sum(e, axis=axis, keepdims=True), x.dtype)


def log_softmax(x: Any, axis: int = -1) -> Any:
    """log(softmax(x)) computed as z - log(sum(exp(z))), z = x - max(x) (in float32 for
    float16/bfloat16 input, returned in its dtype)."""
    xp = namespace(x)
    w = widen(x)
    z = w - xp.max(w, axis=axis, keepdims=True)
    return _narrow(z - xp.log(xp.sum(xp.exp(z), axis=axis, keepdims=True)), x.dtype)


def sigmoid(x: Any) -> Any:
    """1 / (1 + exp(-x)) without overflow for large |x|."""
    xp = namespace(x)
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def softplus(x: Any) -> Any:
    """log(1 + exp(x)) without overflow."""
    xp = namespace(x)
    return xp.maximum(x, 0.0) + xp.log1p(xp.exp(-xp.abs(x)))


def as_indices(t: Any) -> Any:
    """Integer labels in the namespace's own index dtype (PyTorch's take_along_axis wants int64)."""
    xp = namespace(t)
    return xp.astype(t, xp.__array_namespace_info__().default_dtypes(device=array_device(t))["indexing"], copy=False)


_CLASSES: dict[tuple[Any, int], Any] = {}


def _classes(xp: Any, n: int, t: Any) -> Any:
    """arange(n) (the default integer dtype: a uint8 range of 300 classes would wrap around) on
    t's device, made once per device, as one_hot runs in every loss call."""
    dev = array_device(t)
    if dev is None:  # a value traced by jax.jit: nothing may be kept
        return xp.arange(n)
    key = (device_of(t), n)
    found = _CLASSES.get(key)
    if found is None:
        found = _CLASSES[key] = xp.arange(n, device=dev)
    return found


def one_hot(t: Any, n_classes: int, dtype: Any) -> Any:
    """(N,) integer labels -> (N, n_classes) one-hot of ``dtype``."""
    xp = namespace(t)
    classes = _classes(xp, n_classes, t)
    return xp.astype(xp.expand_dims(xp.astype(t, classes.dtype, copy=False), axis=-1) == classes, dtype)


# clip and sign from minimum/maximum and comparisons: array-api-compat's CuPy versions index
# with boolean masks, a host read per call (see the backend's SYNCING list)
def clip(x: Any, lo: float, hi: float) -> Any:
    """x limited to [lo, hi] (Python numbers)."""
    xp = namespace(x)
    return xp.minimum(xp.maximum(x, lo), hi)


def sign(x: Any) -> Any:
    """-1, 0 or 1 by the sign of x, in x's dtype."""
    xp = namespace(x)
    return xp.astype(x > 0, x.dtype) - xp.astype(x < 0, x.dtype)
