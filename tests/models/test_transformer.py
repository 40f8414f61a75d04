"""TransformerLM (anynet.models.transformer) on every backend: causality, training with the Trainer."""

from __future__ import annotations

import numpy as np
import pytest

import anynet
from anynet.optim.hooks import ClipByNorm
from anynet.testing import arr, host

F64 = "float64"


def test_lm_is_causal(backend):
    model = anynet.TransformerLM(7, 8, 2, layers=2, max_len=6, dtype=F64)
    ids0 = np.array([[1, 2, 3, 4, 5], [6, 5, 4, 3, 2]])
    ids1 = ids0.copy()
    ids1[:, 3:] = 0
    y0, y1 = (host(model.forward(arr(backend, ids))) for ids in (ids0, ids1))
    assert y0.shape == (2, 5, 7)
    np.testing.assert_allclose(y1[:, :3], y0[:, :3], rtol=1e-12)
    assert not np.allclose(y1[:, 3:], y0[:, 3:])


@pytest.mark.parametrize("positional", ["sinusoidal", "learned"])
def test_lm_loss_falls_with_the_trainer(cpu_backend, positional):
    """A few steps on a repeating text: the Trainer and TimeSoftmaxWithLoss drive it as LanguageModel."""
    anynet.seed(0)
    text = np.array([0, 1, 2, 3, 1, 2, 0, 3] * 12)
    x = np.stack([text[i:i + 8] for i in range(0, 80, 4)])
    t = np.stack([text[i + 1:i + 9] for i in range(0, 80, 4)])
    model = anynet.TransformerLM(4, 16, 2, layers=1, max_len=8, positional=positional)
    trainer = anynet.Trainer(model, anynet.TimeSoftmaxWithLoss(), anynet.Adam(lr=0.01, hooks=[ClipByNorm(5.0)]),
                             verbose=0)
    history = trainer.fit((x, t), epochs=6, batch_size=10)
    assert history["loss"][-1] < 0.5 * history["loss"][0]


def test_lm_errors():
    with pytest.raises(ValueError, match="TransformerLM: positional must be 'sinusoidal' or 'learned'"):
        anynet.TransformerLM(5, positional="rotary")
    model = anynet.TransformerLM(5, 8, 2, layers=1, max_len=4)
    with pytest.raises(ValueError, match="more than max_len=4"):
        model.forward(np.zeros((1, 5), np.int64))
