"""Augmentation of image batches (N, C, H, W) on the batch's own device.

Each transform draws its random numbers for the whole batch at once with the device's
generator (``anynet.backend.uniform_like``, seeded by ``anynet.seed`` and saved in
checkpoints, so a resumed run draws the same), and builds its result from comparisons,
``where`` and strided slices: no per-image Python loop, no host round trip.

    loader = DataLoader(train, 100, augment=Compose([RandomShift(2), RandomFlip()]))
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from ..backend import array_device, namespace, uniform_like
from ..validation import check_float, check_int

__all__ = ["Augment", "Compose", "Normalize", "RandomErasing", "RandomFlip", "RandomShift", "for_data", "named"]


class Augment:
    """Base: ``augment(x) -> x'`` for an image batch x (N, C, H, W) of a real floating dtype."""

    def __call__(self, x: Any) -> Any:
        raise NotImplementedError

    @property
    def name(self) -> str:
        return type(self).__name__

    def _check(self, x: Any) -> Any:
        xp = namespace(x, where=self.name)
        if x.ndim != 4:
            raise ValueError(f"{self.name}: expected an image batch of shape (N, C, H, W), got {tuple(x.shape)}")
        if not xp.isdtype(x.dtype, "real floating"):
            raise TypeError(f"{self.name}: expected floating images, got {x.dtype}")
        return xp

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{self.name}({args})"


def _per_sample(x: Any, n: int) -> Any:
    """n uniform [0, 1) numbers per sample: shape (N, n), on x's device."""
    return uniform_like(x, (x.shape[0], n))


def _column(v: Any) -> Any:
    """(N,) -> (N, 1, 1, 1), to broadcast against the batch."""
    return v[:, None, None, None]


class RandomShift(Augment):
    """Shift each image by up to ``pad`` pixels along each axis, filling with zeros: a random
    crop of the image padded by ``pad`` (the standard CIFAR/Fashion-MNIST recipe)."""

    def __init__(self, pad: int = 2):
        self.pad = check_int("RandomShift", "pad", pad, minimum=1)

    def __call__(self, x):
        xp = self._check(x)
        p, k = self.pad, 2 * self.pad + 1
        offsets = xp.floor(_per_sample(x, 2) * k)  # (N, 2): the crop's corner in the padded image
        for axis, column in ((2, 0), (3, 1)):
            x = self._shift(xp, x, axis, offsets[:, column], p, k)
        return x

    @staticmethod
    def _shift(xp: Any, x: Any, axis: int, offset: Any, p: int, k: int) -> Any:
        # Separable: along one axis, the crop at each of the k offsets selected by a per-sample mask.
        size = x.shape[axis]
        zeros_shape = list(x.shape)
        zeros_shape[axis] = p
        zeros = xp.zeros(tuple(zeros_shape), dtype=x.dtype, device=_device(x))
        padded = xp.concat([zeros, x, zeros], axis=axis)
        out = None
        for j in range(k):
            index = [slice(None)] * 4
            index[axis] = slice(j, j + size)
            part = xp.where(_column(offset == j), padded[tuple(index)], xp.zeros_like(x))
            out = part if out is None else out + part
        return out


class RandomFlip(Augment):
    """Mirror each image along ``axis`` (-1: left-right) with probability ``p``."""

    def __init__(self, p: float = 0.5, axis: int = -1):
        self.p = check_float("RandomFlip", "p", p, low=0.0, high=1.0)
        if axis not in (-1, -2, 2, 3):
            raise ValueError(f"RandomFlip: axis must be a spatial axis (-1, -2, 2 or 3), got {axis!r}")
        self.axis = axis

    def __call__(self, x):
        xp = self._check(x)
        flip = _per_sample(x, 1)[:, 0] < self.p
        return xp.where(_column(flip), xp.flip(x, axis=self.axis), x)


class RandomErasing(Augment):
    """With probability ``p``, set a random rectangle of each image to ``value``: its area a
    fraction in ``scale`` of the image, its aspect ratio log-uniform in ``ratio``.
    Zhong et al. 2020, https://arxiv.org/abs/1708.04896 (as torchvision's RandomErasing,
    the rectangle clipped to the image instead of redrawn)."""

    def __init__(self, p: float = 0.5, scale: Sequence[float] = (0.02, 0.33),
                 ratio: Sequence[float] = (0.3, 3.3), value: float = 0.0):
        self.p = check_float("RandomErasing", "p", p, low=0.0, high=1.0)
        lo, hi = (float(s) for s in scale)
        if not 0 < lo <= hi <= 1:
            raise ValueError(f"RandomErasing: scale must satisfy 0 < low <= high <= 1, got {tuple(scale)!r}")
        r_lo, r_hi = (float(r) for r in ratio)
        if not 0 < r_lo <= r_hi:
            raise ValueError(f"RandomErasing: ratio must satisfy 0 < low <= high, got {tuple(ratio)!r}")
        self.scale, self.ratio = (lo, hi), (r_lo, r_hi)
        self.value = check_float("RandomErasing", "value", value)

    def __call__(self, x):
        xp = self._check(x)
        N, C, H, W = x.shape
        u = _per_sample(x, 5)
        area = (self.scale[0] + (self.scale[1] - self.scale[0]) * u[:, 0]) * (H * W)
        log_lo, log_hi = math.log(self.ratio[0]), math.log(self.ratio[1])
        aspect = xp.exp(log_lo + (log_hi - log_lo) * u[:, 1])
        h = xp.minimum(xp.round(xp.sqrt(area * aspect)), xp.full_like(area, H))
        w = xp.minimum(xp.round(xp.sqrt(area / aspect)), xp.full_like(area, W))
        top = xp.floor(u[:, 2] * (H - h + 1))
        left = xp.floor(u[:, 3] * (W - w + 1))
        rows = xp.astype(xp.arange(H, device=_device(x)), x.dtype)
        cols = xp.astype(xp.arange(W, device=_device(x)), x.dtype)
        in_rows = (rows[None, :] >= top[:, None]) & (rows[None, :] < (top + h)[:, None])  # (N, H)
        in_cols = (cols[None, :] >= left[:, None]) & (cols[None, :] < (left + w)[:, None])  # (N, W)
        erase = in_rows[:, None, :, None] & in_cols[:, None, None, :] & _column(u[:, 4] < self.p)
        return xp.where(erase, xp.full_like(x, self.value), x)


class Normalize(Augment):
    """(x - mean) / std, per channel (sequences of length C) or overall (numbers)."""

    def __init__(self, mean: float | Sequence[float], std: float | Sequence[float]):
        self.mean = [float(m) for m in (mean if isinstance(mean, (list, tuple)) else [mean])]
        self.std = [float(s) for s in (std if isinstance(std, (list, tuple)) else [std])]
        if not all(s > 0 and math.isfinite(s) for s in self.std):
            raise ValueError(f"Normalize: std must be positive and finite, got {std!r}")

    def __call__(self, x):
        xp = self._check(x)
        C = x.shape[1]
        if len(self.mean) not in (1, C) or len(self.std) not in (1, C):
            raise ValueError(f"Normalize: {len(self.mean)} means and {len(self.std)} stds for {C} channels")
        mean = xp.reshape(xp.asarray(self.mean, dtype=x.dtype, device=_device(x)), (1, -1, 1, 1))
        std = xp.reshape(xp.asarray(self.std, dtype=x.dtype, device=_device(x)), (1, -1, 1, 1))
        return (x - mean) / std


class Compose(Augment):
    """The transforms in order."""

    def __init__(self, transforms: Sequence[Augment]):
        self.transforms = list(transforms)
        for t in self.transforms:
            if not callable(t):
                raise TypeError(f"Compose: expected callables, got {t!r}")

    def __call__(self, x):
        for t in self.transforms:
            x = t(x)
        return x


def for_data(name: str) -> Augment:
    """What suits a data set: shifts by up to 2 pixels, and left-right flips for the clothing
    (not for digits, whose mirror images are other shapes)."""
    if name == "fashion-mnist":
        return Compose([RandomShift(2), RandomFlip()])
    if name == "mnist":
        return RandomShift(2)
    raise ValueError(f"no augmentation suits {name!r}: it applies to image data (fashion-mnist, mnist)")


# what each name of ``named`` builds
NAMED = {"shift": lambda: RandomShift(2), "flip": RandomFlip, "erase": RandomErasing}


def named(spec: str, data: str) -> Augment:
    """``anynet train --augment``'s transforms: "auto" for what suits ``data`` (``for_data``), or a
    comma-separated list of shift (up to 2 pixels), flip (left-right) and erase (RandomErasing's
    defaults), applied in that order."""
    if spec == "auto":
        return for_data(data)
    names = [n.strip() for n in spec.split(",")]
    unknown = [n for n in names if n not in NAMED]
    if unknown or not names:
        raise ValueError(f"augment: unknown transform(s) {', '.join(map(repr, unknown)) or repr(spec)}: "
                         f"give 'auto' or a comma-separated list of {', '.join(NAMED)}")
    return Compose([NAMED[n]() for n in NAMED if n in names])


def _device(x: Any) -> Any:
    return array_device(x)
