"""The trainer on data that stays on disk (ArrayFiles, ImageFolder) and with batches prepared ahead:
the same weights as a run on the arrays in memory, and a resume that continues exactly."""

from __future__ import annotations

import numpy as np
import pytest

import anynet
from anynet.data import ArrayFiles, ImageFolder, write_shards
from anynet.testing import host
from anynet.training import Checkpoint


def _weights(model) -> list[np.ndarray]:
    return [host(p.data).copy() for p in model.params]


def _jitter(x, rng):
    """A host augmentation of spiral points: a little noise, drawn per batch."""
    return x + rng.normal(0.0, 0.01, x.shape).astype(np.float32)


def _spiral_run(data, epochs=3, prefetch=0, seed=0, tmp_path=None, resume=None, host_transform=None):
    anynet.seed(seed)
    net = anynet.MLP(2, [16], 3, dropout=0.1)  # dropout draws on the device between the batches
    callbacks = [Checkpoint(tmp_path / "ck.npz")] if tmp_path is not None else []
    trainer = anynet.Trainer(net, anynet.SoftmaxWithLoss(), anynet.Adam(lr=0.01), callbacks=callbacks, verbose=0)
    trainer.fit(data, epochs=epochs, batch_size=32, prefetch=prefetch, resume=resume, host_transform=host_transform)
    return net, trainer


def test_files_and_prefetch_train_to_the_weights_of_arrays_in_memory(cpu_backend, tmp_path):
    x, t = anynet.data.spiral(points_per_class=40)
    write_shards(x, t, tmp_path, shard_size=50)
    memory, m_trainer = _spiral_run((x, t))
    for data, prefetch in ((ArrayFiles(tmp_path), 0), (ArrayFiles(tmp_path), 2), ((x, t), 2)):
        net, trainer = _spiral_run(data, prefetch=prefetch)
        for a, b in zip(_weights(memory), _weights(net)):
            np.testing.assert_array_equal(a, b)
        assert trainer.history["loss"] == m_trainer.history["loss"]
    jittered = _spiral_run((x, t), host_transform=_jitter)[0]
    assert not np.array_equal(_weights(jittered)[0], _weights(memory)[0])  # the transform is applied
    assert m_trainer.evaluate(ArrayFiles(tmp_path), prefetch=1) == m_trainer.evaluate((x, t))


def test_a_prefetched_run_on_files_resumes_exactly(tmp_path):
    """With a host augmentation run in the prefetch threads, against a straight run without them."""
    x, t = anynet.data.spiral(points_per_class=40)
    write_shards(x, t, tmp_path / "data", shard_size=64)
    files = ArrayFiles(tmp_path / "data")
    straight, s_trainer = _spiral_run((x, t), epochs=4, host_transform=_jitter)
    _spiral_run(files, epochs=2, prefetch=2, tmp_path=tmp_path, host_transform=_jitter)
    resumed, r_trainer = _spiral_run(files, epochs=4, prefetch=2, seed=99, resume=tmp_path / "ck.npz",
                                     host_transform=_jitter)
    assert r_trainer.epoch == 4
    for a, b in zip(_weights(straight), _weights(resumed)):
        np.testing.assert_array_equal(a, b)
    assert r_trainer.history["loss"] == s_trainer.history["loss"]


def test_a_convnet_trains_on_an_image_folder_as_on_its_decoded_arrays(tmp_path):
    Image = pytest.importorskip("PIL.Image", reason="ImageFolder needs Pillow (the extra 'images')")
    rng = np.random.default_rng(0)
    for label, cls in enumerate(("dark", "light")):
        (tmp_path / cls).mkdir()
        for i in range(6):
            a = rng.integers(0, 120, (12, 12), dtype=np.uint8) + 130 * label
            Image.fromarray(a.astype(np.uint8), "L").save(tmp_path / cls / f"{i}.png")
    folder = ImageFolder(tmp_path, size=8)
    x, t = np.asarray(folder.x), folder.t
    runs = []
    for data in (folder, (x, t)):
        anynet.seed(3)
        net = anynet.SimpleConvNet((1, 8, 8), 2, filter_num=4, filter_size=3, hidden_size=8)
        trainer = anynet.Trainer(net, anynet.SoftmaxWithLoss(), anynet.SGD(lr=0.1), verbose=0)
        trainer.fit(data, epochs=3, batch_size=4, prefetch=2)
        runs.append((_weights(net), trainer.history["loss"]))
    assert runs[0][1] == runs[1][1]
    for a, b in zip(runs[0][0], runs[1][0]):
        np.testing.assert_array_equal(a, b)


def test_fashion_mnist_from_shards_reaches_the_accuracy_of_the_run_in_memory(tmp_path, fashion_mnist):
    """A subset of 3000 images written by write_shards; one epoch of an MLP on each, same seed."""
    train, test = fashion_mnist
    train, test = train.subset(slice(0, 3000)), test.subset(slice(0, 1000))
    write_shards(*train, tmp_path / "train", shard_size=700)
    results = []
    for data in (train, ArrayFiles(tmp_path / "train")):
        anynet.seed(0)
        net = anynet.MLP(784, [50], 10)
        trainer = anynet.Trainer(net, anynet.SoftmaxWithLoss(), anynet.SGD(lr=0.1), verbose=0)
        trainer.fit(data, epochs=1, batch_size=100, prefetch=2)
        results.append((trainer.evaluate(test)[1], _weights(net)))
    assert results[0][0] == results[1][0] > 0.5  # chance is 0.1
    for a, b in zip(results[0][1], results[1][1]):
        np.testing.assert_array_equal(a, b)
