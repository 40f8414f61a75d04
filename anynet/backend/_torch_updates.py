"""PyTorch's fused optimizer kernels (``torch._fused_sgd_``, ``torch._fused_adam_``,
``torch._fused_adamw_``; vectorized C++ on the CPU, one multi-tensor CUDA kernel on a GPU) as the
fused flat updates of ``_updates``, handed the FlatBuffer's arrays as one-tensor lists.

Checked against anynet's rules (torch 2.13, the kernels' source and the tests):

- ``_fused_sgd_`` with no momentum and no weight decay is SGD's w - lr g.
- ``_fused_adam_`` is Adam's rule: the same moments, bias corrections 1 - beta^t from the count,
  eps added outside the square root after the bias correction (sqrt(v) / sqrt(1 - beta2^t) + eps,
  the same value as anynet's sqrt(v / (1 - beta2^t)) + eps, rounded differently).
- ``_fused_adamw_`` decays the weights by lr weight_decay w before Adam's step, which does not read
  the weights: anynet's AdamW.
- Not used for ``Momentum`` or ``Nesterov``: PyTorch's momentum buffer holds b <- mu b + g and
  steps w <- w - lr b (``nesterov``: w <- w - lr (g + mu b)), anynet's velocity v <- mu v - lr g
  has the learning rate inside it. The two agree only while lr is constant, and the saved state
  would mean something else; those optimizers keep their in-place step.
"""

from __future__ import annotations

from typing import Any

from ._updates import FusedUpdates

__all__ = ["TorchFusedUpdates"]


def _count(t: int, like: Any) -> Any:
    """The update count as the fused Adam kernels read it: a float32 0-d tensor on the weights' device."""
    import torch

    return torch.full((), float(t), dtype=torch.float32, device=like.device)


class TorchFusedUpdates(FusedUpdates):
    """SGD, Adam and AdamW with PyTorch's fused kernels, under ``torch.no_grad()``."""

    name = "torch"

    def sgd_update(self, w: Any, g: Any, state: dict[str, Any], lr: float, t: int) -> None:
        """``torch._fused_sgd_`` without momentum or weight decay."""
        import torch

        with torch.no_grad():
            torch._fused_sgd_([w], [g], [], weight_decay=0.0, momentum=0.0, lr=lr, dampening=0.0,
                              nesterov=False, maximize=False, is_first_step=False)

    def adam_update(self, w: Any, g: Any, state: dict[str, Any], lr: float, t: int, *, beta1: float,
                    beta2: float, eps: float, bias1: float, bias2: float) -> None:
        """``torch._fused_adam_`` (it computes the bias corrections from ``t`` itself)."""
        import torch

        with torch.no_grad():
            torch._fused_adam_([w], [g], [state["m"]], [state["v"]], [], [_count(t, w)], lr=lr, beta1=beta1,
                               beta2=beta2, weight_decay=0.0, eps=eps, amsgrad=False, maximize=False)

    def adamw_update(self, w: Any, g: Any, state: dict[str, Any], lr: float, t: int, *, beta1: float,
                     beta2: float, eps: float, bias1: float, bias2: float, weight_decay: float) -> None:
        """``torch._fused_adamw_``."""
        import torch

        with torch.no_grad():
            torch._fused_adamw_([w], [g], [state["m"]], [state["v"]], [], [_count(t, w)], lr=lr, beta1=beta1,
                                beta2=beta2, weight_decay=weight_decay, eps=eps, amsgrad=False, maximize=False)
