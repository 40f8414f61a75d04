"""One training step on torch:cpu in float32 and float16 (MLP, SimpleConvNet; SGD, Adam): ms per
step and how many FlatBuffers the optimizer builds over 70 steps. It runs on the tree it is
started in, the one-seam step (``plugins=``) or the earlier one (``precision=``), so a tree before
and after a change can be compared:

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE PYTHONPATH=. python3 benchmarks/precision_steps.py
"""
import statistics
import time

import numpy as np
import torch

import anynet
from anynet.parameter import FlatBuffer

torch.set_num_threads(2)
builds = [0]
orig = FlatBuffer.__init__
def counting(self, params):
    builds[0] += 1
    orig(self, params)
FlatBuffer.__init__ = counting
try:
    from anynet.training.precision import Precision
    NEW = True
except ImportError:
    from anynet.precision import Precision
    NEW = False
def make_step(model, loss, opt, prec):
    if NEW:
        plugins = [prec] if prec.active else []
        return anynet.training.TrainStep(model, loss, opt, plugins=plugins)
    return anynet.training.TrainStep(model, loss, opt, precision=prec)
def run(name, make, shape, optname, dtype):
    anynet.seed(0)
    with anynet.device("torch:cpu") as dev:
        model = make()
    opt = {"SGD": anynet.SGD(0.01), "Adam": anynet.Adam(1e-3)}[optname]
    prec = Precision.named(dtype)
    prec.prepare(model, opt)
    step = make_step(model, anynet.SoftmaxWithLoss(), opt, prec)
    rng = np.random.default_rng(0)
    x = dev.xp.astype(dev.from_numpy(rng.random((100, *shape), dtype=np.float32)), dev.float_dtype(prec.compute))
    t = dev.from_numpy(rng.integers(0, 10, 100))
    with anynet.device(dev):
        for _ in range(3):
            step(x, t)
        builds[0] = 0
        times = []
        for _ in range(7):
            s = time.perf_counter()
            for _ in range(10):
                step(x, t)
            times.append((time.perf_counter() - s) / 10 * 1e3)
    return statistics.median(times), builds[0]
for name, make, shape in [("MLP", lambda: anynet.MLP(784, [100, 100], 10), (784,)),
                          ("SimpleConvNet", anynet.SimpleConvNet, (1, 28, 28))]:
    for optname in ("SGD", "Adam"):
        for dtype in ("float32", "float16"):
            ms, b = run(name, make, shape, optname, dtype)
            tree = "new" if NEW else "old"
            print(f"{tree} {name} {optname} {dtype} {ms:.2f} ms/step, {b} FlatBuffer builds in 70 steps", flush=True)
