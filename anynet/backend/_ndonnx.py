"""ndonnx: arrays that are values of an ONNX graph (``"ndonnx"``, also ``"onnx"``).

Running a model's forward pass on ndonnx arrays records it as an ONNX graph
(``anynet.export.to_onnx``): parameters become constants, the input an argument. Only
constants have values here; the rest are known once the graph runs (in onnxruntime).
There are no random numbers: a graph is built in inference mode.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._device import Device, DeviceError, import_library, register

__all__ = ["NdonnxDevice"]

_INSTALL = "pip install 'anynet[onnx]'"


@register
class NdonnxDevice(Device):
    library = "ndonnx"
    prefixes = ("ndonnx", "onnx")
    writable = False

    @classmethod
    def owns(cls, xp: Any) -> bool:
        return getattr(xp, "__name__", "") == "ndonnx"

    @classmethod
    def parse(cls, rest: str, spec: str) -> Device:
        ndx = import_library("ndonnx", spec, _INSTALL)
        if rest not in ("", "cpu"):
            raise DeviceError(f"device {spec!r}: ndonnx has one device, written 'ndonnx'")
        return cls.of(ndx, None)

    @classmethod
    def of(cls, xp: Any, dev: Any) -> Device:
        import ndonnx

        if dev is None:
            dev = ndonnx.__array_namespace_info__().default_device()
        return cls(ndonnx, dev, "ndonnx")

    def from_numpy(self, a: np.ndarray) -> Any:
        return self.xp.asarray(np.asarray(a))  # a constant of the graph

    def to_numpy(self, x: Any) -> np.ndarray:
        try:
            return np.asarray(x.unwrap_numpy())
        except ValueError:
            raise DeviceError(
                f"ndonnx: the array of shape {tuple(x.shape)} is a value of an ONNX graph, known only when "
                "the graph runs; build the graph with anynet.export.to_onnx and run it in onnxruntime"
            ) from None

    def argument(self, shape: tuple[int | str, ...], dtype: Any) -> Any:
        """A graph input of ``shape`` (a str names a symbolic axis, e.g. "N") and ``dtype`` (any library's)."""
        from ._random import numpy_dtype

        return self.xp.argument(shape=shape, dtype=self.xp.from_numpy_dtype(numpy_dtype(dtype)))

    def build(self, inputs: dict[str, Any], outputs: dict[str, Any]) -> Any:
        """The ``onnx.ModelProto`` computing ``outputs`` from ``inputs`` (dicts of graph values by name)."""
        return self.xp.build(inputs, outputs)

    def zeros(self, shape: tuple[int, ...], dtype: Any = None) -> Any:
        return self.xp.zeros(shape, dtype=self.xp.float32 if dtype is None else dtype)

    def pad(self, x: Any, widths: tuple[tuple[int, int], ...], value: float = 0.0) -> Any:
        # One ONNX Pad: array-api-extra's generic pad needs every size known, the batch's too.
        import spox.opset.ai.onnx.v21 as op

        pads = np.asarray([w[0] for w in widths] + [w[1] for w in widths], dtype=np.int64)
        fill = self.xp.asarray(value, dtype=x.dtype)
        return self.xp.asarray(op.pad(x.unwrap_spox(), op.const(pads), fill.unwrap_spox()))

    def _no_random(self) -> DeviceError:
        return DeviceError("ndonnx: an ONNX graph draws no random numbers; trace the model in inference "
                           "mode (model.eval(), or predict), where dropout is off")

    def new_rng(self, seed: int | None) -> Any:
        raise self._no_random()

    def uniform(self, rng: Any, shape: tuple[int, ...], dtype: Any) -> Any:
        raise self._no_random()

    def rng_state(self, rng: Any) -> None:
        return None
