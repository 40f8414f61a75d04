"""The trainer's progress display: a tqdm bar on a terminal, plain lines otherwise, nothing at verbose=0."""

from __future__ import annotations

import sys
import time
from typing import Any, Callable

__all__ = ["Progress"]

_REFRESH_S = 0.5  # reading the running loss is a device sync: at most twice a second


class Progress:
    """Shows one bar per epoch (samples/s and the running loss) and a line per finished epoch.

    ``verbose=0``: silent. ``verbose=1``: the bar when tqdm is installed and
    ``stream`` is a terminal, plus a line for about every tenth epoch; ``verbose=2``: a line every epoch.
    ``report`` receives the lines (default: print to ``stream``).
    """

    def __init__(self, verbose: int = 1, report: Callable[[str], None] | None = None, stream: Any = None):
        self.verbose = verbose
        self.stream = stream or sys.stdout
        self.report = report or (lambda line: print(line, file=self.stream, flush=True))
        self.bar: Any = None
        self.use_bar = False
        if verbose and _isatty(self.stream):
            try:
                import tqdm  # noqa: F401  (the optional extra "progress")

                self.use_bar = True
            except ImportError:
                pass

    def epoch_begin(self, epoch: int, epochs: int, samples: int) -> None:
        """Start the display of epoch ``epoch`` of ``epochs`` over ``samples`` samples."""
        self._last = time.perf_counter()
        if self.use_bar:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=samples, desc=f"epoch {epoch}/{epochs}", unit="samples",
                            unit_scale=True, leave=False, file=self.stream, dynamic_ncols=True)

    def step(self, n: int, loss_sum: Any, seen: int) -> None:
        """``n`` more samples done; ``loss_sum`` (a 0-d device array) over ``seen`` samples is
        read, a device sync, at most every ``_REFRESH_S`` seconds."""
        if self.bar is None:
            return
        self.bar.update(n)
        now = time.perf_counter()
        if now - self._last >= _REFRESH_S:
            self._last = now
            self.bar.set_postfix(loss=f"{float(loss_sum) / seen:.4f}", refresh=False)

    def epoch_end(self, line: str, epoch: int = 0, epochs: int = 0) -> None:
        """Close the bar; report ``line`` for the first, the last and every tenth of the epochs."""
        self.close()
        every = max(1, epochs // 10)
        if self.verbose and (epoch <= 1 or epoch == epochs or epoch % every == 0 or self.verbose > 1):
            self.report(line)

    def close(self) -> None:
        """Close the bar of an epoch that will not be reported."""
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def message(self, line: str) -> None:
        """Report one line unless the display is off (``verbose=0``)."""
        if self.verbose:
            self.report(line)


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
