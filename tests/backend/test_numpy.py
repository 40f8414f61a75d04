"""NumPy's device class: the one host device, its buffers and its executor."""

from __future__ import annotations

import numpy as np
import pytest

import anynet


def test_the_cpu_is_one_object_under_every_name():
    dev = anynet.as_device("cpu")
    assert anynet.as_device("numpy") is dev and anynet.as_device("cpu:0") is dev
    assert anynet.device_of(np.zeros(2)) is dev and dev.is_host and dev.memory == ("cpu", 0)


def test_host_buffers_are_the_arrays_themselves_where_writable_and_contiguous():
    comm = anynet.as_device("cpu").comm
    x = np.arange(4.0)
    buf, own = comm.host_buffer(x)
    assert buf is x and own and comm.from_host(x) is x
    assert comm.host_buffer(x[::2])[1] is False
    ro = np.arange(3.0)
    ro.setflags(write=False)
    assert comm.host_buffer(ro)[1] is False


def test_the_loader_copies_no_data_set_and_chunks_run_on_the_configured_threads():
    pytest.importorskip("threadpoolctl")
    ex = anynet.as_device("cpu").executor
    assert ex.data_budget == 0 and ex.work_budget == 16 << 20
    with anynet.configure(cpu_workers=2):
        assert ex.workers == 2


def test_read_only_arrays_are_not_shared():
    a = np.arange(3.0)
    a.setflags(write=False)
    assert not anynet.as_device("cpu").can_share(a) and anynet.as_device("cpu").can_share(np.arange(3.0))
