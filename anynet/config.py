"""The run configuration: the settings that are not arguments of any one call, in one frozen
object held in a context variable.

    anynet.configure(cpu_workers=1)                  # from here on, in this context
    with anynet.configure(data_dir="/data"):         # or for a block only
        x, t = anynet.data.fashion_mnist()

The library never reads the environment for these; the ``anynet`` command does, once, with
``RunConfig.from_environment()`` (``ANYNET_CPU_WORKERS``, ``ANYNET_KEEP_FREED_MEMORY``,
``ANYNET_DATA``, ``ANYNET_MPIEXEC``, ``XDG_CACHE_HOME``), and a script may do the same:
``anynet.configure(**RunConfig.from_environment().changed())``.
"""

from __future__ import annotations

import contextvars
import dataclasses
import os
from pathlib import Path
from typing import Any, Mapping

__all__ = ["RunConfig", "configure", "current"]


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Settings of a run.

    **Arguments:**

    - ``cpu_workers``: threads the CPU device spreads a convolution's batch chunks over; None
      (default): every core where BLAS runs one thread, else 1.
    - ``keep_freed_memory``: the CPU device raises glibc's mmap and trim thresholds when it is
      first used, so freed step-sized arrays are reused instead of faulted in again (default
      True; process-wide, glibc only).
    - ``data_dir``: a folder searched first for data sets (``<data_dir>/<name>``, then
      ``<data_dir>``).
    - ``cache_dir``: where downloaded data sets are kept (default ``~/.cache/anynet``).
    - ``mpiexec``: the MPI launcher to use (default: the one the ``mpich`` wheel installed).
    """

    cpu_workers: int | None = None
    keep_freed_memory: bool = True
    data_dir: str | None = None
    cache_dir: str | None = None
    mpiexec: str | None = None

    def __post_init__(self) -> None:
        workers = self.cpu_workers
        if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
            raise ValueError(f"RunConfig: cpu_workers must be a whole number >= 1 or None, got {workers!r}")
        if not isinstance(self.keep_freed_memory, bool):
            raise ValueError(f"RunConfig: keep_freed_memory must be True or False, got {self.keep_freed_memory!r}")
        for name in ("data_dir", "cache_dir", "mpiexec"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, (str, os.PathLike)):
                raise ValueError(f"RunConfig: {name} must be a path or None, got {value!r}")

    @property
    def cache_folder(self) -> Path:
        """``cache_dir``, else ``~/.cache/anynet``."""
        return Path(self.cache_dir) if self.cache_dir is not None else Path.home() / ".cache" / "anynet"

    def changed(self) -> dict[str, Any]:
        """The fields that differ from the defaults, by name (for ``configure(**...)``)."""
        default = RunConfig()
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if getattr(self, f.name) != getattr(default, f.name)}

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> RunConfig:
        """The settings the environment gives (``os.environ`` by default); the command line's
        one read of it. A malformed value is a ValueError naming the variable."""
        env = os.environ if environ is None else environ
        fields: dict[str, Any] = {}
        workers = env.get("ANYNET_CPU_WORKERS", "").strip()
        if workers:
            if not workers.isdigit() or int(workers) < 1:
                raise ValueError(f"ANYNET_CPU_WORKERS must be a whole number >= 1, got {workers!r}")
            fields["cpu_workers"] = int(workers)
        keep = env.get("ANYNET_KEEP_FREED_MEMORY", "").strip()
        if keep:
            if keep not in ("0", "1"):
                raise ValueError(f"ANYNET_KEEP_FREED_MEMORY must be 0 or 1, got {keep!r}")
            fields["keep_freed_memory"] = keep == "1"
        if env.get("ANYNET_DATA"):
            fields["data_dir"] = env["ANYNET_DATA"]
        if env.get("XDG_CACHE_HOME"):
            fields["cache_dir"] = str(Path(env["XDG_CACHE_HOME"]) / "anynet")
        if env.get("ANYNET_MPIEXEC"):
            fields["mpiexec"] = env["ANYNET_MPIEXEC"]
        return cls(**fields)


_DEFAULT = RunConfig()  # frozen: safe to share
_CONFIG: contextvars.ContextVar[RunConfig | None] = contextvars.ContextVar("anynet_config", default=None)


def current() -> RunConfig:
    """The configuration in effect in this context."""
    found = _CONFIG.get()
    return _DEFAULT if found is None else found


class configure:  # lower case: used as a function and as a context manager, like decimal.localcontext
    """Change settings of the run configuration (see ``RunConfig``) in this context; the others
    keep their values. Called alone, the change lasts; used as ``with anynet.configure(...):``,
    it lasts for the block. Threads started later begin from the defaults (as every context
    variable): configure inside them, or pass settings explicitly."""

    def __init__(self, **changes: Any):
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(RunConfig)})
        if unknown:
            names = ", ".join(f.name for f in dataclasses.fields(RunConfig))
            raise TypeError(f"configure: unknown setting(s) {', '.join(unknown)}; the settings are {names}")
        self.config = dataclasses.replace(current(), **changes)
        self._token = _CONFIG.set(self.config)

    def __enter__(self) -> RunConfig:
        return self.config

    def __exit__(self, *exc: Any) -> None:
        _CONFIG.reset(self._token)
