"""Optimizers and schedules beside torch.optim: parameters agree to 1e-8 relative error at every step."""

import math

import numpy as np
import pytest
from torch_ref import assert_close, torch

import coursekit.nn as nn
import coursekit.optim as optim

STEPS = 60

CONFIGS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.001)),
    ("Adam", dict()),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.05)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("RMSprop", dict()),
    ("RMSprop", dict(lr=0.005, alpha=0.9, momentum=0.7, weight_decay=0.01)),
    ("RMSprop", dict(lr=0.005, centered=True, momentum=0.5)),
    ("Adagrad", dict()),
    ("Adagrad", dict(lr=0.1, weight_decay=0.01, eps=1e-8, lr_decay=0.01, initial_accumulator_value=0.1)),
]


def _objective_grad(p, a):
    """A non-convex test function sum(a * sin(p)) + 0.1 * sum(p^4) and its gradient, same formula both sides."""
    return a * np.cos(p) + 0.4 * p ** 3


@pytest.mark.parametrize("name,kwargs", CONFIGS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CONFIGS)])
def test_optimizer_trajectory_matches_torch(name, kwargs):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((4, 3))
    ours = [nn.Parameter(rng.standard_normal((4, 3))), nn.Parameter(rng.standard_normal(5))]
    a2 = rng.standard_normal(5)
    theirs = [torch.tensor(p.data, requires_grad=True) for p in ours]
    opt = getattr(optim, name)(ours, **kwargs)
    topt = getattr(torch.optim, name)(theirs, **kwargs)
    for step in range(STEPS):
        for p, t, coef in zip(ours, theirs, (a, a2)):
            p.grad = _objective_grad(p.data, coef)
            t.grad = torch.tensor(_objective_grad(t.detach().numpy(), coef))
        opt.step()
        topt.step()
        for p, t in zip(ours, theirs):
            assert_close(p.data, t.detach().numpy(), f"{name} step {step}", rtol=1e-8)


def test_network_training_steps_match_torch():
    """coursekit backward + coursekit Adam == torch autograd + torch Adam, on a small MLP."""
    nn.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3))
    for p in model.parameters():
        p.data = p.data.astype(np.float64)
    tmodel = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3)).double()
    tmodel.load_state_dict({k: torch.tensor(v) for k, v in model.state_dict().items()})
    opt, topt = optim.Adam(model.parameters(), lr=0.01), torch.optim.Adam(tmodel.parameters(), lr=0.01)
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((16, 6)), rng.integers(0, 3, 16)
    from coursekit.nn.functional import softmax_cross_entropy

    for _ in range(20):
        opt.zero_grad()
        loss, dout = softmax_cross_entropy(model(x), y)
        model.backward(dout)
        opt.step()
        topt.zero_grad()
        tloss = torch.nn.functional.cross_entropy(tmodel(torch.tensor(x)), torch.tensor(y))
        tloss.backward()
        topt.step()
        assert abs(loss - tloss.item()) <= 1e-10 * max(1, abs(loss))
    for (k, v), tv in zip(model.state_dict().items(), tmodel.state_dict().values()):
        assert_close(v, tv.numpy(), k, rtol=1e-8)


SCHEDULES = [
    (lambda o: optim.StepLR(o, 7, 0.5), lambda o: torch.optim.lr_scheduler.StepLR(o, 7, 0.5)),
    (lambda o: optim.ExponentialLR(o, 0.93), lambda o: torch.optim.lr_scheduler.ExponentialLR(o, 0.93)),
    (lambda o: optim.ExponentialLR.with_rate(o, 0.05),
     lambda o: torch.optim.lr_scheduler.ExponentialLR(o, math.exp(-0.05))),
    (lambda o: optim.InverseTimeLR(o, 4.0),
     lambda o: torch.optim.lr_scheduler.LambdaLR(o, lambda t: 1 / (1 + t / 4.0))),
    (lambda o: optim.CosineAnnealingLR(o, 20), lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, 20)),
    (lambda o: optim.CosineAnnealingLR(o, 15, eta_min=0.01),
     lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, 15, eta_min=0.01)),
]


@pytest.mark.parametrize("ours,theirs", SCHEDULES, ids=["step", "exp", "exp-rate", "inverse-time", "cosine",
                                                       "cosine-eta"])
def test_schedules_match_torch(ours, theirs):
    p = nn.Parameter(np.ones(3))
    t = torch.ones(3, dtype=torch.float64, requires_grad=True)
    opt = optim.SGD([p], lr=0.5, momentum=0.9)
    topt = torch.optim.SGD([t], lr=0.5, momentum=0.9)
    sched, tsched = ours(opt), theirs(topt)
    for step in range(40):
        p.grad = np.sin(p.data)
        t.grad = torch.sin(t.detach())
        opt.step()
        topt.step()
        sched.step()
        tsched.step()
        lr, tlr = opt.param_groups[0]["lr"], topt.param_groups[0]["lr"]
        assert abs(lr - tlr) <= 1e-8 * abs(tlr) + 1e-15, (step, lr, tlr)
        assert sched.get_last_lr() == [lr]
        assert_close(p.data, t.detach().numpy(), f"step {step}", rtol=1e-8)


def test_slides_step_decay_every_10k_iterations():
    opt = optim.SGD([nn.Parameter(np.zeros(1))], lr=0.1)
    sched = optim.StepLR(opt, step_size=10_000, gamma=0.8)
    for _ in range(25_000):
        sched.step()
    assert math.isclose(opt.param_groups[0]["lr"], 0.1 * 0.8 ** 2)


def test_state_dict_round_trip_resumes_identically():
    rng = np.random.default_rng(3)
    start = rng.standard_normal(4)

    def run(split):
        p = nn.Parameter(start.copy())
        opt = optim.Adam([p], lr=0.1)
        for i in range(10):
            if i == split:
                saved = opt.state_dict()
                p2 = nn.Parameter(p.data.copy())
                opt = optim.Adam([p2], lr=0.1)
                opt.load_state_dict(saved)
                p = p2
            p.grad = np.cos(p.data)
            opt.step()
        return p.data

    np.testing.assert_array_equal(run(split=None), run(split=4))


def test_param_groups_with_their_own_options():
    a, b = nn.Parameter(np.ones(2)), nn.Parameter(np.ones(2))
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 1.0}], lr=0.1)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 1.0]
    a.grad, b.grad = np.ones(2), np.ones(2)
    opt.step()
    np.testing.assert_allclose(a.data, 0.9)
    np.testing.assert_allclose(b.data, 0.0)
    opt.zero_grad()
    assert a.grad is None and b.grad is None


@pytest.mark.parametrize("make,match", [
    (lambda p: optim.SGD(p, lr=-0.1), "Invalid learning rate"),
    (lambda p: optim.SGD(p, lr=0.1, momentum=-1), "Invalid momentum"),
    (lambda p: optim.SGD(p, lr=0.1, nesterov=True), "Nesterov"),
    (lambda p: optim.Adam(p, betas=(1.0, 0.9)), "Invalid beta"),
    (lambda p: optim.Adam(p, lr=float("nan")), "Invalid learning rate"),
    (lambda p: optim.RMSprop(p, eps=-1), "Invalid epsilon"),
    (lambda p: optim.Adagrad(p, weight_decay=-1), "Invalid weight_decay"),
    (lambda p: optim.SGD([], lr=0.1), "empty parameter list"),
    (lambda p: optim.SGD(p[0], lr=0.1), "iterable of Parameters"),
    (lambda p: optim.SGD([np.zeros(3)], lr=0.1), "only optimize Parameters"),
    (lambda p: optim.StepLR(optim.SGD(p, lr=0.1), 0), "step_size"),
    (lambda p: optim.InverseTimeLR(optim.SGD(p, lr=0.1), 0), "kappa must be positive"),
])
def test_bad_arguments(make, match):
    with pytest.raises(ValueError, match=match):
        make([nn.Parameter(np.zeros(3))])
