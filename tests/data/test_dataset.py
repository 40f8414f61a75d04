"""Data sets, loaders and splits (anynet.data.dataset)."""

from __future__ import annotations

import numpy as np
import pytest

import anynet
import anynet.data.images
from anynet.data import DataLoader, DataSet, train_val_split
from anynet.testing import host, resolve_backend


def test_dataset_checks_where_data_enters():
    with pytest.raises(ValueError, match="same number of samples"):
        DataSet(np.zeros((3, 2)), np.zeros(4))
    with pytest.raises(ValueError, match="NaN or Inf"):
        DataSet(np.array([[0.0, np.nan]]), np.zeros(1))
    x, t = DataSet(np.zeros((3, 2)), np.arange(3))  # unpacks like the book's tuples
    assert x.shape == (3, 2) and t.tolist() == [0, 1, 2]


def test_loader_covers_every_sample_once_and_keeps_the_partial_batch(cpu_backend):
    x = np.arange(10, dtype=np.float32)[:, None]
    loader = DataLoader((x, np.arange(10)), batch_size=4)
    assert len(loader) == 3
    batches = list(loader)
    assert [b[0].shape[0] for b in batches] == [4, 4, 2]
    assert all(anynet.device_of(b[0]) == cpu_backend for b in batches)
    seen = np.concatenate([host(t) for _, t in batches])
    assert sorted(seen.tolist()) == list(range(10)) and seen.tolist() != list(range(10))
    np.testing.assert_array_equal(np.concatenate([host(b[0])[:, 0] for b in batches]), seen)
    second = np.concatenate([host(t) for _, t in loader])
    assert second.tolist() != seen.tolist()  # a new order every pass
    assert len(DataLoader((x, np.arange(10)), batch_size=4, drop_last=True)) == 2
    (full,) = list(DataLoader((x, np.arange(10)), batch_size=None, shuffle=False))
    assert host(full[1]).tolist() == list(range(10))


def test_loader_shuffling_follows_the_seed():
    data = (np.zeros((20, 1), np.float32), np.arange(20))
    anynet.seed(3)
    a = [host(t).tolist() for _, t in DataLoader(data, 7)]
    anynet.seed(3)
    b = [host(t).tolist() for _, t in DataLoader(data, 7)]
    assert a == b


def test_train_val_split_is_a_partition():
    x, t = np.arange(20, dtype=np.float32)[:, None], np.arange(20)
    train, val = train_val_split((x, t), 0.25)
    assert (len(train), len(val)) == (15, 5)
    assert sorted(train.t.tolist() + val.t.tolist()) == list(range(20))
    np.testing.assert_array_equal(train.x[:, 0], train.t)
    train, val = train_val_split(DataSet(x, t), 4, shuffle=False)
    assert val.t.tolist() == [16, 17, 18, 19]
    with pytest.raises(ValueError, match="at least one on each side"):
        train_val_split((x, t), 20)


@pytest.mark.parametrize(("shuffle", "drop_last", "batch_size"), [(True, False, 5), (False, False, 5),
                                                                 (True, True, 5), (True, False, None)])
def test_resident_loader_gives_the_host_loaders_batches(cpu_backend, shuffle, drop_last, batch_size):
    """The device-resident mode (one upload, batches gathered with take) hands out the same
    batches, in the same order, as the host mode."""
    rng = np.random.default_rng(0)
    x, t = rng.standard_normal((23, 2, 3)).astype(np.float32), rng.integers(0, 5, 23)
    passes = {}
    for resident in (False, True):
        anynet.seed(3)
        loader = DataLoader((x, t), batch_size, shuffle=shuffle, drop_last=drop_last, resident=resident)
        assert loader.resident_on(cpu_backend) is resident
        passes[resident] = [[(xb, tb) for xb, tb in loader] for _ in range(2)]
    for host_pass, device_pass in zip(passes[False], passes[True]):
        assert len(host_pass) == len(device_pass)
        for (xh, th), (xd, td) in zip(host_pass, device_pass):
            assert anynet.device_of(xd) == cpu_backend and anynet.device_of(td) == cpu_backend
            assert xd.dtype == xh.dtype and td.dtype == th.dtype
            np.testing.assert_array_equal(host(xd), host(xh))
            np.testing.assert_array_equal(host(td), host(th))


def test_loader_keeps_data_on_the_device_when_it_fits(monkeypatch):
    strict = resolve_backend("strict")
    data = (np.zeros((40, 3), np.float32), np.arange(40))
    assert not DataLoader(data).resident_on("cpu")  # NumPy: the host's own arrays
    assert DataLoader(data).resident_on(strict)
    uploads = {"n": 0}
    original = type(strict).from_numpy

    def counted(self, a):
        uploads["n"] += 1
        return original(self, a)

    monkeypatch.setattr(type(strict), "from_numpy", counted)
    for budget, expected in ((1 << 30, 2 + 3), (0, 2 * 4 * 3)):  # x and t once + an order per pass; or each batch
        monkeypatch.setattr(type(strict.executor), "data_budget", budget)
        uploads["n"] = 0
        loader = DataLoader(data, 10, device=strict)
        for _ in range(3):
            list(loader)
        assert uploads["n"] == expected, budget
