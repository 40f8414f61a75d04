"""Compiled training steps (anynet.compile_step, Trainer(compile=True)) against the eager step."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import anynet
from anynet.optim.hooks import ClipByNorm, WeightDecay
from anynet.optim.schedules import CosineDecay, OneCycle, StepDecay, Warmup
from anynet.testing import host, resolve_backend
from anynet.training import CompileError, TrainStep, compile_step

pytest.importorskip("jax")

# Tiny members of every family of the zoo, each with an optimizer (all of them are covered),
# hooks and schedules; dropout and BatchNorm wherever the model has them. The nets with
# BatchNorm get SGD-like optimizers: the bias before a BatchNorm has a gradient of rounding
# noise only, which Adam's normalisation would blow up to full steps of random sign (so has the
# attention's key bias: softmax over the keys does not see it).
ZOO = {
    "mlp": (lambda: anynet.MLP(6, [8, 8], 3, dropout=0.3, batchnorm=True), (6,),
            lambda: anynet.Momentum(Warmup(CosineDecay(0.05, total=12), steps=4), hooks=[ClipByNorm(1.0)])),
    "two_layer": (lambda: anynet.TwoLayerNet(6, 8, 3), (6,),
                  lambda: anynet.Adam(StepDecay(1e-2, step=5, gamma=0.5), hooks=[WeightDecay(1e-3)])),
    "simple_convnet": (lambda: anynet.SimpleConvNet((1, 6, 6), 3, filter_num=2, filter_size=3, hidden_size=4),
                       (1, 6, 6), lambda: anynet.AdaGrad(0.05)),
    "deep_convnet": (lambda: anynet.DeepConvNet((1, 4, 4), 3, channels=(2,) * 6, hidden_size=4, dropout=0.3,
                                                batchnorm=True), (1, 4, 4), lambda: anynet.SGD(0.05)),
    "lenet5": (lambda: anynet.LeNet5((1, 12, 12), 3), (1, 12, 12), lambda: anynet.AdamW(1e-3)),
    "alexnet": (lambda: anynet.AlexNet((1, 8, 8), 3, channels=(2, 2, 2, 2, 2), hidden_size=4, dropout=0.3),
                (1, 8, 8), lambda: anynet.RMSProp(1e-3)),
    "vgg": (lambda: anynet.VGG((1, 4, 4), 3, blocks=((2,), (2,)), hidden_size=4, dropout=0.3), (1, 4, 4),
            lambda: anynet.Nesterov(0.05)),
    "sequence_lstm": (lambda: anynet.SequenceClassifier(4, 5, 3, cell="lstm", layers=2, dropout=0.3), (3, 4),
                      lambda: anynet.Nadam(1e-2)),
    "language_gru": (lambda: anynet.LanguageModel(7, 4, 5, cell="gru", dropout=0.3), None,
                     lambda: anynet.AdaDelta()),
    "transformer_lm": (lambda: anynet.TransformerLM(7, 8, 2, 1, max_len=8, dropout=0.2), None,
                       lambda: anynet.Momentum(0.05, hooks=[ClipByNorm(1.0)])),
}
STEPS, N = 20, 8


def _batches(shape, steps=STEPS, seed=0):
    rng = np.random.default_rng(seed)
    if shape is None:  # a language model: ids in, the next ids as labels
        ids = rng.integers(0, 7, (steps, N, 5))
        return [(ids[i], (ids[i] + 1) % 7) for i in range(steps)]
    return [(rng.standard_normal((N, *shape)).astype(np.float32), rng.integers(0, 3, N)) for _ in range(steps)]


def _build(name, dev, make_opt=None):
    make, _, zoo_opt = ZOO[name]
    make_opt = make_opt or zoo_opt
    anynet.seed(7)  # the same weights and the same random stream for both runs
    with anynet.device(dev):
        model = make()
    loss = anynet.TimeSoftmaxWithLoss() if ZOO[name][1] is None else anynet.SoftmaxWithLoss()
    return model, loss, make_opt()


def _run(name, dev, compiled, batches, make_opt=None):
    model, loss, opt = _build(name, dev, make_opt)
    step = compile_step(model, loss, opt) if compiled else TrainStep(model, loss, opt)
    run = step.run if compiled else step
    losses = []
    with anynet.device(dev), anynet.debug(False):
        for x, t in batches:
            value, _ = run(anynet.to_device(x, dev), anynet.to_device(t, dev))
            losses.append(float(value))
    return model, opt, losses, step


def _agree(eager, compiled, rtol=1e-4, atol=1e-5):
    (m1, o1, l1, _), (m2, o2, l2, _) = eager, compiled
    np.testing.assert_allclose(l2, l1, rtol=rtol, atol=atol)
    for key, a in m1.state_dict().items():
        np.testing.assert_allclose(host(m2.state_dict()[key]), host(a), rtol=rtol, atol=atol, err_msg=key)
    for p1, p2 in zip(m1.params, m2.params):
        assert p1.state.keys() == p2.state.keys()
        for key in p1.state:
            np.testing.assert_allclose(host(p2.state[key]), host(p1.state[key]), rtol=rtol, atol=atol)
    assert o1.iterations == o2.iterations == STEPS


@pytest.mark.parametrize("name", list(ZOO))
def test_compiled_jax_step_agrees_with_eager(name):
    dev = resolve_backend("jax")
    batches = _batches(ZOO[name][1])
    eager = _run(name, dev, False, batches)
    after_eager = anynet.backend.uniform_like(dev.zeros((4,)))
    compiled = _run(name, dev, True, batches)  # reseeds (_build)
    _agree(eager, compiled)
    # a stateful model's carried state is None at the first step, arrays after: a second trace
    assert compiled[3].traces == (2 if name == "language_gru" else 1)
    # the random stream continues where the eager one stopped: the same next dropout mask
    assert np.array_equal(host(anynet.backend.uniform_like(dev.zeros((4,)))), host(after_eager))


OPTIMIZERS = sorted(name for name in anynet.optim.__all__ if name != "Optimizer")


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_every_optimizer_compiles_and_agrees(optimizer):
    """Each optimizer's update under jax.jit, with a schedule (OneCycle) on the traced count."""
    dev = resolve_backend("jax")
    cls = getattr(anynet.optim, optimizer)
    lr = 1e-3 if optimizer in ("Lion", "LAMB", "Adam", "AdamW", "Nadam", "RAdam") else 0.05
    batches = _batches((6,))
    eager = _run("two_layer", dev, False, batches, lambda: cls(lr=OneCycle(lr, total=STEPS)))
    _agree(eager, _run("two_layer", dev, True, batches, lambda: cls(lr=OneCycle(lr, total=STEPS))))


@pytest.mark.parametrize("name", ["torch", "torchcuda"])
def test_compiled_torch_step_agrees_with_eager(name):
    """torch.compile of the MLP's step (without dropout: torch.Generator draws break the graph), on
    the CPU and, where there is one, an NVIDIA GPU; other models compile too slowly on a two-core
    machine to test here. ReLU's ``xp.maximum(x, 0.0)`` (array-api-compat calls torch.result_type,
    which Dynamo cannot trace) breaks the graph too, so the step may fall back to several graphs,
    with a warning."""
    dev = resolve_backend(name)
    name = "two_layer"
    batches = _batches(ZOO[name][1], steps=5)
    eager = _run(name, dev, False, batches)
    compiled = _run(name, dev, True, batches)
    (m1, _, l1, _), (m2, _, l2, step) = eager, compiled
    np.testing.assert_allclose(l2, l1, rtol=1e-5, atol=1e-6)
    for p1, p2 in zip(m1.params, m2.params):
        np.testing.assert_allclose(host(p2.data), host(p1.data), rtol=1e-5, atol=1e-6)
    assert step.traces >= 1


@pytest.mark.parametrize("name", ["numpy", "strict"])
def test_eager_only_backends_refuse_to_compile(name):
    dev = resolve_backend(name)
    with anynet.device(dev):
        model = anynet.TwoLayerNet(2, 4, 3)
    with pytest.raises(CompileError, match=r"compile_step: the model lives on .* runs eager"):
        compile_step(model, anynet.SoftmaxWithLoss(), anynet.SGD())
    with pytest.raises(CompileError, match=r"runs eager"):
        anynet.Trainer(model, anynet.SoftmaxWithLoss(), anynet.SGD(), compile=True, verbose=0).fit(
            (np.zeros((4, 2), np.float32), np.zeros(4, np.int64)), epochs=1)


def test_traced_once_per_batch_shape():
    dev = resolve_backend("jax")
    model, loss, opt = _build("mlp", dev)
    step = compile_step(model, loss, opt)
    with anynet.device(dev), anynet.debug(False):
        for n in (8, 8, 8, 5, 5, 8, 5):
            x, t = _batches((6,), steps=1)[0]
            step.run(anynet.to_device(x[:n], dev), anynet.to_device(t[:n], dev))
    assert step.traces == 2
    assert opt.iterations == 7


def test_pure_step_loop_and_write_back():
    """The low-level loop: state out, steps on values only, write back once at the end."""
    dev = resolve_backend("jax")
    batches = _batches((6,), steps=STEPS)
    eager = _run("mlp", dev, False, batches)
    model, loss, opt = _build("mlp", dev)
    step = compile_step(model, loss, opt)
    params, buffers, opt_state, key = step.state()
    losses = []
    with anynet.device(dev), anynet.debug(False):
        for x, t in batches:
            batch = (anynet.to_device(x, dev), anynet.to_device(t, dev))
            value, (loss_sum, hits), params, buffers, opt_state, key = step(params, buffers, opt_state, key, batch)
            losses.append(float(value))
            assert float(loss_sum) == pytest.approx(float(value) * N, rel=1e-6)
            assert 0 <= float(hits) <= N
    step.write_back(params, buffers, opt_state, key)
    assert step.traces == 1
    _agree(eager, (model, opt, losses, step))


def test_jitted_step_has_no_host_callback():
    import jax

    dev = resolve_backend("jax")
    model, loss, opt = _build("deep_convnet", dev)
    step = compile_step(model, loss, opt)
    x, t = _batches((1, 4, 4), steps=1)[0]
    with anynet.device(dev), anynet.debug(False):
        args = (*step.state(), (anynet.to_device(x, dev), anynet.to_device(t, dev)))
        jaxpr = str(jax.make_jaxpr(step.step.pure)(*args))
        lowered = step.fn.lower(*args).as_text()
    for text in (jaxpr, lowered):  # no Python callback, no transfer to or from the host
        for word in ("callback", "infeed", "outfeed", "host_compute", "send", "recv"):
            assert word not in text, word
    assert "rng_bit_generator" in lowered or "threefry" in lowered  # dropout draws on the device


def test_pure_step_leaves_the_objects_unchanged():
    import jax

    dev = resolve_backend("jax")
    model, loss, opt = _build("mlp", dev)
    step = TrainStep(model, loss, opt)
    before = {k: host(v) for k, v in model.state_dict().items()}
    layers_before = [dict(vars(layer)) for layer in model.layers]
    x, t = _batches((6,), steps=1)[0]
    with anynet.device(dev), anynet.debug(False):
        jax.make_jaxpr(step.pure)(*step.state(), (anynet.to_device(x, dev), anynet.to_device(t, dev)))
    assert all(p.grad is None for p in model.params)
    assert opt.iterations == 0
    assert [dict(vars(layer)) for layer in model.layers] == layers_before
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(host(v), before[k])


def _fit(dev, compiled, epochs, resume=None, path=None):
    model, loss, opt = _build("mlp", dev)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((40, 6)).astype(np.float32)
    t = rng.integers(0, 3, 40)
    callbacks = [anynet.training.Checkpoint(path, every=1)] if path is not None else []
    trainer = anynet.Trainer(model, loss, opt, compile=compiled, verbose=0, callbacks=callbacks)
    trainer.fit((x, t), epochs=epochs, batch_size=16, resume=resume)
    return trainer


def test_compiled_run_checkpoints_and_resumes_like_eager(tmp_path):
    dev = resolve_backend("jax")
    straight = _fit(dev, True, 4)
    path = tmp_path / "run.npz"
    _fit(dev, True, 2, path=path)
    resumed = _fit(dev, True, 4, resume=path)
    eager = _fit(dev, False, 4)
    for trainer in (resumed, eager):
        np.testing.assert_allclose(trainer.history["loss"], straight.history["loss"], rtol=1e-5)
        for key, a in straight.model.state_dict().items():
            np.testing.assert_allclose(host(trainer.model.state_dict()[key]), host(a), rtol=1e-4, atol=1e-6)
    assert resumed.optimizer.iterations == straight.optimizer.iterations == 12


def _cli_accuracy(tmp_path, *flags):
    out = subprocess.run([sys.executable, "-m", "anynet", "train", "--data", "spiral", "--epochs", "100",
                          "--verbose", "0", "--out", str(tmp_path), *flags],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    return lines[0], float(lines[-1].split("test accuracy ")[1].rstrip("%"))


def test_cli_compiled_jax_run_reaches_the_eager_accuracy(tmp_path):
    resolve_backend("jax")
    header, compiled = _cli_accuracy(tmp_path / "jax", "--compile", "--device", "jax:cpu")
    assert ", compiled:" in header
    _, eager = _cli_accuracy(tmp_path / "numpy")  # the same seed: the same weights and batches
    assert compiled >= eager - 1.0 and compiled > 80.0


def test_cli_refuses_compile_on_numpy(tmp_path, capsys):
    from anynet.cli import main

    assert main(["train", "--compile", "--epochs", "1", "--out", str(tmp_path)]) == 2
    assert "runs eager" in capsys.readouterr().err


def test_ctrl_c_during_a_compiled_jax_step_keeps_the_weights():
    """The step donates the parameters' arrays; an interrupt that arrives inside the call waits
    until the new values are written back, so the model never holds deleted arrays."""
    import signal

    pytest.importorskip("jax")
    dev = resolve_backend("jax")
    model, loss, opt = _build("mlp", dev)
    step = compile_step(model, loss, opt)
    compiled = step.fn

    def interrupted(*args):
        out = compiled(*args)
        signal.raise_signal(signal.SIGINT)  # Ctrl-C while the step runs
        return out

    step.fn = interrupted
    x, t = _batches((6,), steps=1)[0]
    # Python's own Ctrl-C handler, also where the suite was started with SIGINT ignored (a
    # background job of a shell without job control): there the held Ctrl-C is dropped, as
    # the process asked
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with anynet.device(dev), pytest.raises(KeyboardInterrupt):
            step.run(anynet.to_device(x, dev), anynet.to_device(t, dev))
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        step.run(anynet.to_device(x, dev), anynet.to_device(t, dev))
    finally:
        signal.signal(signal.SIGINT, previous)
    assert opt.iterations == 2
    assert all(np.isfinite(host(p.data)).all() for p in model.params)  # readable: not deleted
