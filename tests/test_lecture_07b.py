"""Lecture 7b (07b_debugging.ipynb): its exercises as a student meets them, and the library results its examples
rest on (the regression checks that used to be asserts in the notebook's cells)."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from lecture_exercises import ROOT, exercise_tests

from coursekit.data.keypoints import KEYPOINT_NAMES, SyntheticFaceKeypoints, hflip_keypoints

LECTURE = ROOT / "lectures" / "07b_debugging.ipynb"

# what a student who worked the numeric exercises by hand types (the numbers of the collapsed answers)
ANSWERS = {
    "ex1-stub": "initial_loss_1000 = 6.908",
    "ex5-stub": "mse_factor_5 = 2304",
}


test_student_view, test_solved, test_sabotaged = exercise_tests(LECTURE, ANSWERS, write_it_yourself=2)


# ---- the examples' numbers, re-computed from the library and torch (nbval compares the printed ones)

def test_a_uniform_classifier_starts_at_ln_c():
    for classes in (10, 1000):
        loss = F.cross_entropy(torch.zeros(4, classes), torch.arange(4)).item()
        assert loss == pytest.approx(math.log(classes), rel=1e-6)
    assert round(math.log(1000), 2) == 6.91


def test_a_scaled_orthogonal_chain_scales_the_gradient_by_a_to_the_depth_minus_one():
    torch.manual_seed(0)
    for a in (0.8, 1.2):
        weights = [a * torch.linalg.qr(torch.randn(16, 16, dtype=torch.float64))[0] for _ in range(30)]
        grad = torch.randn(16, dtype=torch.float64)
        start = grad.norm()
        for w in weights[1:]:
            grad = w.T @ grad
        assert (grad.norm() / start).item() == pytest.approx(a ** 29, rel=1e-9)


def test_torch_clips_the_total_norm_the_way_the_exercise_says():
    g = np.random.default_rng(0)
    grads = [100 * g.standard_normal((3, 4)), 100 * g.standard_normal(5)]
    params = [torch.nn.Parameter(torch.zeros(x.shape, dtype=torch.float64)) for x in grads]
    for p, x in zip(params, grads):
        p.grad = torch.tensor(x)
    total = torch.nn.utils.clip_grad_norm_(params, 1.0).item()
    expected = math.sqrt(sum((x ** 2).sum() for x in grads))
    assert total == pytest.approx(expected)
    for p, x in zip(params, grads):
        np.testing.assert_allclose(p.grad.numpy(), x / (expected + 1e-6), rtol=1e-12)


def test_the_correct_flip_keeps_the_left_eye_on_the_left_and_the_naive_one_does_not():
    image, keypoints = SyntheticFaceKeypoints(1, seed=0)[0]
    left, right = KEYPOINT_NAMES.index("left_eye_center"), KEYPOINT_NAMES.index("right_eye_center")
    assert keypoints[2 * left] < keypoints[2 * right]
    flipped_image, flipped = hflip_keypoints(image, keypoints)
    assert torch.equal(flipped_image, image.flip(-1))
    assert flipped[2 * left] < flipped[2 * right]
    assert flipped[2 * left] == -keypoints[2 * right] and flipped[2 * left + 1] == keypoints[2 * right + 1]
    _, naive = hflip_keypoints(image, keypoints, swap=False)
    assert naive[2 * left] > naive[2 * right]
    _, back = hflip_keypoints(flipped_image, flipped)
    assert torch.equal(back, keypoints)
