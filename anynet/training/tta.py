"""Test-time augmentation: fixed views of each evaluated batch (such as ``anynet.data.augment.Flip()``),
whose scores are averaged with the batch's own (``Trainer.evaluate(data, tta=[...])``)."""

from __future__ import annotations

from typing import Any, Callable, Sequence

__all__ = ["averaged", "check_views"]


def check_views(where: str, tta: Any, sample: Callable[[], Any]) -> list[Callable[[Any], Any]]:
    """``tta`` as a list, each view run on ``sample()`` (one example of the data, on the model's
    device; not made where there are no views).

    **Returns:** the list; a TypeError for what is not a list of functions, a ValueError for a view
    that refuses the data or changes its shape (each naming ``where``).
    """
    if not isinstance(tta, (list, tuple)):
        raise TypeError(f"{where}: tta must be a list of views (functions batch -> batch, such as "
                        f"anynet.data.augment.Flip()), got {type(tta).__name__}")
    for i, view in enumerate(tta):
        if not callable(view):
            raise TypeError(f"{where}: tta[{i}] must be a function batch -> batch, got {type(view).__name__}")
    x = sample() if tta else None
    for i, view in enumerate(tta):
        shape = tuple(view(x).shape)
        if shape != tuple(x.shape):
            raise ValueError(f"{where}: tta[{i}] ({getattr(view, 'name', type(view).__name__)}) must keep a "
                             f"batch's shape: it turned {tuple(x.shape)} into {shape}")
    return list(tta)


def averaged(predict: Callable[[Any], Any], x: Any, views: Sequence[Callable[[Any], Any]]) -> Any:
    """The mean of ``predict``'s scores of the batch ``x`` and of each of its ``views`` (one forward
    pass each); ``predict(x)`` itself where there are none."""
    y = predict(x)
    for view in views:
        y = y + predict(view(x))
    return y / (len(views) + 1) if views else y
