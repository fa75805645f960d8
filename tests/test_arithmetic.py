"""Convolution arithmetic against the shapes torch produces, and the slides' worked numbers."""

import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import conv_settings, pool_settings
from torch_ref import torch

import coursekit.nn as nn
from coursekit.arithmetic import (
    conv_macs,
    conv_output_size,
    conv_params,
    conv_transpose_output_size,
    pool_output_size,
    receptive_field,
    summary,
)

TF = torch.nn.functional


@given(conv_settings())
def test_conv_output_size_matches_torch(s):
    x = torch.empty(1, 1, s["h"], s["w"])
    w = torch.empty(1, 1, *s["kernel"])
    shape = TF.conv2d(x, w, None, s["stride"], s["padding"], s["dilation"]).shape[2:]
    assert conv_output_size((s["h"], s["w"]), s["kernel"], s["stride"], s["padding"], s["dilation"]) == tuple(shape)
    assert conv_output_size(s["h"], s["kernel"][0], s["stride"][0], s["padding"][0], s["dilation"][0]) == shape[0]


@given(conv_settings(transposed=True))
def test_conv_transpose_output_size_matches_torch(s):
    x = torch.empty(1, 1, s["h"], s["w"])
    w = torch.empty(1, 1, *s["kernel"])
    shape = TF.conv_transpose2d(x, w, None, s["stride"], s["padding"], s["output_padding"], 1, s["dilation"]).shape
    assert conv_transpose_output_size((s["h"], s["w"]), s["kernel"], s["stride"], s["padding"], s["output_padding"],
                                      s["dilation"]) == tuple(shape[2:])


@given(pool_settings())
def test_pool_output_size_matches_torch(s):
    x = torch.randn(1, 1, s["h"], s["w"])
    shape = TF.max_pool2d(x, s["kernel"], s["stride"], s["padding"], s["dilation"], ceil_mode=s["ceil_mode"]).shape
    got = pool_output_size((s["h"], s["w"]), s["kernel"], s["stride"], s["padding"], s["dilation"], s["ceil_mode"])
    assert got == tuple(shape[2:])


@given(c_in=st.integers(1, 64), c_out=st.integers(1, 64), k=st.integers(1, 7), bias=st.booleans())
def test_conv_params_matches_torch(c_in, c_out, k, bias):
    layer = torch.nn.Conv2d(c_in, c_out, k, bias=bias, device="meta")
    assert conv_params(c_in, c_out, k, bias) == sum(p.numel() for p in layer.parameters())


def test_slide_formula_examples():
    assert conv_output_size(5, 3, stride=2, padding=1) == 3            # the 5x5x3 worked example
    assert conv_output_size(32, 5) == 28                                # LeNet's first layer
    assert conv_output_size(224, 3, padding=1) == 224                   # VGG keeps the size
    assert pool_output_size(224, 2) == 112
    assert conv_transpose_output_size(2, 3, stride=2, padding=1, output_padding=1) == 4
    assert conv_output_size(572, 3) == 570                              # UNet's unpadded convolutions


def test_receptive_field_of_dilated_stacks_and_strides():
    assert [receptive_field([(3, 1, d) for d in (1, 2, 4)][:n]) for n in (1, 2, 3)] == [3, 7, 15]
    assert receptive_field([(3, 1, 1)] * 3) == 7                        # three 3x3 convs see a 7x7 patch
    assert receptive_field([(3, 1, 1), (2, 2, 1), (3, 1, 1)]) == 8      # 3, then 4, then +2 per tap after the pool


def test_receptive_field_matches_gradient_footprint():
    # the input pixels that influence one output value are exactly the receptive field
    layers = [(3, 1, 1), (3, 2, 1), (3, 1, 2)]
    x = torch.zeros(1, 1, 40, 40, requires_grad=True)
    y = x
    for k, s, d in layers:
        y = TF.conv2d(y, torch.ones(1, 1, k, k), None, s, 0, d)
    y[0, 0, 2, 2].backward()
    rows = torch.nonzero(x.grad[0, 0].sum(1)).flatten()
    assert rows.max() - rows.min() + 1 == receptive_field(layers)


def test_bad_arithmetic_input():
    with pytest.raises(ValueError, match="n must be >= 1"):
        conv_output_size(-3, 3)
    with pytest.raises(ValueError, match="stride must be >= 1"):
        conv_output_size(8, 3, stride=0)
    with pytest.raises(ValueError, match="larger than the padded input"):
        conv_output_size(4, 7, padding=1)
    with pytest.raises(ValueError, match="kernel_size, stride, dilation"):
        receptive_field([(3, 1)])
    with pytest.raises(ValueError, match="output_padding must be smaller"):
        conv_transpose_output_size(4, 3, stride=1, output_padding=1)


def test_gray_512_example_from_the_slides():
    """4 gray 512x512 images, conv 1->64 then 64->128 (3x3, pad 1): 74,304 weights and about 770 MB."""
    model = nn.Sequential(nn.Conv2d(1, 64, 3, padding=1, bias=False), nn.Conv2d(64, 128, 3, padding=1, bias=False))
    s = summary(model, (1, 512, 512), batch_size=4)
    assert s.total_params == s.total_weights == 64 * 3 * 3 + 128 * 64 * 3 * 3 == 74_304
    assert s.total_activation_bytes == 4 * 512 * 512 * (1 + 64 + 128) * 4
    assert round(s.total_activation_bytes / 2**20) == 772  # the slide's "202M x 4 bytes ~ 770MB"
    assert "74,304" in str(s)


def _vgg16_torch(device="meta"):
    cfg = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
    layers, c = [], 3
    for v in cfg:
        if v == "M":
            layers.append(torch.nn.MaxPool2d(2, 2))
        else:
            layers += [torch.nn.Conv2d(c, v, 3, padding=1, device=device), torch.nn.ReLU(inplace=True)]
            c = v
    return torch.nn.Sequential(*layers, torch.nn.Flatten(), torch.nn.Linear(512 * 7 * 7, 4096, device=device),
                               torch.nn.ReLU(), torch.nn.Linear(4096, 4096, device=device), torch.nn.ReLU(),
                               torch.nn.Linear(4096, 1000, device=device))


# The slides' VGG16 table: (C, H, W) and weights (no biases) of every conv, pool and FC layer.
VGG16_TABLE = [
    ((64, 224, 224), 1_728), ((64, 224, 224), 36_864), ((64, 112, 112), 0),
    ((128, 112, 112), 73_728), ((128, 112, 112), 147_456), ((128, 56, 56), 0),
    ((256, 56, 56), 294_912), ((256, 56, 56), 589_824), ((256, 56, 56), 589_824), ((256, 28, 28), 0),
    ((512, 28, 28), 1_179_648), ((512, 28, 28), 2_359_296), ((512, 28, 28), 2_359_296), ((512, 14, 14), 0),
    ((512, 14, 14), 2_359_296), ((512, 14, 14), 2_359_296), ((512, 14, 14), 2_359_296), ((512, 7, 7), 0),
    ((4096,), 102_760_448), ((4096,), 16_777_216), ((1000,), 4_096_000),
]


def _check_vgg16_summary(s):
    rows = [r for r in s.rows if r.kind in ("Conv2d", "MaxPool2d", "Linear")]
    assert [(r.output_shape, r.weights) for r in rows] == VGG16_TABLE
    assert s.rows[0].neurons == 150_528                                   # "224 x 224 x 3 = 150K"
    assert rows[0].neurons == 3_211_264                                    # "3.2M"
    assert s.total_weights == 138_344_128 and s.total_params == 138_357_544  # "138M parameters"
    # where the memory goes and where the parameters are: early convs vs the fully connected layers
    assert s.share("params", "Linear") > 0.89
    conv_rows = [r for r in s.rows if r.kind == "Conv2d"]
    early = sum(r.activation_bytes for r in conv_rows[:4])
    assert early / sum(r.activation_bytes for r in conv_rows) > 0.5
    # the slides' table: 15,237,608 values (input, convs, pools, FCs; each ReLU runs in place), ~58 MiB in float32
    assert sum(r.neurons for r in rows) + s.rows[0].neurons == 15_237_608
    assert s.total_activation_bytes == 15_237_608 * 4
    assert round(s.total_activation_bytes / 2**20) == 58
    assert round(s.share("activation_bytes", "Conv2d"), 3) == 0.889
    assert all(r.activation_bytes == 0 for r in s.rows if r.kind in ("ReLU", "Flatten"))


def test_vgg16_table_from_a_torch_model():
    _check_vgg16_summary(summary(_vgg16_torch(), (3, 224, 224)))


@pytest.mark.slow
def test_vgg16_table_from_a_coursekit_model():
    layers, c = [], 3
    for v in [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(c, v, 3, padding=1), nn.ReLU()]
            c = v
    model = nn.Sequential(*layers, nn.Flatten(), nn.Linear(512 * 7 * 7, 4096), nn.ReLU(), nn.Linear(4096, 4096),
                          nn.ReLU(), nn.Linear(4096, 1000))
    _check_vgg16_summary(summary(model, (3, 224, 224)))


def test_summary_agrees_between_coursekit_and_torch_models():
    ours = nn.Sequential(nn.Conv2d(3, 8, 5, stride=2, padding=2), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
                         nn.ConvTranspose2d(8, 4, 3, stride=2, padding=1, output_padding=1), nn.AvgPool2d(2),
                         nn.Flatten(), nn.Linear(4 * 16 * 16, 10))
    theirs = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 5, stride=2, padding=2), torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
        torch.nn.MaxPool2d(2), torch.nn.ConvTranspose2d(8, 4, 3, stride=2, padding=1, output_padding=1),
        torch.nn.AvgPool2d(2), torch.nn.Flatten(), torch.nn.Linear(4 * 16 * 16, 10))
    a, b = summary(ours, (3, 64, 64), batch_size=8), summary(theirs, (3, 64, 64), batch_size=8)
    assert [(r.output_shape, r.params, r.macs, r.activation_bytes) for r in a.rows] == \
        [(r.output_shape, r.params, r.macs, r.activation_bytes) for r in b.rows]
    # the shapes are the ones a real forward pass produces
    assert tuple(theirs(torch.zeros(8, 3, 64, 64)).shape[1:]) == a.rows[-1].output_shape
    assert a.rows[1].macs == conv_macs(3, 8, 5, (32, 32))


def test_summary_of_a_torch_model_with_skip_connections():
    class Block(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(4, 4, 3, padding=1)

        def forward(self, x):
            return torch.cat([x, self.conv(x)], dim=1)

    s = summary(torch.nn.Sequential(Block(), torch.nn.Conv2d(8, 2, 1)), (4, 16, 16))
    assert [r.output_shape for r in s.rows] == [(4, 16, 16), (4, 16, 16), (2, 16, 16)]
    assert s.total_params == 4 * 4 * 9 + 4 + 8 * 2 + 2


def test_summary_rejects_mismatched_input():
    with pytest.raises(ValueError, match="expects"):
        summary(nn.Sequential(nn.Conv2d(3, 8, 3)), (1, 32, 32))
