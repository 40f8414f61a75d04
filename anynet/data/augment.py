"""Augmentation of image batches (N, C, H, W) on the batch's own device.

Each transform draws its random numbers for the whole batch at once with the device's
generator (``anynet.backend.uniform_like``, seeded by ``anynet.seed`` and saved in
checkpoints, so a resumed run draws the same), and builds its result from comparisons,
``where`` and strided slices: no per-image Python loop, no host round trip.

    loader = DataLoader(train, 100, augment=Compose([RandomShift(2), RandomFlip()]))

Every argument is checked when a transform is built. What a transform can only check against
the data (its shape and dtype) it checks in ``check(x)``, which reads metadata only and draws
nothing: a loader can call it on a host sample of its data set (``augment.check(data.x[:1])``)
before it draws the epoch's order, and every call runs it before its first draw, so a refused
augmentation moves no generator.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Iterable, Sequence

from ..backend import array_device, namespace, uniform_like
from ..validation import check_float, check_int

__all__ = ["Augment", "Compose", "Flip", "Normalize", "RandomErasing", "RandomFlip", "RandomShift", "for_data", "named",
           "views"]


class Augment:
    """Base: ``augment(x) -> x'`` for an image batch x (N, C, H, W) of a real floating dtype."""

    def __call__(self, x: Any) -> Any:
        raise NotImplementedError

    @property
    def name(self) -> str:
        """The transform's name in messages: its class name."""
        return type(self).__name__

    def check(self, x: Any) -> None:
        """Refuse a batch this transform cannot take, before anything is drawn: reads only the
        namespace, shape and dtype of ``x``, so a one-sample host slice of a data set stands for
        its batches (the loader's cast keeps floating data floating).

        **Arguments:**
            x: an image batch (N, C, H, W) of a real floating dtype, or a sample of the data.

        **Returns:** None; raises ValueError (shape) or TypeError (dtype) naming the transform.
        """
        xp = namespace(x, where=self.name)
        shape = tuple(x.shape)
        if len(shape) != 4:
            raise ValueError(f"{self.name}: expected an image batch of shape (N, C, H, W), got {shape}")
        if 0 in shape[1:]:
            raise ValueError(f"{self.name}: expected images of at least 1x1 pixels in each of C channels, "
                             f"got {shape}")
        if not xp.isdtype(x.dtype, "real floating"):
            raise TypeError(f"{self.name}: expected floating images, got {x.dtype}")

    def _checked(self, x: Any) -> Any:
        """x's namespace, once ``check`` has passed (every call checks before it draws)."""
        self.check(x)
        return namespace(x, where=self.name)

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
    crop of the image padded by ``pad`` (the standard CIFAR/Fashion-MNIST recipe).
    x: (N, C, H, W) -> (N, C, H, W).

    **Arguments:**
        pad: the largest shift, an integer >= 1 (and, checked against the data, < H and < W).
    """

    def __init__(self, pad: int = 2):
        self.pad = check_int("RandomShift", "pad", pad, minimum=1)

    def check(self, x: Any) -> None:
        """As ``Augment.check``; also refuses a ``pad`` that can shift an image wholly out of its
        frame (pad >= H or W), which leaves nothing to learn from and costs 2 * pad + 1 passes."""
        super().check(x)
        H, W = x.shape[2], x.shape[3]
        if self.pad >= min(H, W):
            raise ValueError(f"RandomShift: pad={self.pad} can shift {H}x{W} images out of their frame; "
                             f"expected pad < {min(H, W)}")

    def __call__(self, x):
        xp = self._checked(x)
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
    """Mirror each image along ``axis`` (-1: left-right) with probability ``p``.
    x: (N, C, H, W) -> (N, C, H, W).

    **Arguments:**
        p: the probability of a flip, a number in [0, 1].
        axis: the spatial axis mirrored: -1 or 3 (left-right), -2 or 2 (upside down).
    """

    def __init__(self, p: float = 0.5, axis: int = -1):
        self.p = check_float("RandomFlip", "p", p, low=0.0, high=1.0)
        self.axis = _spatial_axis("RandomFlip", axis)

    def __call__(self, x):
        xp = self._checked(x)
        flip = _per_sample(x, 1)[:, 0] < self.p
        return xp.where(_column(flip), xp.flip(x, axis=self.axis), x)


class Flip(Augment):
    """Mirror every image along ``axis`` (-1: left-right); draws nothing. The fixed view that
    test-time augmentation averages with each image (``Trainer.evaluate(data, tta=[Flip()])``,
    ``anynet train/evaluate --tta flip``). x: (N, C, H, W) -> (N, C, H, W).

    **Arguments:**
        axis: the spatial axis mirrored: -1 or 3 (left-right), -2 or 2 (upside down).
    """

    def __init__(self, axis: int = -1):
        self.axis = _spatial_axis("Flip", axis)

    def __call__(self, x):
        xp = self._checked(x)
        return xp.flip(x, axis=self.axis)


def _spatial_axis(where: str, axis: Any) -> int:
    """``axis``, checked to be a spatial axis of an (N, C, H, W) batch: -1, -2, 2 or 3."""
    if check_int(where, "axis", axis, minimum=None) not in (-1, -2, 2, 3):
        raise ValueError(f"{where}: axis must be a spatial axis (-1, -2, 2 or 3), got {axis!r}")
    return int(axis)


class RandomErasing(Augment):
    """With probability ``p``, set a random rectangle of each image to ``value``: its area a
    fraction in ``scale`` of the image, its aspect ratio log-uniform in ``ratio``.
    Zhong et al. 2020, https://arxiv.org/abs/1708.04896 (as torchvision's RandomErasing,
    the rectangle clipped to the image instead of redrawn). x: (N, C, H, W) -> (N, C, H, W).

    **Arguments:**
        p: the probability that an image has a rectangle erased, a number in [0, 1].
        scale: (low, high), the range of the rectangle's area as a fraction of the image's,
            0 < low <= high <= 1.
        ratio: (low, high), the range of its aspect ratio (height / width), 0 < low <= high.
        value: the finite number the rectangle is set to.
    """

    def __init__(self, p: float = 0.5, scale: Sequence[float] = (0.02, 0.33),
                 ratio: Sequence[float] = (0.3, 3.3), value: float = 0.0):
        self.p = check_float("RandomErasing", "p", p, low=0.0, high=1.0)
        self.scale = _pair("RandomErasing", "scale", scale, high=1.0)
        self.ratio = _pair("RandomErasing", "ratio", ratio)
        self.value = check_float("RandomErasing", "value", value)

    def __call__(self, x):
        xp = self._checked(x)
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
    """(x - mean) / std, per channel (sequences of length C) or overall (numbers).
    x: (N, C, H, W) -> (N, C, H, W).

    **Arguments:**
        mean: a finite number, or a sequence of them (one per channel; a 1-d host array serves).
        std: a positive finite number, or a sequence of them; of the same length as ``mean``
            when both are sequences of more than one.
    """

    def __init__(self, mean: float | Sequence[float], std: float | Sequence[float]):
        self.mean = _per_channel("Normalize", "mean", mean)
        self.std = _per_channel("Normalize", "std", std, positive=True)
        if len(self.mean) > 1 and len(self.std) > 1 and len(self.mean) != len(self.std):
            raise ValueError(f"Normalize: {len(self.mean)} means and {len(self.std)} stds: give one per channel "
                             "for both, or a single number")

    def check(self, x: Any) -> None:
        """As ``Augment.check``; also refuses a batch whose channels the means and stds do not fit."""
        super().check(x)
        C = x.shape[1]
        if len(self.mean) not in (1, C) or len(self.std) not in (1, C):
            raise ValueError(f"Normalize: {len(self.mean)} means and {len(self.std)} stds for {C} channels")

    def __call__(self, x):
        xp = self._checked(x)
        mean = xp.reshape(xp.asarray(self.mean, dtype=x.dtype, device=_device(x)), (1, -1, 1, 1))
        std = xp.reshape(xp.asarray(self.std, dtype=x.dtype, device=_device(x)), (1, -1, 1, 1))
        return (x - mean) / std


class Compose(Augment):
    """The transforms in order; every one is checked before the first draws.

    **Arguments:**
        transforms: a list or tuple of transforms (``Augment``s, or callables of a batch).
    """

    def __init__(self, transforms: Sequence[Augment]):
        if not isinstance(transforms, (list, tuple)):
            raise TypeError(f"Compose: transforms must be a list or tuple of transforms, got {transforms!r}")
        self.transforms = list(transforms)
        for t in self.transforms:
            if not callable(t):
                raise TypeError(f"Compose: expected callables, got {t!r}")

    def check(self, x: Any) -> None:
        """Each transform's check in turn, up to the first plain callable: what it returns is
        unknown until it runs (anynet's transforms keep shape and dtype), so the ones after it
        are checked at the call."""
        for t in self.transforms:
            if not isinstance(t, Augment):
                return
            t.check(x)

    def __call__(self, x):
        self.check(x)  # a later transform refused after an earlier one drew would have moved a generator
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
    if not isinstance(spec, str):
        raise TypeError(f"augment: spec must be a string such as 'auto' or 'shift,flip', got {spec!r}")
    if spec == "auto":
        return for_data(data)
    names = [n.strip() for n in spec.split(",")]
    unknown = [n for n in names if n not in NAMED]
    if unknown or not names:
        raise ValueError(f"augment: unknown transform(s) {', '.join(map(repr, unknown)) or repr(spec)}: "
                         f"give 'auto' or a comma-separated list of {', '.join(NAMED)}")
    return Compose([NAMED[n]() for n in NAMED if n in names])


# what each name of ``views`` builds: fixed views of an image, for test-time augmentation
VIEWS = {"flip": Flip}


def views(spec: str) -> list[Augment]:
    """``anynet train/evaluate --tta``'s views of each test image, whose scores are averaged with
    the image's own: a comma-separated list of flip (its left-right mirror image)."""
    if not isinstance(spec, str):
        raise TypeError(f"tta: spec must be a string such as 'flip', got {spec!r}")
    names = [n.strip() for n in spec.split(",")]
    unknown = [n for n in names if n not in VIEWS]
    if unknown:
        raise ValueError(f"tta: unknown view(s) {', '.join(map(repr, unknown))}: give a comma-separated list of "
                         f"{', '.join(VIEWS)}")
    return [VIEWS[n]() for n in VIEWS if n in names]


def _device(x: Any) -> Any:
    return array_device(x)


def _real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _pair(where: str, name: str, value: Any, high: float | None = None) -> tuple[float, float]:
    """``value`` as a pair (low, high) of finite numbers with 0 < low <= high (<= ``high`` if given):
    TypeError for what is not a list or tuple of numbers, ValueError for the wrong length or range."""
    bound = "0 < low <= high" + ("" if high is None else f" <= {high:g}")
    rule = f"{where}: {name} must satisfy {bound} as a pair (low, high) of finite numbers, got {value!r}"
    if not isinstance(value, (list, tuple)) or not all(_real(v) for v in value):
        raise TypeError(rule)
    if len(value) != 2:
        raise ValueError(rule)
    lo, hi = float(value[0]), float(value[1])
    if not (math.isfinite(lo) and math.isfinite(hi) and 0 < lo <= hi and (high is None or hi <= high)):
        raise ValueError(rule)
    return lo, hi


def _per_channel(where: str, name: str, value: Any, positive: bool = False) -> list[float]:
    """``value``, a number or a sequence of one per channel, as a list of finite floats (> 0 if ``positive``)."""
    many = isinstance(value, Iterable) and not isinstance(value, (str, bytes))
    try:
        items = list(value) if many else [value]
    except TypeError:  # a 0-d array is iterable in name only: check_float refuses it by name below
        items, many = [value], False
    if not items:
        raise ValueError(f"{where}: {name} must be a number or a sequence of one per channel, got {value!r}")
    out = []
    for i, v in enumerate(items):
        label = f"{name}[{i}]" if many else name
        v = check_float(where, label, v)
        if positive and not v > 0:
            raise ValueError(f"{where}: {label} must be positive and finite, got {v!r}")
        out.append(v)
    return out
