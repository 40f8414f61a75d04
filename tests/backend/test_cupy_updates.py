"""CuPy's fused flat updates (``anynet.backend._cupy_updates``) before a GPU runs them: the body of
each ``ElementwiseKernel``, compiled here as host C++ with the kernel's argument lists (a C++
compiler and no contraction of products into fused multiply-adds, as ``--fmad=false`` asks of
NVRTC), steps a buffer bit for bit as the optimizer's in-place step does on NumPy. The kernels
themselves run in ``tests/optim/test_fused.py`` on a GPU."""

from __future__ import annotations

import ctypes
import shutil
import subprocess

import numpy as np
import pytest

from anynet import optim as O
from anynet.backend._cupy_updates import _SOURCES, CuPyFusedUpdates
from anynet.optim import base
from anynet.optim.base import in_place_steps
from anynet.parameter import FlatBuffer, Parameter

CXX = shutil.which("g++") or shutil.which("c++")
CTYPES = {"float": ctypes.c_float, "double": ctypes.c_double}


def _host_function(name: str, ctype: str) -> str:
    """The kernel ``name`` as a C function over n elements: inputs as scalars (the gradient an
    array), outputs as references into their arrays, the operation text unchanged."""
    in_params, out_params, operation = _SOURCES[name]
    args, refs = [f"const {ctype}* g_"], ["const T g = g_[i_];"]
    for param in in_params.split(",")[1:]:
        args.append(f"{ctype} {param.split()[1]}")
    for param in out_params.split(","):
        out = param.split()[1]
        args.append(f"{ctype}* {out}_")
        refs.append(f"T& {out} = {out}_[i_];")
    return (f'extern "C" void {name}_{ctype}({", ".join(args)}, long n_) {{ typedef {ctype} T;\n'
            f'  for (long i_ = 0; i_ < n_; i_++) {{ {" ".join(refs)} {operation} }}\n}}')


@pytest.fixture(scope="module")
def host_kernels(tmp_path_factory):
    if CXX is None:
        pytest.skip("no C++ compiler (g++) here to compile the kernels' bodies for the host")
    folder = tmp_path_factory.mktemp("cupy_updates")
    source = "#include <cmath>\nusing std::sqrt;\n" + "\n".join(
        _host_function(name, ctype) for name in _SOURCES for ctype in CTYPES)
    (folder / "updates.cpp").write_text(source)
    library = folder / "updates.so"
    subprocess.run([CXX, "-O1", "-ffp-contract=off", "-shared", "-fPIC", "-o", str(library),
                    str(folder / "updates.cpp")], check=True, capture_output=True, timeout=120)
    return ctypes.CDLL(str(library))


class _HostKernel:
    """Stands where ``_cupy_updates._kernel(name)`` returns a CuPy kernel: called with the same
    arguments, it runs the host build of the same operation on NumPy arrays."""

    def __init__(self, library, name, ctype):
        self.fn, self.ctype = getattr(library, f"{name}_{ctype}"), CTYPES[ctype]

    def __call__(self, g, *args):
        scalars = [a for a in args if not isinstance(a, np.ndarray)]
        arrays = [a for a in args if isinstance(a, np.ndarray)]
        self.fn(g.ctypes.data_as(ctypes.c_void_p), *[self.ctype(s) for s in scalars],
                *[a.ctypes.data_as(ctypes.c_void_p) for a in arrays], ctypes.c_long(g.size))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("cls", [O.SGD, O.Momentum, O.Nesterov, O.Adam, O.AdamW], ids=lambda c: c.__name__)
def test_each_kernel_body_steps_as_the_in_place_step(host_kernels, monkeypatch, cls, dtype):
    """Through ``CuPyFusedUpdates``' own methods (their argument order included), five steps."""
    from anynet.backend import _cupy_updates

    ctype = "float" if dtype == "float32" else "double"
    monkeypatch.setattr(_cupy_updates, "_kernel", lambda name: _HostKernel(host_kernels, name, ctype))
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal(257).astype(dtype)
    reference, own = FlatBuffer([Parameter(w0.copy())]), FlatBuffer([Parameter(w0.copy())])
    operation, numbers = base._FUSED[cls]  # the update and its hyper-parameters, as Optimizer.update asks
    opt, update = cls(lr=0.01), getattr(CuPyFusedUpdates(), operation)
    for t in range(1, 6):
        g = rng.standard_normal(257).astype(dtype)
        in_place_steps()[cls](opt, reference, g, 0.01, t)
        update(own.data, g, {k: own.state(k) for k in cls.slots}, 0.01, t, **numbers(opt, t))
    np.testing.assert_array_equal(own.data, reference.data)
    for key in cls.slots:
        np.testing.assert_array_equal(own.state(key), reference.state(key))
