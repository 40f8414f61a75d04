"""Compiled training steps: a device's compiler, and the configuration reads it may freeze.

The base ``Compiler`` compiles nothing (steps run eager); ``_torch`` and ``_jax`` subclass it
with ``torch.compile`` and ``jax.jit``.
"""

from __future__ import annotations

from typing import Any, Callable

__all__ = ["TRACE_CONSTANTS", "Compiler", "trace_constant"]

# Functions whose result a compiler may take as a constant while tracing (see trace_constant).
TRACE_CONSTANTS: list[Callable[[], Any]] = []


def trace_constant(fn: Callable[[], Any]) -> Callable[[], Any]:
    """Decorator: ``fn`` reads Python configuration only (a context variable, no arrays), so a
    compiler tracing a step may call it once and keep the result (torch.compile cannot trace
    ``ContextVar.get``; JAX runs Python while tracing anyway).

    **Arguments:**

    - ``fn``: a function of no arguments.

    **Returns:** ``fn``, now listed in ``TRACE_CONSTANTS``.
    """
    TRACE_CONSTANTS.append(fn)
    return fn


class Compiler:
    """A device's compiler for training steps; this one has none, so steps run eager."""

    def compile_step(self, fn: Callable[..., Any], donate: tuple[int, ...],
                     on_trace: Callable[[], None]) -> Callable[..., Any] | None:
        """``fn`` compiled for this library.

        **Arguments:**

        - ``fn``: the pure step function.
        - ``donate``: positions of arguments handed over to the compiled step (their memory may
          be reused for the results).
        - ``on_trace``: called whenever the step is traced or compiled anew.

        **Returns:** the compiled step, or None where steps run eager.
        """
        return None
