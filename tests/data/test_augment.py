"""Augmentation on every backend: what each transform keeps and changes, reproducibility,
and that a batch never goes through the host."""

from __future__ import annotations

import numpy as np
import pytest

import anynet
from anynet.data import DataLoader
from anynet.data import augment as A
from anynet.testing import arr, host

R = np.random.default_rng(5)
X = R.uniform(0.1, 1.0, (16, 2, 7, 6)).astype(np.float32)  # no zeros: a zero-filled border is visible


def _shifts_of(x0, y0, pad):
    """For each sample, the (dy, dx) within +-pad that maps x0 onto y0 (zero fill), or None."""
    found = []
    for a, b in zip(x0, y0):
        match = None
        for dy in range(-pad, pad + 1):
            for dx in range(-pad, pad + 1):
                moved = np.zeros_like(a)
                H, W = a.shape[1:]
                moved[:, max(dy, 0):H + min(dy, 0), max(dx, 0):W + min(dx, 0)] = \
                    a[:, max(-dy, 0):H + min(-dy, 0), max(-dx, 0):W + min(-dx, 0)]
                if np.array_equal(moved, b):
                    match = (dy, dx)
        found.append(match)
    return found


def test_random_shift_moves_each_image_by_at_most_pad(backend):
    y = host(A.RandomShift(2)(arr(backend, X)))
    shifts = _shifts_of(X, y, 2)
    assert all(s is not None for s in shifts)
    assert len(set(shifts)) > 3  # per-sample offsets, not one for the batch


def test_random_flip_mirrors_some_images_and_keeps_the_rest(backend):
    y = host(A.RandomFlip(p=0.5)(arr(backend, X)))
    flipped = [np.array_equal(b, a[..., ::-1]) for a, b in zip(X, y)]
    kept = [np.array_equal(b, a) for a, b in zip(X, y)]
    assert all(f or k for f, k in zip(flipped, kept))
    assert 0 < sum(flipped) < len(X)
    np.testing.assert_array_equal(host(A.RandomFlip(p=0.0)(arr(backend, X))), X)
    np.testing.assert_array_equal(host(A.RandomFlip(p=1.0)(arr(backend, X))), X[..., ::-1])


def test_flip_mirrors_every_image_and_draws_nothing(backend):
    x = arr(backend, X)
    before = anynet.backend.rng_state()
    np.testing.assert_array_equal(host(A.Flip()(x)), X[..., ::-1])
    np.testing.assert_array_equal(host(A.Flip(axis=2)(x)), X[:, :, ::-1])
    assert anynet.backend.rng_state() == before
    np.testing.assert_array_equal(host(x), X)


def test_named_views():
    assert [type(v) for v in A.views("flip")] == [A.Flip]
    assert A.views(" flip ,flip")[0].axis == -1
    with pytest.raises(ValueError, match="tta: unknown view.s. 'shift': give a comma-separated list of flip"):
        A.views("flip,shift")
    with pytest.raises(TypeError, match="tta: spec must be a string"):
        A.views(["flip"])


def test_random_erasing_blanks_one_rectangle_per_erased_image(backend):
    y = host(A.RandomErasing(p=1.0, value=0.0)(arr(backend, X)))
    for a, b in zip(X, y):
        erased = b != a
        assert np.all(b[erased] == 0)
        assert np.array_equal(erased[0], erased[1])  # the same rectangle in every channel
        rows, cols = np.nonzero(erased[0])
        assert erased[0].sum() == (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
    np.testing.assert_array_equal(host(A.RandomErasing(p=0.0)(arr(backend, X))), X)


def test_normalize_per_channel(backend):
    y = host(A.Normalize([0.5, 0.25], [2.0, 4.0])(arr(backend, X)))
    np.testing.assert_allclose(y[:, 0], (X[:, 0] - 0.5) / 2.0, rtol=1e-6)
    np.testing.assert_allclose(y[:, 1], (X[:, 1] - 0.25) / 4.0, rtol=1e-6)


def test_normalize_takes_statistics_as_host_arrays():
    mean, std = X.mean(axis=(0, 2, 3)), X.std(axis=(0, 2, 3))  # float32 arrays of one per channel
    y = A.Normalize(mean, std)(X)
    np.testing.assert_allclose(y.mean(axis=(0, 2, 3)), 0.0, atol=1e-5)
    np.testing.assert_allclose(y.std(axis=(0, 2, 3)), 1.0, rtol=1e-5)
    with pytest.raises(TypeError, match=r"Normalize: mean must be a number, got array\(0.5\)"):
        A.Normalize(np.array(0.5), 1.0)


def test_augmentation_is_seeded_and_leaves_its_input_alone(backend):
    aug = A.for_data("fashion-mnist")
    anynet.seed(3)
    x = arr(backend, X)
    first = host(aug(x))
    anynet.seed(3)
    np.testing.assert_array_equal(host(aug(arr(backend, X))), first)
    np.testing.assert_array_equal(host(x), X)
    assert not np.array_equal(first, X)


def test_augmentation_reads_nothing_back_to_the_host():
    strict = pytest.importorskip("array_api_strict")
    dev = anynet.as_device("array_api_strict:device1")
    x = dev.from_numpy(X)
    aug = A.for_data("fashion-mnist")
    with strict.ArrayAPIStrictFlags(data_dependent_shapes=False, boolean_indexing=False):
        y = aug(x)
    assert y.device == x.device and tuple(y.shape) == X.shape


def test_named_transforms_in_their_fixed_order():
    aug = A.named("erase, flip", "fashion-mnist")
    assert [type(t) for t in aug.transforms] == [A.RandomFlip, A.RandomErasing]
    assert [type(t) for t in A.named("auto", "fashion-mnist").transforms] == [A.RandomShift, A.RandomFlip]
    assert type(A.named("auto", "mnist")) is A.RandomShift


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda: A.RandomShift(0), ValueError, "RandomShift: pad must be an integer >= 1, got 0"),
        (lambda: A.RandomFlip(p=1.5), ValueError, "RandomFlip: p must be"),
        (lambda: A.Flip(axis=0), ValueError, r"Flip: axis must be a spatial axis \(-1, -2, 2 or 3\), got 0"),
        (lambda: A.RandomFlip(axis=0), ValueError, "RandomFlip: axis must be a spatial axis"),
        (lambda: A.RandomErasing(scale=(0.5, 0.1)), ValueError, "RandomErasing: scale must satisfy"),
        (lambda: A.Normalize(0.0, 0.0), ValueError, "Normalize: std must be positive"),
        (lambda: A.for_data("spiral"), ValueError, "no augmentation suits 'spiral'"),
        (lambda: A.named("flip,blur", "mnist"), ValueError, "unknown transform.s. 'blur': give 'auto' or"),
        (lambda: A.named(5, "mnist"), TypeError, "augment: spec must be a string such as 'auto' or 'shift,flip'"),
        (lambda: A.RandomShift(2.0), TypeError, "RandomShift: pad must be an integer, got 2.0"),
        (lambda: A.RandomFlip(p=float("nan")), ValueError, "RandomFlip: p must be a number in"),
        (lambda: A.RandomFlip(axis=2.0), TypeError, "RandomFlip: axis must be an integer, got 2.0"),
        (lambda: A.RandomFlip(axis=True), TypeError, "RandomFlip: axis must be an integer, got True"),
        (lambda: A.RandomErasing(scale=(0.1,)), ValueError,
         r"RandomErasing: scale must satisfy 0 < low <= high <= 1 as a pair \(low, high\) of finite numbers, "
         r"got \(0.1,\)"),
        (lambda: A.RandomErasing(scale=0.1), TypeError, r"RandomErasing: scale must satisfy .* got 0.1$"),
        (lambda: A.RandomErasing(scale=(0.1, 0.2, 0.3)), ValueError, "RandomErasing: scale must satisfy"),
        (lambda: A.RandomErasing(scale=("0.1", 0.2)), TypeError, "RandomErasing: scale must satisfy"),
        (lambda: A.RandomErasing(scale=(True, 1)), TypeError, "RandomErasing: scale must satisfy"),
        (lambda: A.RandomErasing(scale=(float("nan"), 0.5)), ValueError, r"scale must satisfy .* got \(nan, 0.5\)"),
        (lambda: A.RandomErasing(scale=(0.1, 1.5)), ValueError, "RandomErasing: scale must satisfy"),
        (lambda: A.RandomErasing(ratio=(float("inf"), float("inf"))), ValueError,
         r"RandomErasing: ratio must satisfy 0 < low <= high as a pair \(low, high\) of finite numbers, "
         r"got \(inf, inf\)"),
        (lambda: A.RandomErasing(ratio=(0.0, 1.0)), ValueError, "RandomErasing: ratio must satisfy"),
        (lambda: A.RandomErasing(ratio="wide"), TypeError, "RandomErasing: ratio must satisfy"),
        (lambda: A.RandomErasing(value=float("inf")), ValueError, "RandomErasing: value must be a number"),
        (lambda: A.Normalize(mean=float("nan"), std=1.0), ValueError,
         "Normalize: mean must be a number that is finite, got nan"),
        (lambda: A.Normalize([0.5, float("inf")], 1.0), ValueError, r"Normalize: mean\[1\] must be a number"),
        (lambda: A.Normalize("0.5", 1.0), TypeError, "Normalize: mean must be a number, got '0.5'"),
        (lambda: A.Normalize([], 1.0), ValueError, "Normalize: mean must be a number or a sequence of one per"),
        (lambda: A.Normalize(0.0, [1.0, -1.0]), ValueError, r"Normalize: std\[1\] must be positive"),
        (lambda: A.Normalize(0.0, float("inf")), ValueError, "Normalize: std must be a number that is finite"),
        (lambda: A.Normalize([0.1, 0.2], [1.0, 2.0, 3.0]), ValueError,
         "Normalize: 2 means and 3 stds: give one per channel for both, or a single number"),
        (lambda: A.Compose(A.RandomFlip()), TypeError, "Compose: transforms must be a list or tuple of transforms"),
        (lambda: A.Compose("flip"), TypeError, "Compose: transforms must be a list or tuple"),
    ],
)
def test_bad_arguments_are_refused(make, error, message):
    with pytest.raises(error, match=message):
        make()


# (transform, batch it cannot take, error, message): each refused before anything is drawn
MISFITS = [
    pytest.param(A.RandomFlip(), np.zeros((4, 3), np.float32), ValueError,
                 r"RandomFlip: expected an image batch of shape \(N, C, H, W\), got \(4, 3\)", id="flat"),
    pytest.param(A.Flip(), np.zeros((4, 784), np.float32), ValueError,
                 r"Flip: expected an image batch of shape \(N, C, H, W\), got \(4, 784\)", id="flip-flat"),
    pytest.param(A.RandomShift(2), np.zeros((4, 1, 28, 28), np.uint8), TypeError,
                 "RandomShift: expected floating images, got .*uint8", id="integers"),
    pytest.param(A.RandomErasing(), np.zeros((4, 1, 0, 5), np.float32), ValueError,
                 r"RandomErasing: expected images of at least 1x1 pixels in each of C channels, got \(4, 1, 0, 5\)",
                 id="no-pixels"),
    pytest.param(A.RandomShift(3), np.zeros((4, 1, 3, 8), np.float32), ValueError,
                 r"RandomShift: pad=3 can shift 3x8 images out of their frame; expected pad < 3", id="pad"),
    pytest.param(A.Normalize([0.5] * 3, [0.2] * 3), X, ValueError, "Normalize: 3 means and 3 stds for 2 channels",
                 id="channels"),
    pytest.param(A.Compose([A.RandomFlip(), A.Normalize([0.5] * 3, 1.0)]), X, ValueError,
                 "Normalize: 3 means and 1 stds for 2 channels", id="compose"),
    pytest.param(A.for_data("mnist"), np.zeros((4, 784), np.float32), ValueError,
                 "RandomShift: expected an image batch", id="for-data"),
]


@pytest.mark.parametrize(("aug", "x", "error", "message"), MISFITS)
def test_a_misfit_is_refused_before_anything_is_drawn(backend, aug, x, error, message):
    x = arr(backend, x)
    before = anynet.backend.rng_state()
    with pytest.raises(error, match=message):
        aug(x)
    assert anynet.backend.rng_state() == before  # no generator moved, none created
    with pytest.raises(error, match=message):  # what a loader can ask before its first batch
        aug.check(x)
    assert anynet.backend.rng_state() == before


def test_check_passes_what_the_transform_takes(backend):
    x = arr(backend, X)
    for aug in (A.RandomShift(5), A.RandomFlip(), A.Flip(), A.RandomErasing(), A.Normalize([0.5, 0.5], 2.0),
                A.for_data("fashion-mnist"), A.Compose([])):
        before = anynet.backend.rng_state()
        aug.check(x)
        assert anynet.backend.rng_state() == before
        assert tuple(aug(x).shape) == X.shape


def test_check_reads_a_host_sample_of_the_data_set():
    """What a loader can run when it is built: the data set's first row stands for its batches."""
    images = np.zeros((100, 1, 28, 28), np.float32)
    A.for_data("mnist").check(images[:1])
    with pytest.raises(ValueError, match=r"RandomShift: expected an image batch of shape .*, got \(1, 784\)"):
        A.for_data("mnist").check(images.reshape(100, 784)[:1])


def test_compose_checks_up_to_a_callable_of_its_own():
    """After a plain callable the batch's shape is unknown: later transforms are checked at the call."""
    flat = np.zeros((4, 784), np.float32)
    aug = A.Compose([lambda x: x.reshape(4, 1, 28, 28), A.RandomShift(2)])
    aug.check(flat)
    assert aug(flat).shape == (4, 1, 28, 28)


def test_a_loader_refuses_a_misfit_augmentation_when_built():
    x, t = np.zeros((40, 36), np.float32), np.arange(40) % 3
    with pytest.raises(ValueError, match=r"RandomShift: expected an image batch of shape .*, got \(1, 36\)"):
        DataLoader((x, t), 8, augment=A.RandomShift(1))


def test_a_fit_refused_for_its_augmentation_moves_no_generator():
    x, t = np.random.default_rng(0).uniform(0.1, 1, (40, 36)).astype(np.float32), np.arange(40) % 3
    trainer = anynet.Trainer(anynet.Sequential(anynet.Flatten(), anynet.Affine(36, 3)), anynet.SoftmaxWithLoss(),
                             anynet.SGD(lr=0.1), verbose=0)
    before = anynet.backend.rng_state()
    with pytest.raises(ValueError, match=r"RandomShift: expected an image batch of shape .*, got \(\d+, 36\)"):
        trainer.fit((x, t), epochs=1, batch_size=8, augment=A.RandomShift(1))
    assert anynet.backend.rng_state() == before  # the epoch's permutation was drawn first before the check
    assert trainer.epoch == 0


def test_images_only():
    with pytest.raises(ValueError, match=r"RandomFlip: expected an image batch of shape \(N, C, H, W\), got \(4, 3\)"):
        A.RandomFlip()(np.zeros((4, 3), dtype=np.float32))


def test_the_trainer_augments_training_batches_only_and_resumes_exactly(tmp_path):
    x = np.random.default_rng(0).uniform(0.1, 1, (40, 1, 6, 6)).astype(np.float32)
    t = np.arange(40) % 3

    def run(epochs, resume=None, save=None):
        anynet.seed(7)
        model = anynet.Sequential(anynet.Flatten(), anynet.Affine(36, 3))
        trainer = anynet.Trainer(model, anynet.SoftmaxWithLoss(), anynet.SGD(lr=0.1), verbose=0,
                                 callbacks=[] if save is None else [anynet.training.Checkpoint(save, every=1)])
        trainer.fit((x, t), (x, t), epochs=epochs, batch_size=8, augment=A.RandomShift(1), resume=resume)
        return model, trainer

    straight, trainer = run(4)
    plain = anynet.Trainer(anynet.Sequential(anynet.Flatten(), anynet.Affine(36, 3)), anynet.SoftmaxWithLoss(),
                           anynet.SGD(lr=0.1), verbose=0)
    plain.model.load_state_dict(straight.state_dict())
    assert trainer.history["val_loss"][-1] == pytest.approx(plain.evaluate((x, t))[0], rel=1e-6)  # val not augmented
    run(2, save=tmp_path / "ck.npz")
    resumed, _ = run(4, resume=tmp_path / "ck.npz")
    for a, b in zip(straight.params, resumed.params):
        np.testing.assert_array_equal(host(a.data), host(b.data))
