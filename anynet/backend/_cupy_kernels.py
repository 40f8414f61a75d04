"""CuPy's convolutions through the cuDNN Frontend's Python graphs (``nvidia-cudnn-frontend``,
``pip install 'anynet[cudnn]'``): CuPy 14 removed its own cuDNN bindings, and its upgrade guide
points to the frontend.

**Unchecked**: written against the frontend's documented Python API (``cudnn.pygraph``,
``graph.tensor``, ``conv_fprop`` / ``conv_dgrad`` / ``conv_wgrad``, ``build``, ``execute`` with
DLPack-capable arrays) and its published samples, but never run on a GPU. So these kernels are
off unless ``anynet.kernels.unchecked()`` is active; without them CuPy runs the reference
(im2col and cuBLAS). A GPU run that checks them against the reference belongs to the GPU issues.
"""

from __future__ import annotations

import threading
from typing import Any

from ._kernels import FastKernels

__all__ = ["CuDnnFrontendKernels", "gpu_missing"]

_INSTALL = "pip install 'anynet[cudnn]' (the nvidia-cudnn-frontend package)"


def gpu_missing() -> str | None:
    """Why CuPy has no working CUDA GPU here (for unchecked kernels switched on), or None when it has one."""
    try:
        import cupy

        if cupy.cuda.runtime.getDeviceCount() < 1:
            return "no CUDA GPU here"
    except Exception as err:  # noqa: BLE001 - CuPy raises its own CUDA errors; all mean "no GPU"
        return f"no CUDA GPU works here ({type(err).__name__}: {err})"
    return None


class CuDnnFrontendKernels(FastKernels):
    """conv2d forward and gradients as one-node cuDNN graphs, built once per geometry and dtype
    (per thread: a cuDNN handle belongs to one thread) and executed on CuPy's current stream."""

    name = "cudnn-frontend"
    checked = False  # no GPU has run these yet: see the module's notes

    def __init__(self) -> None:
        self._local = threading.local()

    def unavailable(self) -> str | None:
        """Why the frontend cannot run here: the package or a working CUDA GPU missing; None when it can."""
        try:
            import cudnn  # noqa: F401 - the frontend's module
        except ImportError as err:
            return f"the cuDNN Frontend does not import ({type(err).__name__}: {err}); {_INSTALL}"
        return gpu_missing()

    def _handle(self) -> Any:
        import cudnn
        import cupy

        handle = getattr(self._local, "handle", None)
        if handle is None:
            handle = self._local.handle = cudnn.create_handle()
            self._local.graphs = {}
        cudnn.set_stream(handle=handle, stream=cupy.cuda.get_current_stream().ptr)
        return handle

    def _graph(self, kind: str, a: Any, b: Any, out_shape: tuple[int, ...], stride: tuple[int, int],
               pad: tuple[int, int]) -> tuple[Any, Any, Any, Any, Any]:
        """(graph, tensor of a, tensor of b, tensor of the result, workspace) for one geometry."""
        import cudnn
        import cupy

        handle = self._handle()
        key = (kind, tuple(a.shape), tuple(a.strides), tuple(b.shape), tuple(b.strides), str(a.dtype), stride, pad)
        found = self._local.graphs.get(key)
        if found is not None:
            return found
        kinds = {"float16": cudnn.data_type.HALF, "float32": cudnn.data_type.FLOAT, "float64": cudnn.data_type.DOUBLE}
        io = kinds[str(a.dtype)]
        compute = cudnn.data_type.DOUBLE if io == cudnn.data_type.DOUBLE else cudnn.data_type.FLOAT
        graph = cudnn.pygraph(io_data_type=io, intermediate_data_type=compute, compute_data_type=compute,
                              handle=handle)
        ta = graph.tensor(name="a", dim=list(a.shape), stride=[s // a.itemsize for s in a.strides], data_type=io)
        tb = graph.tensor(name="b", dim=list(b.shape), stride=[s // b.itemsize for s in b.strides], data_type=io)
        conv = {"padding": list(pad), "stride": list(stride), "dilation": [1, 1]}
        if kind == "fprop":
            out = graph.conv_fprop(image=ta, weight=tb, **conv)
        elif kind == "dgrad":
            out = graph.conv_dgrad(loss=ta, filter=tb, **conv)
        else:
            out = graph.conv_wgrad(image=ta, loss=tb, **conv)
        contiguous = [1] * len(out_shape)
        for k in range(len(out_shape) - 2, -1, -1):
            contiguous[k] = contiguous[k + 1] * out_shape[k + 1]
        out.set_output(True).set_dim(list(out_shape)).set_stride(contiguous).set_data_type(io)
        graph.build([cudnn.heur_mode.A])
        workspace = cupy.empty(graph.get_workspace_size(), dtype=cupy.uint8)
        found = self._local.graphs[key] = (graph, ta, tb, out, workspace)
        return found

    def _run(self, kind: str, a: Any, b: Any, out_shape: tuple[int, ...], stride: tuple[int, int],
             pad: tuple[int, int]) -> Any:
        import cupy

        graph, ta, tb, tout, workspace = self._graph(kind, a, b, out_shape, stride, pad)
        result = cupy.empty(out_shape, dtype=a.dtype)
        graph.execute({ta: a, tb: b, tout: result}, workspace, handle=self._handle())
        return result

    def conv2d_forward(self, x: Any, W: Any, b: Any, stride: tuple[int, int], pad: tuple[int, int]) -> Any:
        """``conv_fprop``, then the bias."""
        import cupy

        N, _, H, Wd = x.shape
        FN, _, FH, FW = W.shape
        out = (N, FN, (H + 2 * pad[0] - FH) // stride[0] + 1, (Wd + 2 * pad[1] - FW) // stride[1] + 1)
        x, W = cupy.ascontiguousarray(x), cupy.ascontiguousarray(W)
        return self._run("fprop", x, W, out, stride, pad) + b.reshape(1, FN, 1, 1)

    def conv2d_dgrad(self, dout: Any, W: Any, x_shape: tuple[int, ...], stride: tuple[int, int],
                     pad: tuple[int, int]) -> Any:
        """``conv_dgrad``: the input's gradient."""
        import cupy

        return self._run("dgrad", cupy.ascontiguousarray(dout), cupy.ascontiguousarray(W), tuple(x_shape), stride, pad)

    def conv2d_wgrad(self, x: Any, dout: Any, W_shape: tuple[int, ...], stride: tuple[int, int],
                     pad: tuple[int, int]) -> Any:
        """``conv_wgrad``: the filters' gradient."""
        import cupy

        return self._run("wgrad", cupy.ascontiguousarray(x), cupy.ascontiguousarray(dout), tuple(W_shape), stride, pad)
