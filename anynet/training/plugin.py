"""The one seam of the training step that features plug into.

A training step is forward -> loss -> backward -> gradient transforms -> optimizer update
(``anynet.training.step.TrainStep``). Mixed precision (``anynet.Precision``) and data-parallel
training (``anynet.parallel.DataParallel``) change it only through a ``StepPlugin``: they seed
the backward pass, transform the gradients, and wrap the optimizer's update, holding their own
state (master weights and the loss scale; the process group). Layers, losses, optimizers and the
device context know nothing of them; a feature that is off is not in the step's plugin list and
costs nothing.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from ..parameter import Parameter

__all__ = ["StepPlugin"]

Update = Callable[[Sequence[Parameter]], None]


class StepPlugin:
    """A feature of the training step; every method's default leaves the step as it is.

    The step calls, in the order the plugins are listed: ``seed`` on the seed gradient of the
    loss, then (after backward) ``transform`` on the gradients, and runs the update as
    ``plugins[0].update(plugins[1].update(... optimizer.update))``, each wrapping the next.
    Everything here runs inside a compiled step too: no host reads, no branch on values.
    """

    @property
    def active(self) -> bool:
        """Whether the feature changes the step at all (an inactive one is left out of it)."""
        return True

    # why a compiled step cannot run this plug-in (its state lives outside the traced values), or None
    untraceable: str | None = None

    def prepare(self, model: Any, optimizer: Any) -> None:
        """Bring ``model`` and ``optimizer`` to what this feature needs, once per fit (a second
        call changes nothing)."""

    def seed(self, seed: Any) -> Any:
        """The seed gradient handed to ``loss.backward``, given the one so far."""
        return seed

    def transform(self, params: Sequence[Parameter], grads: list[Any]) -> list[Any]:
        """The gradients the update sees, given those of ``params`` so far."""
        return grads

    def update(self, apply: Update, params: Sequence[Parameter]) -> None:
        """Run ``apply`` (the rest of the update: the optimizer's, possibly wrapped) for ``params``."""
        apply(params)
