"""anynet.interop: every zoo model with a PyTorch twin in benchmarks/_common.py gives its weights to the
twin and takes the twin's back, checked by equal outputs both ways (BatchNorm's running statistics,
Affine's transpose, conv layouts and the LSTM's gates included)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import anynet  # noqa: E402
from anynet.interop import from_torch_state_dict, to_torch_state_dict  # noqa: E402
from anynet.testing import host  # noqa: E402
from benchmarks._common import MODELS, torch_twin  # noqa: E402

# the twin wraps nn.LSTM in a module of its own ("0.rnn."); a plain nn.Sequential has it at "0."
_WRAPPED = {"TimeLSTM", "TimeGRU"}


def _twin_names(sd, name):
    return {k.replace("0.", "0.rnn.", 1) if k.startswith("0.") else k: v for k, v in sd.items()} \
        if name in _WRAPPED else sd


def _plain_names(sd, name):
    return {k.replace("0.rnn.", "0.", 1): v for k, v in sd.items()} if name in _WRAPPED else sd


def _randomized(model, seed):
    """Biases, BatchNorm's scale and shift and its running statistics drawn anew (the weights keep their
    random initialisation), so that no mapping passes by the luck of zeros and ones."""
    rng = np.random.default_rng(seed)
    state = {}
    for k, v in model.state_dict().items():
        a = host(v)
        if k.endswith("running_var"):
            a = rng.random(a.shape) + 0.5
        elif a.ndim == 1:
            a = rng.normal(0, 0.2, a.shape) + (1.0 if k.endswith("gamma") else 0.0)
        state[k] = np.asarray(a, np.float32)
    model.load_state_dict(state)
    return model


def _x(shape):
    return np.random.default_rng(7).random((3, *shape), dtype=np.float32)


TWINS = [name for name in MODELS if name != "TimeGRU"]


@pytest.mark.parametrize("name", TWINS)
def test_the_twin_computes_what_the_anynet_model_computes_both_ways(name):
    make, shape = MODELS[name]
    model = _randomized(make(), 0).eval()
    twin = torch_twin(model).eval()
    twin.load_state_dict(_twin_names(to_torch_state_dict(model), name))  # strict: every key, both sides
    x = _x(shape)
    with torch.no_grad():
        np.testing.assert_allclose(twin(torch.from_numpy(x)).numpy(), host(model.predict(x)), rtol=1e-4, atol=2e-5)
    # back: the twin's own (other) weights into a fresh anynet model
    torch.manual_seed(0)
    with torch.no_grad():
        for key, p in twin.named_parameters():  # Linear's and Conv2d's biases are random already
            if key.split(".")[0] in {str(i) for i, m in enumerate(twin) if "BatchNorm" in type(m).__name__}:
                p.copy_(torch.randn_like(p) * 0.2 + (1.0 if key.endswith("weight") else 0.0))
        for key, b in twin.named_buffers():
            if key.endswith("running_var"):
                b.copy_(torch.rand_like(b) + 0.5)
            elif key.endswith("running_mean"):
                b.copy_(torch.randn_like(b))
    other = from_torch_state_dict(make().eval(), _plain_names(twin.state_dict(), name))
    with torch.no_grad():
        np.testing.assert_allclose(host(other.predict(x)), twin(torch.from_numpy(x)).numpy(), rtol=1e-4, atol=2e-5)


def test_on_torch_tensors_and_back_onto_another_device(cpu_backend):
    with anynet.device(cpu_backend):
        model = _randomized(anynet.MLP(4, [6], 3, batchnorm=True), 1).eval()
        fresh = anynet.MLP(4, [6], 3, batchnorm=True)
    sd = to_torch_state_dict(model)
    assert all(isinstance(v, torch.Tensor) for v in sd.values())
    assert sd["0.weight"].shape == (6, 4) and sd["1.num_batches_tracked"].item() == 0 and len(sd) == 9
    from_torch_state_dict(fresh, sd)
    with torch.no_grad():
        for v in sd.values():  # new memory both ways: writing into the tensors leaves both models alone
            v.add_(1)
    assert all(anynet.device_of(v) == cpu_backend for v in fresh.state_dict().values())
    for k, v in model.state_dict().items():
        assert np.array_equal(host(fresh.state_dict()[k]), host(v)), k
    assert np.array_equal(host(model.state_dict()["3.W"]).T + 1, sd["3.weight"].numpy())


def test_a_bfloat16_twin_loads_into_a_float32_model():
    model = anynet.MLP(4, [6], 3)
    twin = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.ReLU(), torch.nn.Linear(6, 3)).to(torch.bfloat16)
    from_torch_state_dict(model, twin.state_dict())
    assert str(model.state_dict()["0.W"].dtype) == "float32"
    assert np.array_equal(host(model.state_dict()["0.W"]), twin[0].weight.detach().float().T.numpy())


def test_the_lstm_biases_add_up_coming_in():
    model = anynet.SequenceClassifier(3, 4, 2, cell="lstm")
    twin = torch.nn.Sequential(torch.nn.LSTM(3, 4, batch_first=True))
    sd = {**twin.state_dict(), "1.weight": torch.zeros(2, 4), "1.bias": torch.zeros(2)}
    from_torch_state_dict(model, sd)
    expected = (twin.state_dict()["0.bias_ih_l0"] + twin.state_dict()["0.bias_hh_l0"]).numpy()
    np.testing.assert_allclose(host(model.state_dict()["0.b"]), expected, rtol=1e-6)


def test_refusals_name_the_layer_and_change_nothing():
    make, _ = MODELS["TimeGRU"]
    with pytest.raises(ValueError, match="layer 0 is a TimeGRU, which torch.nn.GRU cannot reproduce"):
        to_torch_state_dict(make())
    with pytest.raises(ValueError, match=r"layer 0.ln1 \(LayerNorm\) has no torch.nn twin"):
        to_torch_state_dict(anynet.Sequential(anynet.TransformerBlock(8, 2)))
    model = anynet.MLP(4, [6], 3)
    before = {k: host(v).copy() for k, v in model.state_dict().items()}
    sd = to_torch_state_dict(anynet.MLP(4, [6], 3))
    with pytest.raises(ValueError, match=r"missing \['2.bias'\], unexpected \[\]"):
        from_torch_state_dict(model, {k: v for k, v in sd.items() if k != "2.bias"})
    with pytest.raises(ValueError, match=r"2.W of this MLP has shape \(6, 3\), the state gives \(6, 2\)"):
        from_torch_state_dict(model, {**sd, "2.weight": torch.zeros(2, 6), "2.bias": torch.zeros(3)})
    assert all(np.array_equal(host(v), before[k]) for k, v in model.state_dict().items())
