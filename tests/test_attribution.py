"""coursekit.attribution against independent references: saliency against centred differences, occlusion against
the closed form of a linear score, receptive boxes against the pixels a unit's gradient reaches, VGG16's field sizes
against the arithmetic of Lecture 1."""

import numpy as np
import pytest
from torch_ref import torch

from coursekit.arithmetic import receptive_field
from coursekit.attribution import layer_outputs, occlusion_map, receptive_box, saliency_map, top_activations

nn = torch.nn


def small_net(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.Tanh(), nn.AvgPool2d(2), nn.Flatten(), nn.Linear(4 * 16, 2))


def test_saliency_is_the_largest_channel_gradient_by_centred_differences():
    net = small_net().double()
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)

    def score(images):
        return net(images.double())[:, 1]

    got = saliency_map(score, x)
    grad = np.zeros((2, 3, 8, 8))
    h = 1e-6
    for index in np.ndindex(*grad.shape):
        up, down = x.clone(), x.clone()
        up[index] += h
        down[index] -= h
        n = index[0]
        grad[index] = (score(up)[n] - score(down)[n]).item() / (2 * h)
    np.testing.assert_allclose(got, np.abs(grad).max(axis=1), rtol=1e-4, atol=1e-7)


def test_occlusion_of_a_linear_score_is_the_hidden_weighted_sum():
    rng = np.random.default_rng(0)
    w = torch.from_numpy(rng.standard_normal((1, 2, 7, 9)).astype(np.float32))
    x = torch.from_numpy(rng.standard_normal((3, 2, 7, 9)).astype(np.float32))

    def score(images):
        return (images * w).sum(dim=(1, 2, 3))

    got = occlusion_map(score, x, patch=3, stride=2, fill=0.5)
    assert got.shape == (3, 3, 4)
    for n in range(3):
        for a, i in enumerate(range(0, 5, 2)):
            for b, j in enumerate(range(0, 7, 2)):
                hidden = (w[0, :, i:i + 3, j:j + 3] * (x[n, :, i:i + 3, j:j + 3] - 0.5)).sum().item()
                assert got[n, a, b] == pytest.approx(hidden, abs=1e-4)


def test_occlusion_batches_give_the_same_map():
    net = small_net()
    x = torch.rand(2, 3, 8, 8)
    score = lambda images: net(images)[:, 0]  # noqa: E731
    np.testing.assert_allclose(occlusion_map(score, x, 2, 1, batch_size=5), occlusion_map(score, x, 2, 1), atol=1e-6)


def vgg_blocks():
    layers, c = [], 3
    for v in (8, 8, "M", 8, 8, "M", 8, 8, 8, "M"):
        if v == "M":
            layers.append(nn.MaxPool2d(2))
        else:
            layers += [nn.Conv2d(c, v, 3, padding=1), nn.ReLU()]
            c = v
    return nn.Sequential(*layers)


def gradient_reach(network, index, i, j, side=64):
    """The box of input pixels whose gradient from unit (i, j) of network[index]'s output is non-zero, with all
    weights positive so that nothing cancels."""
    with torch.no_grad():
        for p in network.parameters():
            p.copy_(torch.rand_like(p) + 0.1)
    x = torch.rand(1, 3, side, side, requires_grad=True)
    out = network[:index + 1](x)
    out[0, :, i, j].sum().backward()
    rows, cols = np.nonzero(x.grad[0].abs().sum(0).numpy())
    return rows.min(), cols.min(), rows.max() + 1, cols.max() + 1


@pytest.mark.parametrize("index, geometry", [(3, [(3, 1, 1)] * 2), (8, [(3, 1, 1)] * 2 + [(2, 2, 0)] + [(3, 1, 1)] * 2),
                                             (15, [(3, 1, 1)] * 2 + [(2, 2, 0)] + [(3, 1, 1)] * 2 + [(2, 2, 0)]
                                              + [(3, 1, 1)] * 3)])
def test_receptive_box_is_where_the_gradient_reaches(index, geometry):
    network = vgg_blocks()
    side = 64
    stride = int(np.prod([s for _, s, _ in geometry]))
    for i, j in [(0, 0), (3, 5), (side // stride - 1, 2)]:
        top, left, bottom, right = receptive_box(geometry, i, j)
        expected = (max(top, 0), max(left, 0), min(bottom, side), min(right, side))
        assert gradient_reach(network, index, i, j, side) == expected


def test_vgg16_block_3_units_see_40_pixels_and_their_size_matches_receptive_field():
    conv3_3 = [(3, 1, 1)] * 2 + [(2, 2, 0)] + [(3, 1, 1)] * 2 + [(2, 2, 0)] + [(3, 1, 1)] * 3
    top, left, bottom, right = receptive_box(conv3_3, 10, 4)
    assert bottom - top == right - left == 40 == receptive_field([(k, s, 1) for k, s, _ in conv3_3])
    assert (top + bottom - 1) / 2 == 10 * 4 + 1.5    # centred on the 4 x 4 input block the unit stands for


def test_layer_outputs_are_the_outputs_of_a_plain_forward_pass():
    network = vgg_blocks()
    x = torch.rand(2, 3, 16, 16)
    got = layer_outputs(network, x, [1, 4])
    with torch.no_grad():
        assert torch.equal(got[1], network[:2](x)) and torch.equal(got[4], network[:5](x))
    with pytest.raises(ValueError, match="indices"):
        layer_outputs(network, x, [len(network)])


def test_top_activations_take_the_strongest_image_maxima():
    maps = torch.zeros(4, 2, 3, 3)
    maps[0, 1, 2, 1], maps[2, 1, 0, 2], maps[2, 1, 1, 1], maps[3, 1, 1, 0] = 5.0, 7.0, 6.0, 1.0
    assert top_activations(maps, 1, 2) == [(2, 0, 2, 7.0), (0, 2, 1, 5.0)]


@pytest.mark.parametrize("call, message", [
    (lambda: saliency_map(lambda x: x.sum(), torch.zeros(2, 1, 4, 4)), "one score per image"),
    (lambda: saliency_map(lambda x: x.sum((1, 2, 3)), torch.zeros(1, 4, 4)), "images must have shape"),
    (lambda: occlusion_map(lambda x: x.sum((1, 2, 3)), torch.zeros(1, 1, 4, 4), 5), "patch must be"),
    (lambda: receptive_box([(3, 0, 1)], 0, 0), "stride >= 1"),
    (lambda: top_activations(torch.zeros(1, 2, 3, 3), 2, 1), "channel"),
])
def test_bad_input_is_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_occlusion_of_a_network_matches_a_direct_loop():
    net = small_net(1)
    x = torch.rand(2, 3, 8, 8)

    def score(images):
        return net(images)[:, 1]

    got = occlusion_map(score, x, patch=3, stride=2, fill=0.25)
    with torch.no_grad():
        for n in range(2):
            base = score(x[n:n + 1])[0].item()
            for a, i in enumerate(range(0, 6, 2)):
                for b, j in enumerate(range(0, 6, 2)):
                    hidden = x[n:n + 1].clone()
                    hidden[:, :, i:i + 3, j:j + 3] = 0.25
                    assert got[n, a, b] == pytest.approx(base - score(hidden)[0].item(), abs=1e-5)
