"""The C allocator keeps freed memory once anynet's CPU device is set up (glibc only), as configured."""

import ctypes.util
import os
import platform
import subprocess
import sys

import pytest

CODE = """
import resource
import numpy as np
import anynet
from anynet.backend._malloc import keeps_freed_memory
{configure}
anynet.as_device("cpu")
def step():  # a step's worth of large temporaries (three of 8 MiB, 2048 pages each), then freed
    parts = [np.ones(1 << 21, dtype=np.float32) for _ in range(3)]
    del parts
step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    step()
print(keeps_freed_memory(), resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""

glibc = pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                           reason="mallopt thresholds are glibc's")


def run(keep: bool | None) -> tuple[bool, int]:
    env = dict(os.environ)
    env["ANYNET_KEEP_FREED_MEMORY"] = "1"  # the library never reads it: only the configuration counts
    configure = "" if keep is None else f"anynet.configure(keep_freed_memory={keep})"
    out = subprocess.run([sys.executable, "-c", CODE.format(configure=configure)], capture_output=True, text=True,
                         env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    kept, faults = out.stdout.split()
    return kept == "True", int(faults)


@glibc
def test_freed_arrays_are_reused_without_page_faults():
    assert ctypes.util.find_library("c")
    kept, faults = run(None)
    assert kept and faults < 2048  # sixty 8 MiB arrays, not one of them faulted in afresh


@glibc
def test_the_configuration_can_leave_the_allocator_alone():
    kept, faults = run(False)
    assert not kept and faults >= 20 * 1024  # glibc trims the heap after each step, then faults it back
