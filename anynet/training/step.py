"""One training step, in one place: the function the eager Trainer calls and compilers trace.

    step = anynet.compile_step(model, loss, optimizer)          # jax.jit / torch.compile
    params, buffers, opt_state, key = step.state()
    for x, t in batches:
        loss, (loss_sum, hits), params, buffers, opt_state, key = step(params, buffers, opt_state, key, (x, t))
    step.write_back(params, buffers, opt_state, key)            # into the model and optimizer

The step is written once against the layer, loss and optimizer objects (``TrainStep.__call__``).
Its pure form (``TrainStep.pure``) lends those objects its arguments for one call, runs exactly
that code, reads the new values back and restores the objects, so nothing a trace makes outlives
it; this pure form is what ``jax.jit`` and ``torch.compile`` see (``CompiledStep``).
"""

from __future__ import annotations

import contextlib
import functools
import signal
import threading
from typing import Any, Callable, Iterable, Iterator, Sequence

from .. import backend
from ..metrics import accuracy
from ..validation import inside_network
from .plugin import StepPlugin

__all__ = ["CompileError", "CompiledStep", "TrainStep", "compile_step", "interrupts_held"]


@contextlib.contextmanager
def interrupts_held() -> Iterator[None]:
    """Within the block, Ctrl-C (SIGINT) is held and delivered when it ends (in the main thread;
    elsewhere signals cannot arrive anyway)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[tuple[int, Any]] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append((signum, frame)))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if caught and callable(previous):
            previous(*caught[0])
        elif caught and previous == signal.SIG_DFL:
            raise KeyboardInterrupt


class CompileError(ValueError):
    """A compiled step was asked for on a library that runs eager."""


class TrainStep:
    """forward -> loss -> backward -> gradient transforms -> hooks -> optimizer update -> metric sums.

    ``step(x, t, weight=1.0) -> (loss, (loss_sum, hits))`` runs one step on the live model and
    optimizer: ``loss`` is the batch's mean loss, ``loss_sum`` = loss * N and ``hits`` the number
    of correct argmax predictions (None with ``accuracy=False``), all 0-d device arrays (no host
    read). ``weight`` seeds backward: the batch's share of the gradient (a process's share of the
    global batch under data parallelism; 1.0 otherwise).

    Features plug in through ``plugins`` (``anynet.training.StepPlugin``: precision, data
    parallelism), in order: each ``seed`` changes the seed gradient of the loss, each
    ``transform`` the gradients after backward (the result is assigned to ``p.grad``), and their
    ``update``s wrap the optimizer's (whose hooks, clipping and weight decay, and schedule run
    inside it). ``check_output(y)`` is called with the scores before the loss (metadata checks
    only: under a compiler it runs while tracing). Everything must be traceable (no host reads,
    no Python branch on values) to run inside a compiled step.
    """

    def __init__(self, model: Any, loss: Any, optimizer: Any, accuracy: bool = True,
                 plugins: Iterable[StepPlugin] = ()):
        self.model, self.loss, self.optimizer = model, loss, optimizer
        self.with_accuracy = accuracy
        self.plugins = list(plugins)
        self.check_output: Callable[[Any], None] | None = None
        self.traces = 0  # how many times a compiler traced ``pure`` (CompiledStep counts them)

    def __call__(self, x: Any, t: Any, weight: Any = 1.0) -> tuple[Any, tuple[Any, Any]]:
        with inside_network():  # values were checked on the host where the data entered
            y = self.model.forward(x, train=True)
            if self.check_output is not None:
                self.check_output(y)
            value = self.loss.forward(y, t)
        seed = weight
        for plugin in self.plugins:
            seed = plugin.seed(seed)
        self.model.backward(self.loss.backward(seed))
        params = self.model.params
        if self.plugins:
            with_grads = [p for p in params if p.grad is not None]
            grads = [p.grad for p in with_grads]
            for plugin in self.plugins:
                grads = plugin.transform(with_grads, grads)
            for p, g in zip(with_grads, grads):
                p.grad = g
        apply = self.optimizer.update
        for plugin in reversed(self.plugins):
            apply = functools.partial(plugin.update, apply)
        apply(params)
        n = x.shape[0]
        hits = accuracy(y, t) * n if self.with_accuracy else None
        return value, (value * n, hits)

    run = __call__  # the name CompiledStep shares

    # -- the pure form: explicit leaves out and in ------------------------------------------

    def state(self) -> tuple[list[Any], list[dict[str, Any]], dict[str, Any], Any]:
        """(params, buffers, opt_state, key) read from the live objects, the pure form's inputs:
        params in ``model.params`` order; buffers one dict per module (``model.modules()`` order)
        of its ``state_leaves()`` (buffers and carried state); opt_state ``{"scalars":
        {"iterations", "lr" when a number, the optimizer's scalars}, "state": [p.state per
        parameter]}`` with the scalars as 0-d arrays on the model's device (int32 count, float32
        others: a compiler traces them rather than baking in each step's value) and the
        optimizer's zero state created first, so every call sees one structure; key the model
        device's pure random key (None where the library has none)."""
        params, buffers, opt_state = self._values()
        dev = self.model.device
        xp = dev.xp
        opt_state["scalars"] = {
            name: xp.asarray(v, dtype=xp.int32 if name == "iterations" else xp.float32, device=dev.device)
            for name, v in opt_state["scalars"].items()
        }
        return params, buffers, opt_state, backend.step_key(dev)

    def _values(self) -> tuple[list[Any], list[dict[str, Any]], dict[str, Any]]:
        params = self.model.params
        self.optimizer.init_state(params)
        buffers = [m.state_leaves() for m in self.model.modules()]
        opt_state = {"scalars": self._scalars(), "state": [dict(p.state) for p in params]}
        return [p.data for p in params], buffers, opt_state

    def _scalars(self) -> dict[str, Any]:
        opt = self.optimizer
        names = ("iterations", *(() if callable(opt.lr) else ("lr",)), *opt.scalars)
        return {name: getattr(opt, name) for name in names}

    def _load(self, params: Sequence[Any], buffers: Sequence[dict[str, Any]], opt_state: dict[str, Any],
              scalars: bool = True) -> None:
        """Put the leaves into the live objects (gradients cleared)."""
        for p, data, state in zip(self.model.params, params, opt_state["state"]):
            p.data, p.state, p.grad = data, dict(state), None
        for module, leaves in zip(self.model.modules(), buffers):
            module.load_state_leaves(leaves)
        if scalars:
            for name, value in opt_state["scalars"].items():
                setattr(self.optimizer, name, value)

    def write_back(self, params: Sequence[Any], buffers: Sequence[dict[str, Any]], opt_state: dict[str, Any],
                   key: Any, scalars: bool = True) -> None:
        """Store the pure form's outputs in the model, the optimizer and the device generator.
        ``scalars=False`` leaves the optimizer's Python numbers alone (the caller counts the
        update on the host instead of reading the traced count back)."""
        host = {name: int(v) if name == "iterations" else float(v) for name, v in opt_state["scalars"].items()}
        self._load(params, buffers, {"state": opt_state["state"], "scalars": host}, scalars)
        backend.set_step_key(self.model.device, key)

    def pure(self, params: Sequence[Any], buffers: Sequence[dict[str, Any]], opt_state: dict[str, Any],
             key: Any, batch: tuple[Any, Any]) -> tuple[Any, ...]:
        """(params, buffers, opt_state, key, (x, t)) -> (loss, (loss_sum, hits), params, buffers,
        opt_state, key): one step as a pure function of ``state()``'s values and a batch; the
        live objects are left as they were."""
        with self._lent(params, buffers, opt_state):
            if key is None:  # no pure keys (PyTorch): draws use the stateful generator
                loss, sums = self(*batch)
            else:
                with backend.threaded_key(key) as holder:
                    loss, sums = self(*batch)
                key = holder.key
            new = self._values()
        return (loss, sums, *new, key)

    @contextlib.contextmanager
    def _lent(self, params: Sequence[Any], buffers: Sequence[dict[str, Any]],
              opt_state: dict[str, Any]) -> Iterator[None]:
        """Lend the objects these leaves for one call, then restore every object's snapshot (its
        parameters' values and the caches layers keep for backward included), so no traced
        value outlives the call."""
        owners = [*self.model.modules(), self.loss, self.optimizer]
        saved = [obj.snapshot() for obj in owners]
        own = self.model.params
        saved_params = [(p.data, p.grad, p.state) for p in own]
        try:
            self._load(params, buffers, opt_state)
            yield
        finally:
            for obj, snap in zip(owners, saved):
                obj.restore(snap)
            for p, (data, grad, state) in zip(own, saved_params):
                p.data, p.grad, p.state = data, grad, state


class CompiledStep:
    """A ``TrainStep``'s pure form compiled for the model's device: ``jax.jit`` with parameters,
    buffers and optimizer state donated on JAX, ``torch.compile(fullgraph=True)`` on PyTorch.

    ``step(params, buffers, opt_state, key, batch)`` is the pure function (see ``TrainStep.pure``);
    ``step.run(x, t)`` is one step on the live objects, as ``TrainStep`` (the Trainer's use).
    NumPy, CuPy and array-api-strict run eager: building one there is a ``CompileError``.
    Hyperparameters other than a numeric ``lr`` (momentum, betas, hook settings) are constants of
    the compiled code: build a new step after changing them.
    """

    def __init__(self, step: TrainStep):
        self.step = step
        dev = step.model.device
        for plugin in step.plugins:
            reason = plugin.untraceable
            if reason:
                raise CompileError(f"compile_step: {reason}")
        self.fn = dev.compiler.compile_step(step.pure, donate=(0, 1, 2), on_trace=self._traced)
        if self.fn is None:
            raise CompileError(
                f"compile_step: the model lives on {dev.name!r}, whose library runs eager (no compiler); "
                "compiled steps run on JAX ('jax:cpu', 'jax:gpu') and PyTorch ('torch:cpu', 'torch:cuda'); "
                "train without compile there"
            )
        self.device = dev

    def _traced(self) -> None:
        self.step.traces += 1

    @property
    def traces(self) -> int:
        """How many times the step was traced or compiled (once per batch shape; on PyTorch,
        once per graph when the step breaks into several)."""
        return self.step.traces

    def __call__(self, params: Sequence[Any], buffers: Sequence[dict[str, Any]], opt_state: dict[str, Any],
                 key: Any, batch: tuple[Any, Any]) -> tuple[Any, ...]:
        with inside_network():  # set here, outside the traced code, which only reads it
            return self.fn(params, buffers, opt_state, key, batch)

    def state(self) -> tuple[list[Any], list[dict[str, Any]], dict[str, Any], Any]:
        """(params, buffers, opt_state, key): the pure form's inputs, as ``TrainStep.state``."""
        return self.step.state()

    def write_back(self, params: Sequence[Any], buffers: Sequence[dict[str, Any]], opt_state: dict[str, Any],
                   key: Any) -> None:
        """Store the pure form's outputs in the model, optimizer and generator, as ``TrainStep.write_back``."""
        self.step.write_back(params, buffers, opt_state, key)

    def run(self, x: Any, t: Any, weight: float = 1.0) -> tuple[Any, tuple[Any, Any]]:
        """One compiled step on the live objects; the update is counted on the host (the same
        ``optimizer.count()`` the trace ran), so no value is read back per step. ``weight`` (a
        Python number) is a constant of the compiled code."""
        batch = (x, t) if weight == 1.0 else (x, t, weight)
        # the step takes over (donates) the parameters' arrays: an interrupt between the call and
        # the write-back would leave the model holding deleted arrays, so Ctrl-C waits for it
        with interrupts_held():
            loss, sums, params, buffers, opt_state, key = self(*self.step.state(), batch)
            self.step.write_back(params, buffers, opt_state, key, scalars=False)
            self.step.optimizer.count()
        return loss, sums


def compile_step(model: Any, loss: Any, optimizer: Any, accuracy: bool = True,
                 plugins: Iterable[StepPlugin] = ()) -> CompiledStep:
    """The training step of ``model``, ``loss`` and ``optimizer`` compiled for the model's device
    (see ``CompiledStep``)."""
    return CompiledStep(TrainStep(model, loss, optimizer, accuracy, plugins))
