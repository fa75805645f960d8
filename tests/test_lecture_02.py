"""Lecture 2 (02_layers.ipynb): its exercises as a student meets them, and the library results its examples rest on
(the regression checks that used to be asserts in the notebook's cells)."""

import numpy as np
from lecture_exercises import ROOT, exercise_tests
from torch_ref import torch

import coursekit.nn as nn
from coursekit import arithmetic, variants
from coursekit.nn import functional as F

LECTURE = ROOT / "lectures" / "02_layers.ipynb"

# what a student who worked the numeric exercises by hand types (the numbers of the collapsed answers)
ANSWERS = {
    "674c9514": "input_shape_2_1 = (3, 256, 256)\ninputs_per_scan = 38",
    "6ef8668a": "x_of_largest_slope = 0\nlargest_slope = 0.25",
    "9ac21b81": "second_slice_top_left = 3.25",
    "586eaa2b": "pooling_layers_7_1 = 5",
    "6b8133e3": "spp_length_8_2 = 5376\ngap_length_8_2 = 256",
    "b3b01e8f": "vgg_fc_params = 123_642_856\nshare_of_vgg16 = 0.89",
    "2b77ec9d": "score_map_side_10_1 = 6",
    "6a54bd26": "scale_12_1 = 1.25",
    "a467729b": "N_13_1 = 1\nM_13_1 = 2\nK_13_1 = 2",
}


test_student_view, test_solved, test_sabotaged = exercise_tests(LECTURE, ANSWERS, write_it_yourself=3)


# ---- the examples' numbers, re-computed from the library (nbval compares the printed ones)

def test_mlp_and_vgg_weight_counts():
    assert 200 * 200 * 3 * 1000 == 120_000_000
    assert sum(p.data.size for p in nn.Linear(7 * 7 * 512, 4096).parameters()) == 102_760_448 + 4096


def test_a_3d_convolution_keeps_a_ct_volumes_shape_with_padding_1():
    out = torch.nn.Conv3d(1, 8, 3, padding=1)(torch.zeros(2, 1, 32, 64, 64))
    assert tuple(out.shape) == (2, 8, 32, 64, 64)


def test_sigmoid_slopes_quoted_in_section_5():
    at = np.array([0.0, 2.0, 5.0, 10.0])
    out, cache = F.sigmoid_forward(at)
    np.testing.assert_allclose(F.sigmoid_backward(np.ones(4), cache), [0.25, 0.105, 0.0066, 4.5e-5], rtol=0.01)


def test_the_small_cnn_of_section_13_has_the_counted_parameters():
    layers, c = [], 3
    for _ in range(2):
        for _ in range(2):
            layers += [nn.Conv2d(c, 16, 3, padding=1), nn.ReLU()]
            c = 16
        layers.append(nn.MaxPool2d(2))
    model = nn.Sequential(*layers, nn.Flatten(), nn.Linear(16 * 8 * 8, 64), nn.ReLU(), nn.Linear(64, 10))
    report = arithmetic.summary(model, (3, 32, 32))
    convs = arithmetic.conv_params(3, 16, 3) + 3 * arithmetic.conv_params(16, 16, 3)
    assert report.total_params == convs + (16 * 8 * 8 * 64 + 64) + (64 * 10 + 10)
    assert report.rows[-1].output_shape == (10,)


def test_roi_example_of_section_8():
    pooled = variants.roi_max_pool(np.arange(64.0).reshape(1, 8, 8), [[0, 0, 3, 3], [2, 4, 7, 7]], 2)
    assert pooled[:, 0].astype(int).tolist() == [[[9, 11], [25, 27]], [[44, 47], [60, 63]]]


def test_normalisation_layers_against_torch():
    acts = np.random.default_rng(0).standard_normal((4, 6, 5, 5)) * 3 + 2
    t = torch.from_numpy(acts)
    np.testing.assert_allclose(variants.group_norm(acts, 3), torch.nn.functional.group_norm(t, 3).numpy(), atol=1e-10)
    np.testing.assert_allclose(variants.group_norm(acts, 1),
                               torch.nn.functional.layer_norm(t, acts.shape[1:]).numpy(), atol=1e-10)
