"""``anynet evaluate CHECKPOINT``: the test loss and accuracy of a checkpoint of ``anynet train``."""

from __future__ import annotations

import argparse
import dataclasses

from .. import backend
from ..data import data_spec
from ..data.augment import views as named_views
from ..losses import SoftmaxWithLoss
from ..training import Trainer
from .build import load_data, load_model
from .options import available, check_tta
from .train import test_line

__all__ = ["EvaluateRun", "execute"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class EvaluateRun:
    """What ``anynet evaluate`` does.

    **Arguments:**

    - ``checkpoint``: the checkpoint written by ``anynet train``.
    - ``data``: the data set whose test set to use; None: the one it was trained on.
    - ``device``, ``data_dir``: as the flags; ``download``: False with ``--no-download``.
    - ``tta``: ``--tta``'s views (None: not given).
    """

    checkpoint: str
    data: str | None
    device: str
    data_dir: str | None
    download: bool
    tta: str | None = None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> EvaluateRun:
        """The run ``args`` (parsed ``evaluate`` arguments) asks for."""
        return cls(checkpoint=args.checkpoint, data=args.data, device=args.device, data_dir=args.data_dir,
                   download=not args.no_download, tta=args.tta)


def execute(run: EvaluateRun) -> int:
    """Rebuild the checkpoint's model on ``run.device``, in the precision it was trained in, and
    print its loss and accuracy on the test set.

    **Returns:** the exit status, 0.
    """
    available(run.device)
    with backend.device(run.device):
        model, spec, precision = load_model(run.checkpoint, run.data)
        trainer = Trainer(model, SoftmaxWithLoss(), None, verbose=0, precision=precision)
        check_tta(run.tta, spec.flat, data_spec(spec.data).images)
        _, test = load_data(spec.data, spec.flat, run.data_dir, run.download)
        scores = [trainer.evaluate(test)]
        if run.tta:
            scores.append(trainer.evaluate(test, tta=named_views(run.tta)))
    print(f"{spec.name} from {run.checkpoint} on the {spec.data} test set: {test_line(scores, run.tta)}")
    return 0
