"""Lectures 5 and 6's networks: parameter counts pinned to the published / torchvision ones, shapes, the depth
experiments' builders and the initialisation facts the lecture states."""

import math

import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

from coursekit.arithmetic import summary  # noqa: E402
from coursekit.models.classic import (  # noqa: E402
    Inception,
    Transition,
    alexnet,
    conv_gradient_norms,
    densenet121,
    fit_steps,
    plain_net,
    residual_net,
    resnet50,
)
from coursekit.models.segmentation import FCN8s, SegNet  # noqa: E402


def n_params(model):
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("build, expected", [
    (alexnet, 61_100_840),       # torchvision.models.alexnet
    (resnet50, 25_557_032),      # torchvision.models.resnet50
    (densenet121, 7_978_856),    # torchvision.models.densenet121
    (lambda: FCN8s(21), 134_489_759),
    (lambda: SegNet(3, 12), 29_486_988),   # "29.5M" in Badrinarayanan et al., Table 6
])
def test_parameter_counts_match_the_reference_implementations(build, expected):
    with torch.device("meta"):
        assert n_params(build()) == expected


def test_costs_from_shapes_match_the_published_multiply_adds():
    with torch.device("meta"):
        models = {"alexnet": alexnet(), "resnet50": resnet50(), "densenet121": densenet121()}
    gmacs = {name: summary(m, (3, 224, 224)).total_macs / 1e9 for name, m in models.items()}
    # torchvision's model table: 0.71, 4.09, 2.83 GFLOPS (it counts multiply-adds)
    assert gmacs["alexnet"] == pytest.approx(0.71, abs=0.01)
    assert gmacs["resnet50"] == pytest.approx(4.09, abs=0.01)
    assert gmacs["densenet121"] == pytest.approx(2.83, abs=0.01)


def test_segmentation_networks_return_full_resolution_scores_and_reject_bad_sizes():
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert SegNet(3, 5)(x).shape == (1, 5, 64, 64)
    with torch.device("meta"):
        assert FCN8s(4)(torch.empty(1, 3, 224, 224, device="meta")).shape == (1, 4, 224, 224)
    with pytest.raises(ValueError, match="multiples of 32"):
        SegNet(3, 2)(torch.zeros(1, 3, 40, 40))


def test_segnet_unpools_each_value_back_to_where_its_maximum_was():
    pool, unpool = nn.MaxPool2d(2, return_indices=True), nn.MaxUnpool2d(2)
    x = torch.tensor([[[[1., 5., 0., 0.], [2., 3., 0., 7.], [0., 0., 0., 0.], [4., 0., 0., 1.]]]])
    y, where = pool(x)
    back = unpool(y, where)
    assert torch.equal(back, torch.where(back != 0, x, torch.zeros_like(x)))
    assert back.count_nonzero() == 4


def test_inception_channels_and_the_saving_of_its_reductions():
    reduced, naive = Inception(192, 64, 96, 128, 16, 32, 32), Inception(192, 64, 96, 128, 16, 32, 32, reduce=False)
    x = torch.zeros(1, 192, 28, 28)
    assert reduced(x).shape == (1, 256, 28, 28) and naive(x).shape == (1, 416, 28, 28)
    assert n_params(reduced) == 163_696 and n_params(naive) == 387_296   # counted by hand, branch by branch


def test_transition_halves_channels_and_size():
    assert Transition(256, 128)(torch.zeros(2, 256, 56, 56)).shape == (2, 128, 28, 28)


def test_plain_and_residual_nets_have_the_requested_number_of_convolutions_and_pools():
    for depth, stages in ((6, 3), (31, 3), (11, 1)):
        plain = plain_net(depth, stages=stages)
        assert sum(isinstance(m, nn.Conv2d) for m in plain.modules()) == depth
        assert sum(isinstance(m, nn.MaxPool2d) for m in plain.modules()) == stages - 1
        residual = residual_net(depth, stages=stages)
        convs = [m for m in residual.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)]
        assert len(convs) == (depth if depth % 2 else depth - 1)   # 1 + 2 per block: odd depths exactly
        assert plain(torch.zeros(2, 1, 16, 16)).shape == residual(torch.zeros(2, 1, 16, 16)).shape == (2, 5)
    with pytest.raises(ValueError, match="init"):
        plain_net(5, init="xavier")


def test_default_init_has_variance_one_third_of_he_over_two_and_vanishes_with_depth():
    torch.manual_seed(0)
    default, he = plain_net(30, channels=32), plain_net(30, channels=32, init="he")
    n_in = 32 * 9
    assert default[2].weight.var().item() == pytest.approx(1 / (3 * n_in), rel=0.05)
    assert he[2].weight.var().item() == pytest.approx(2 / n_in, rel=0.05)
    x, y = torch.randn(16, 1, 16, 16), torch.randint(0, 5, (16,))
    g_default, g_he = conv_gradient_norms(default, x, y), conv_gradient_norms(he, x, y)
    assert len(g_default) == 30
    per_layer = (g_default[0] / g_default[-1]) ** (1 / 29)
    assert per_layer == pytest.approx(1 / math.sqrt(6), abs=0.06)   # the size factor the lecture derives
    assert g_he[0] / g_he[-1] > 1e-2
    assert all(p.grad is None or not p.grad.any() for p in default.parameters())   # left clean


def test_fit_steps_lowers_the_loss_of_a_small_net_and_validates_its_input():
    torch.manual_seed(0)
    x = torch.randn(64, 1, 8, 8)
    y = (x.mean(dim=(1, 2, 3)) > 0).long()
    losses = fit_steps(plain_net(2, channels=8, num_classes=2), x, y, steps=60, batch_size=32, lr=1e-2)
    assert len(losses) == 60 and sum(losses[-10:]) / 10 < 0.8 * sum(losses[:10]) / 10
    with pytest.raises(ValueError, match="labels"):
        fit_steps(plain_net(2), x, y[:10])
