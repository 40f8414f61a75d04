"""Attention (anynet.layers.attention) on every backend: MultiHeadAttention, its masks and dropout,
against PyTorch; the book's TimeAttention."""

from __future__ import annotations

import numpy as np
import pytest

import anynet
from anynet.layers.attention import attention, attention_backward, attention_mask
from anynet.testing import arr, check_inputs_unchanged, host
from anynet.testing.gradcheck import check_layer

F64 = "float64"
N, T, D, HEADS = 2, 4, 6, 2


def randn(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


class WithPadding(anynet.Layer):
    """Passes a fixed padding argument to forward (check_layer calls forward(x, train))."""

    def __init__(self, inner, padding):
        super().__init__()
        self.inner, self.padding = inner, padding

    @property
    def params(self):
        return self.inner.params

    def forward(self, x, train=None):
        return self.inner.forward(x, train, padding=self.padding)

    def backward(self, dout):
        return self.inner.backward(dout)


def _mha(causal=False, dropout=0.0, bias_seed=None):
    layer = anynet.MultiHeadAttention(D, HEADS, causal=causal, dropout=dropout, dtype=F64)
    dev = anynet.current_device()
    for i, p in enumerate(layer.params):  # non-zero biases, so their gradients are tested
        if p.name.startswith("b"):
            p.data = dev.from_numpy(0.3 * randn(p.shape, seed=20 + i))
    return layer


# -- gradient checks ----------------------------------------------------------------


@pytest.mark.parametrize("causal", [False, True])
def test_mha_gradient(backend, causal):
    check_layer(_mha(causal), arr(backend, randn((N, T, D))))


@pytest.mark.parametrize("form", ["bool", "lengths"])
def test_mha_gradient_with_padding(backend, form):
    padding = np.array([[False] * 4, [False, False, True, True]]) if form == "bool" else np.array([4, 2])
    layer = WithPadding(_mha(causal=True), arr(backend, padding))
    check_layer(layer, arr(backend, randn((N, T, D))))


def test_mha_gradient_with_dropout(backend):
    check_layer(_mha(dropout=0.3), arr(backend, randn((N, T, D))), train=True, reseed=7)


# -- closed forms and masks ------------------------------------------------------------


def _identity_mha(backend, causal):
    """Wq = Wk = 0 (every score 0: uniform weights), Wv = Wo = I, biases 0: y_t = mean of the visible x."""
    layer = anynet.MultiHeadAttention(D, HEADS, causal=causal, dtype=F64)
    eye, zero = np.eye(D), np.zeros((D, D))
    layer.load_state_dict({**{p.name: arr(backend, np.zeros(D)) for p in layer.params if p.name[0] == "b"},
                           "Wq": arr(backend, zero), "Wk": arr(backend, zero),
                           "Wv": arr(backend, eye), "Wo": arr(backend, eye)})
    return layer


@pytest.mark.parametrize("causal", [False, True])
def test_mha_closed_form_uniform_weights(backend, causal):
    x0 = randn((N, T, D))
    y = host(_identity_mha(backend, causal).forward(arr(backend, x0)))
    if causal:
        expected = np.cumsum(x0, axis=1) / np.arange(1, T + 1)[None, :, None]
    else:
        expected = np.broadcast_to(x0.mean(axis=1, keepdims=True), x0.shape)
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-14)


def test_mha_padding_hides_keys(backend):
    layer = _mha()
    x0 = randn((N, T, D))
    x1 = x0.copy()
    x1[1, 2:] += 5.0  # change only the padded positions of sequence 1
    pad = arr(backend, np.array([4, 2]))
    y0, y1 = (host(layer.forward(arr(backend, x), padding=pad)) for x in (x0, x1))
    np.testing.assert_allclose(y1[0], y0[0], rtol=1e-12)
    np.testing.assert_allclose(y1[1, :2], y0[1, :2], rtol=1e-12)
    w = host(layer.weights)
    np.testing.assert_array_equal(w[1, :, :, 2:], 0.0)
    np.testing.assert_allclose(w.sum(axis=-1), 1.0, rtol=1e-12)


def test_causal_mask_hides_the_future(backend):
    layer = _mha(causal=True)
    x0 = randn((N, T, D))
    x1 = x0.copy()
    x1[:, -1] += 3.0
    y0, y1 = (host(layer.forward(arr(backend, x))) for x in (x0, x1))
    np.testing.assert_allclose(y1[:, :-1], y0[:, :-1], rtol=1e-12)
    assert np.all(np.triu(host(layer.weights)[0, 0], k=1) == 0.0)


def test_query_with_no_key_left_gets_zeros(backend):
    xp = backend.xp
    q, k, v = (arr(backend, randn((1, 1, 3, 2), seed=s)) for s in range(3))
    allowed = arr(backend, np.array([True, True, False]).reshape(1, 1, 3, 1))
    out, cache = attention(q, k, v, allowed)
    assert bool(xp.all(xp.isfinite(out)))
    np.testing.assert_array_equal(host(out)[0, 0, 2], 0.0)
    dq, dk, dv = attention_backward(arr(backend, np.ones((1, 1, 3, 2))), cache)
    np.testing.assert_array_equal(host(dq)[0, 0, 2], 0.0)


def test_attention_is_stable_for_large_scores(backend):
    q, k, v = (arr(backend, 1e3 * randn((1, 2, 3, 4), seed=s)) for s in range(3))
    out, cache = attention(q, k, v)
    a = host(cache[3])
    assert np.isfinite(host(out)).all() and np.isfinite(a).all()
    np.testing.assert_allclose(a.sum(axis=-1), 1.0, rtol=1e-12)


def test_dropout_only_in_training(backend):
    layer = _mha(dropout=0.5)
    x = arr(backend, randn((N, T, D)))
    y_eval = host(layer.forward(x, train=False))
    np.testing.assert_allclose(y_eval, host(_copy_without_dropout(layer).forward(x)), rtol=1e-12)
    assert not np.allclose(host(layer.forward(x, train=True)), y_eval)


def _copy_without_dropout(layer):
    plain = anynet.MultiHeadAttention(D, HEADS, dtype=F64)
    plain.load_state_dict(layer.state_dict())
    return plain


def test_mha_inputs_unchanged(backend):
    check_inputs_unchanged(backend, _mha(causal=True, dropout=0.2), randn((N, T, D)), train=True)


def test_mha_parameters_and_errors():
    layer = anynet.MultiHeadAttention(8, 2)
    assert [p.name for p in layer.params] == ["Wq", "bq", "Wk", "bk", "Wv", "bv", "Wo", "bo"]
    assert layer.Wq.shape == (8, 8) and layer.Wq.dtype == np.float32
    with pytest.raises(ValueError, match="MultiHeadAttention: embed_size 6 must be a multiple of num_heads 4"):
        anynet.MultiHeadAttention(6, 4)
    with pytest.raises(ValueError, match=r"MultiHeadAttention: expected x of shape \(N, T, 8\), got \(2, 3\)"):
        layer.forward(np.zeros((2, 3), np.float32))
    x = np.zeros((2, 3, 8), np.float32)
    with pytest.raises(ValueError, match=r"MultiHeadAttention: expected a padding mask of shape \(2, 3\)"):
        layer.forward(x, padding=np.zeros((2, 4), bool))
    with pytest.raises(ValueError, match=r"expected padding lengths of shape \(2,\)"):
        layer.forward(x, padding=np.array([3]))
    with pytest.raises(TypeError, match="padding must be booleans"):
        layer.forward(x, padding=np.zeros((2, 3), np.float32))
    with pytest.raises(RuntimeError, match="backward called before forward"):
        anynet.MultiHeadAttention(8, 2).backward(x)
    layer.forward(x)
    with pytest.raises(ValueError, match=r"MultiHeadAttention: expected dout of shape \(2, 3, 8\)"):
        layer.backward(np.zeros((2, 8), np.float32))


# -- against PyTorch ---------------------------------------------------------------------


def _torch():
    return pytest.importorskip("torch", reason="the comparison with scaled_dot_product_attention needs torch")


@pytest.mark.parametrize("masked", [False, True])
def test_attention_core_agrees_with_torch_sdpa(masked):
    torch = _torch()
    q0, k0, v0 = (randn((2, 3, 5, 4), seed=s) for s in range(3))
    d0 = randn((2, 3, 5, 4), seed=9)
    allowed = attention_mask(np, 2, 5, 5, causal=True, padding=np.array([5, 3])) if masked else None
    out, cache = attention(q0, k0, v0, allowed)
    grads = attention_backward(d0, cache)
    q, k, v = (torch.tensor(a, requires_grad=True) for a in (q0, k0, v0))
    mask = None if allowed is None else torch.from_numpy(allowed)
    ref = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    ref.backward(torch.from_numpy(d0))
    np.testing.assert_allclose(out, ref.detach().numpy(), rtol=1e-12, atol=1e-14)
    for ours, theirs in zip(grads, (q, k, v)):
        np.testing.assert_allclose(ours, theirs.grad.numpy(), rtol=1e-11, atol=1e-13)


def test_mha_agrees_with_torch():
    """The whole layer, projections reproduced in torch around scaled_dot_product_attention."""
    torch = _torch()
    layer = _mha(causal=True)
    x0, d0 = randn((N, T, D)), randn((N, T, D), seed=5)
    lengths = np.array([4, 3])
    y = layer.forward(x0, padding=lengths)
    dx = layer.backward(d0)
    P = {p.name: torch.tensor(host(p.data), requires_grad=True) for p in layer.params}
    x = torch.tensor(x0, requires_grad=True)

    def heads(t):
        return t.reshape(N, T, HEADS, D // HEADS).transpose(1, 2)

    q, k, v = (heads(x @ P[f"W{n}"] + P[f"b{n}"]) for n in "qkv")
    keep = torch.arange(T)[None, :] < torch.from_numpy(lengths)[:, None]
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool))[None, None] & keep[:, None, None, :]
    o = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    ref = o.transpose(1, 2).reshape(N, T, D) @ P["Wo"] + P["bo"]
    ref.backward(torch.from_numpy(d0))
    np.testing.assert_allclose(y, ref.detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(dx, x.grad.numpy(), rtol=1e-11, atol=1e-13)
    for p in layer.params:
        np.testing.assert_allclose(p.grad, P[p.name].grad.numpy(), rtol=1e-11, atol=1e-13, err_msg=p.name)


# -- TimeAttention --------------------------------------------------------------------


class EncoderDecoderPair(anynet.Layer):
    """TimeAttention on one input, x (N, T + T', H) split into hs_enc and hs_dec (for check_layer)."""

    def __init__(self, T_enc):
        super().__init__()
        self.inner, self.T_enc = anynet.TimeAttention(), T_enc

    def forward(self, x, train=None):
        return self.inner.forward(x[:, :self.T_enc, :], x[:, self.T_enc:, :])

    def backward(self, dout):
        denc, ddec = self.inner.backward(dout)
        return anynet.backend.namespace(denc).concat([denc, ddec], axis=1)


def test_time_attention_gradient(backend):
    check_layer(EncoderDecoderPair(4), arr(backend, randn((2, 4 + 3, 3))))


def test_time_attention_is_the_books_loop(backend):
    """The book's AttentionWeight and WeightSum, one decoder step at a time, in NumPy."""
    enc, dec = randn((2, 5, 3)), randn((2, 4, 3), seed=1)
    c = host(anynet.TimeAttention().forward(arr(backend, enc), arr(backend, dec)))
    for t in range(4):
        s = np.sum(enc * dec[:, t][:, None, :], axis=2)
        a = np.exp(s - s.max(axis=1, keepdims=True))
        a /= a.sum(axis=1, keepdims=True)
        np.testing.assert_allclose(c[:, t], np.sum(enc * a[:, :, None], axis=1), rtol=1e-12)


def test_time_attention_inputs_unchanged_and_errors(backend):
    layer = anynet.TimeAttention()
    e0, d0, g0 = randn((2, 4, 3)), randn((2, 2, 3), seed=1), randn((2, 2, 3), seed=2)
    enc, dec, dc = arr(backend, e0), arr(backend, d0), arr(backend, g0)
    layer.forward(enc, dec)
    layer.backward(dc)
    for a, a0 in ((enc, e0), (dec, d0), (dc, g0)):
        np.testing.assert_array_equal(host(a), a0)
    np.testing.assert_allclose(host(layer.weights).sum(axis=2), 1.0, rtol=1e-12)
    with pytest.raises(ValueError, match=r"TimeAttention: expected hs_dec of shape \(2, T', 3\), got \(2, 2, 4\)"):
        layer.forward(enc, arr(backend, np.zeros((2, 2, 4))))
    with pytest.raises(TypeError, match=r"forward\(hs_enc, hs_dec\)"):
        layer.forward(enc)
