"""Data sets, loaders and splits (anynet.data.dataset)."""

from __future__ import annotations

import numpy as np
import pytest

import anynet
import anynet.data.images
from anynet.data import DataLoader, DataSet, train_val_split
from anynet.testing import host


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
