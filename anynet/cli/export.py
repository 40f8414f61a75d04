"""``anynet export CHECKPOINT OUT.onnx``: a checkpoint of ``anynet train`` as an ONNX file;
``anynet export CHECKPOINT OUT.safetensors``: its weights."""

from __future__ import annotations

import argparse
import dataclasses

from ..export import to_onnx
from ..weights import save_weights
from .build import load_model
from .options import UsageError, parse_shape

__all__ = ["ExportRun", "execute"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class ExportRun:
    """What ``anynet export`` does.

    **Arguments:**

    - ``checkpoint``: the checkpoint written by ``anynet train``; ``out``: the ``.onnx`` file to write (or
      a ``.safetensors`` file of the weights).
    - ``input_shape``: one example's shape; None: the shape of the data set it was trained on.
    - ``batch``: a fixed batch size; None: a symbolic batch axis.
    - ``traced``: trace every layer's primitives instead of emitting whole ONNX operators.
    """

    checkpoint: str
    out: str
    input_shape: tuple[int, ...] | None
    batch: int | None
    traced: bool

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> ExportRun:
        """The export ``args`` (parsed ``export`` arguments) asks for; a UsageError for a malformed
        ``--input-shape`` or a ``--batch`` below 1."""
        if args.out.endswith(".safetensors") and (args.input_shape or args.batch is not None or args.traced):
            raise UsageError("--input-shape, --batch and --traced shape an ONNX graph; a .safetensors file holds "
                             "only the weights")
        if args.batch is not None and args.batch < 1:
            raise UsageError(f"--batch must be a positive batch size, got {args.batch}")
        shape = parse_shape(args.input_shape) if args.input_shape else None
        return cls(checkpoint=args.checkpoint, out=args.out, input_shape=shape, batch=args.batch,
                   traced=args.traced)


def execute(run: ExportRun) -> int:
    """Write the checkpoint's model as ONNX (input ``x`` (batch, *shape), output ``y``), or its weights
    when ``out`` ends in ``.safetensors`` (``anynet.save_weights``), and say so.

    **Returns:** the exit status, 0.
    """
    model, spec, precision = load_model(run.checkpoint, widen=True)  # ONNX on every runtime: float32
    widened = f" (trained in {precision.compute}, exported in float32)" if precision.mixed else ""
    if run.out.endswith(".safetensors"):
        save_weights(model, run.out)
        print(f"wrote {run.out}: the weights of {spec.name} from {run.checkpoint}, "
              f"{len(model.state_dict())} arrays{widened}")
        return 0
    shape = run.input_shape or spec.example_shape()
    proto = to_onnx(model, (run.batch, *shape), run.out, dynamic_batch=run.batch is None, operators=not run.traced)
    dims = ", ".join(str(s) for s in ("N" if run.batch is None else run.batch, *shape))
    print(f"wrote {run.out}: {spec.name} from {run.checkpoint}, input x ({dims}), output y, "
          f"{len(proto.graph.node)} ONNX nodes{widened}")
    return 0
