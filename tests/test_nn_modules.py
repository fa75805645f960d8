"""coursekit.nn modules against torch.nn: same constructor arguments, same state_dict, same numbers."""

import numpy as np
import pytest
from torch_ref import assert_close, torch

import coursekit.nn as nn

TNN = torch.nn


def _pair_of_models():
    ours = nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(4, 6, (3, 2), stride=(1, 2), dilation=(2, 1), bias=False), nn.LeakyReLU(0.1),
        nn.ConvTranspose2d(6, 3, 3, stride=2, padding=1, output_padding=1), nn.Tanh(),
        nn.AvgPool2d(2), nn.Flatten(), nn.Linear(3 * 3 * 3, 8), nn.BatchNorm1d(8), nn.Sigmoid(), nn.Linear(8, 5),
    )
    theirs = TNN.Sequential(
        TNN.Conv2d(2, 4, 3, padding=1), TNN.BatchNorm2d(4), TNN.ReLU(), TNN.MaxPool2d(2),
        TNN.Conv2d(4, 6, (3, 2), stride=(1, 2), dilation=(2, 1), bias=False), TNN.LeakyReLU(0.1),
        TNN.ConvTranspose2d(6, 3, 3, stride=2, padding=1, output_padding=1), TNN.Tanh(),
        TNN.AvgPool2d(2), TNN.Flatten(), TNN.Linear(3 * 3 * 3, 8), TNN.BatchNorm1d(8), TNN.Sigmoid(),
        TNN.Linear(8, 5),
    ).double()
    return ours, theirs


def test_state_dict_keys_and_shapes_match_torch():
    ours, theirs = _pair_of_models()
    mine = ours.state_dict()
    ref = theirs.state_dict()
    assert list(mine) == list(ref)
    for k in ref:
        assert np.shape(mine[k]) == tuple(ref[k].shape), k
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]


@pytest.mark.parametrize("training", [True, False])
def test_network_forward_and_backward_match_torch(training):
    ours, theirs = _pair_of_models()
    theirs.train(training)
    # give the running statistics something to remember before eval mode
    with torch.no_grad():
        theirs.train()(torch.randn(6, 2, 14, 12, dtype=torch.float64) * 2 + 1)
    theirs.train(training)
    ours.load_state_dict({k: v.numpy().astype(np.float64) for k, v in theirs.state_dict().items()})
    for p in ours.parameters():
        p.data = p.data.astype(np.float64)
    for _, m in ours.named_modules():
        for name in list(m._buffers):
            if isinstance(m._buffers[name], np.ndarray):
                setattr(m, name, m._buffers[name].astype(np.float64))
    ours.train(training)

    x = np.random.default_rng(0).standard_normal((6, 2, 14, 12))
    xt = torch.tensor(x, requires_grad=True)
    out = ours(x)
    ref = theirs(xt)
    assert_close(out, ref.detach().numpy(), "network output")
    dout = np.random.default_rng(1).standard_normal(out.shape)
    (ref * torch.tensor(dout)).sum().backward()
    dx = ours.backward(dout)
    assert_close(dx, xt.grad.numpy(), "input gradient")
    for (name, p), (_, tp) in zip(ours.named_parameters(), theirs.named_parameters()):
        assert_close(p.grad, tp.grad.numpy(), f"gradient of {name}")
    for key, value in theirs.state_dict().items():
        assert_close(np.asarray(ours.state_dict()[key], dtype=np.float64), value.numpy(), key)


def test_default_initialisation_has_torch_bounds():
    nn.manual_seed(0)
    conv = nn.Conv2d(16, 8, 3)
    bound = 1 / np.sqrt(16 * 9)
    assert np.abs(conv.weight.data).max() <= bound and np.abs(conv.weight.data).max() > 0.9 * bound
    assert np.abs(conv.bias.data).max() <= bound
    lin = nn.Linear(100, 10)
    assert np.abs(lin.weight.data).max() <= 0.1


def test_he_and_xavier_variances():
    w = np.empty((256, 128, 3, 3))
    nn.init.kaiming_normal_(w, nonlinearity="relu", rng=np.random.default_rng(0))
    assert abs(w.var() / (2 / (128 * 9)) - 1) < 0.02
    nn.init.xavier_uniform_(w, rng=np.random.default_rng(1))
    assert abs(w.var() / (2 / (128 * 9 + 256 * 9)) - 1) < 0.02


def test_gradients_accumulate_until_zero_grad():
    nn.manual_seed(1)
    lin = nn.Linear(3, 2)
    x = np.ones((4, 3))
    for _ in range(2):
        lin(x)
        lin.backward(np.ones((4, 2)))
    np.testing.assert_allclose(lin.bias.grad, [8.0, 8.0])
    lin.zero_grad()
    assert lin.bias.grad is None


def test_train_eval_and_dropout():
    model = nn.Sequential(nn.Dropout(0.5), nn.BatchNorm1d(3))
    assert model.training and model[0].training
    model.eval()
    assert not model[0].training and not model[1].training
    x = np.random.default_rng(0).standard_normal((5, 3))
    np.testing.assert_allclose(model(x), x / np.sqrt(1 + 1e-5), rtol=1e-6)


def test_load_state_dict_checks_keys_and_shapes():
    lin = nn.Linear(3, 2)
    with pytest.raises(ValueError, match="missing keys"):
        lin.load_state_dict({"weight": np.zeros((2, 3))})
    with pytest.raises(ValueError, match="shape mismatch for weight"):
        lin.load_state_dict({"weight": np.zeros((3, 2)), "bias": np.zeros(2)})


def test_backward_before_forward_is_an_error():
    with pytest.raises(RuntimeError, match="before forward"):
        nn.ReLU().backward(np.ones(3))


def test_repr_lists_children():
    text = repr(nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU()))
    assert "(0): Conv2d(1, 2, kernel_size=(3, 3)" in text and "(1): ReLU()" in text
