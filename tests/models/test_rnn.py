"""The recurrent models (anynet.models.rnn): whole-net gradient checks and loss falling on every CPU
backend, a language model learns, carried state moves with the model."""

from __future__ import annotations

import math

import numpy as np
import pytest

import anynet
from anynet.optim.hooks import ClipByNorm
from anynet.testing import arr
from anynet.testing.gradcheck import check_backward, check_layer

F64 = "float64"
N, T, D, H = 2, 3, 3, 4


# Whole-net gradient checks along a few random directions: every layer in them is also checked
# element by element in tests/layers/.
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_sequence_classifier_gradient(cpu_backend, cell):
    model = anynet.models.SequenceClassifier(D, H, 2, cell=cell, layers=2, dtype=F64)
    x = arr(cpu_backend, np.random.default_rng(0).standard_normal((N, T, D)))
    assert len(check_layer(model, x, directions=2)) == 2


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_language_model_gradient(cpu_backend, cell):
    model = anynet.models.LanguageModel(5, D, H, cell=cell, dtype=F64)
    ids = arr(cpu_backend, np.random.default_rng(0).integers(0, 5, (N, T)))

    def forward(ids):
        model.reset_state()  # every pass starts from the same (zero) state
        return model.forward(ids)

    # the integer ids get no gradient; the embedding's and every later weight's are checked
    errors = check_backward(forward, model.backward, ids, None, model.params, directions=2, name="LanguageModel")
    assert len(errors) == 2


def test_model_to_moves_carried_state():
    model = anynet.models.LanguageModel(7, 4, 5)
    model.forward(np.zeros((2, 3), np.int64))
    model.to("array_api_strict:device1")
    y = model.forward(anynet.to_device(np.zeros((2, 3), np.int64), "array_api_strict:device1"))
    assert anynet.device_of(y) == anynet.as_device("array_api_strict:device1")


def _rows_task(n=48, rows=4, cols=5, seed=0):
    """Images read row by row; the class is which of the last three rows is bright."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, rows, cols)).astype(np.float32) * 0.5
    t = rng.integers(0, 3, n)
    x[np.arange(n), rows - 3 + t, :] += 1.0
    return x, t


@pytest.mark.parametrize("kind", ["rnn", "lstm"])
def test_row_classifier_loss_falls(cpu_backend, kind):
    anynet.seed(0)
    x, t = _rows_task()
    net = anynet.models.SequenceClassifier(5, 16, 3, cell=kind)
    opt = anynet.SGD(lr=2.0 if kind == "lstm" else 1.0, hooks=[ClipByNorm(5.0)])
    trainer = anynet.Trainer(net, anynet.SoftmaxWithLoss(), opt, verbose=0)
    history = trainer.fit((x, t), epochs=8, batch_size=16)
    assert history["loss"][-1] < 0.5 * history["loss"][0]
    assert anynet.device_of(net.params[0].data) == cpu_backend


def test_language_model_learns_a_repeated_text():
    anynet.seed(0)
    text = "abcabdabcabd" * 8 + "a"
    ids = np.array(["abcd".index(ch) for ch in text])
    xs, ts = ids[:-1].reshape(4, -1), ids[1:].reshape(4, -1)
    model = anynet.models.LanguageModel(4, 8, 16, cell="gru")
    loss, opt = anynet.TimeSoftmaxWithLoss(), anynet.SGD(lr=1.0, hooks=[ClipByNorm(5.0)])
    first = None
    for _ in range(30):
        model.reset_state()
        for start in range(0, xs.shape[1], 6):
            value = float(loss.forward(model.forward(xs[:, start:start + 6]), ts[:, start:start + 6]))
            first = value if first is None else first
            model.backward(loss.backward())
            opt.update(model.params)
    assert math.exp(value) < 0.6 * math.exp(first)  # perplexity falls
