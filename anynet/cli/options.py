"""Checks of the command line's arguments: ranges, the augmentation list, shapes, and whether the
device and its dtypes exist here. Each refuses before anything runs, naming the flag."""

from __future__ import annotations

import argparse
from typing import Any

from .. import backend
from ..data import DATASETS
from ..data.augment import named as named_augment
from ..data.augment import views as named_views
from ..training.precision import Precision
from ..validation import check_float, check_int

__all__ = ["UsageError", "available", "check_augment", "check_train_flags", "check_tta", "image_data", "parse_shape",
           "pick"]


class UsageError(ValueError):
    """A request the command cannot carry out; printed without a traceback."""


_AT_LEAST = (("epochs", 1), ("batch_size", 0), ("hidden", 1), ("layers", 1), ("limit", 1), ("seed", 0),
             ("checkpoint_every", 1), ("verbose", 0), ("prefetch", 0))


def check_train_flags(args: argparse.Namespace) -> None:
    """Refuse the numeric flags of ``anynet train`` out of range (ValueError naming the flag).

    **Arguments:**

    - ``args``: the parsed ``train`` arguments; flags left out (None) are not checked.
    """
    for flag, minimum in _AT_LEAST:
        if getattr(args, flag) is not None:
            check_int("train", "--" + flag.replace("_", "-"), getattr(args, flag), minimum)
    if args.lr is not None:
        check_float("train", "--lr", args.lr, 0.0, low_open=True)
    if args.val_fraction is not None:
        check_float("train", "--val-fraction", args.val_fraction, 0.0, 1.0, high_open=True)
    check_float("train", "--label-smoothing", args.label_smoothing, 0.0, 1.0, high_open=True)
    if args.dropout is not None:
        check_float("train", "--dropout", args.dropout, 0.0, 1.0, high_open=True)


def check_augment(augment: str | None, model: str, images: bool, data: str) -> None:
    """Refuse ``--augment`` where it cannot apply: an MLP, data that are no images, an unknown transform.

    **Arguments:**

    - ``augment``: the flag's value (None: not given).
    - ``model``, ``data``: the names of the model and the data set; ``images``: whether the data are images.
    """
    if not augment:
        return
    if not images or model == "mlp":
        raise UsageError(f"--augment transforms image batches: use a convolutional --model on {image_data()}")
    try:
        named_augment(augment, data)
    except ValueError as err:
        raise UsageError(str(err).replace("augment:", "--augment:", 1)) from None


def check_tta(tta: str | None, flat: bool, images: bool) -> None:
    """Refuse ``--tta`` where it cannot apply: flattened images (an MLP's), data that are no images,
    an unknown view.

    **Arguments:**

    - ``tta``: the flag's value (None: not given).
    - ``flat``: whether the model takes flattened images; ``images``: whether the data are images.
    """
    if not tta:
        return
    if not images or flat:
        raise UsageError(f"--tta averages views of test images: use a convolutional --model on {image_data()}")
    try:
        named_views(tta)
    except ValueError as err:
        raise UsageError(str(err).replace("tta:", "--tta:", 1)) from None


def image_data(flag: str = "") -> str:
    """The image data sets of the registry as a choice, e.g. "fashion-mnist or mnist" (each after
    ``flag`` and a space where one is given)."""
    return " or ".join(f"{flag} {name}".strip() for name, spec in DATASETS.items() if spec.images)


def available(spec: str, precision: str = "float32") -> None:
    """Refuse a device that is unknown or absent here, or lacks the dtypes of ``precision``, before
    any work, in one line.

    **Arguments:**

    - ``spec``: the ``--device`` value.
    - ``precision``: the ``--precision`` value; the device must have its compute and master dtypes.
    """
    try:
        dev = backend.as_device(spec)
        dev.zeros((1,))
    except backend.DeviceError:
        raise
    except Exception as err:  # noqa: BLE001 - array libraries fail on absent hardware in their own ways
        raise UsageError(f"device {spec!r} is not available here ({type(err).__name__}: {err})") from None
    policy = Precision.named(precision)
    for name in (policy.compute, policy.master):
        dev.float_dtype(name)  # DeviceError naming the device, the dtype and where it runs


def parse_shape(text: str) -> tuple[int, ...]:
    """One example's shape from ``--input-shape`` ("1,28,28" or "1x28x28").

    **Returns:** the sizes; a UsageError unless they are positive integers.
    """
    try:
        shape = tuple(int(s) for s in text.replace("x", ",").split(",") if s.strip())
    except ValueError:
        shape = ()
    if not shape or min(shape) < 1:
        raise UsageError(f"--input-shape must be positive sizes separated by commas, such as 1,28,28; got {text!r}")
    return shape


def pick(value: Any, default: Any) -> Any:
    """``value`` when the flag was given (not None), else ``default``."""
    return default if value is None else value
