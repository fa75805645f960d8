"""Lecture 5 (05_unet_segmentation.ipynb): its exercises as a student meets them, and the library results its
examples rest on (the regression checks that used to be asserts in the notebook's cells)."""

import numpy as np
import torch
from lecture_exercises import ROOT, exercise_tests

from coursekit.arithmetic import conv_transpose_output_size, summary
from coursekit.metrics import dice_score
from coursekit.models import UNet
from coursekit.nn import functional as F

LECTURE = ROOT / "lectures" / "05_unet_segmentation.ipynb"

# what a student who worked the numeric exercises by hand types (the numbers of the collapsed answers)
ANSWERS = {
    "ex11-stub": "outputs_1_1 = 196_608",
    "c10": "up_params_2_1 = 2_097_664",
    "c16": "output_3_1 = 324\noutput_3_2 = 64\ndivisor_3_2 = 16",
    "c20": "concat_weights_4_2 = 1_179_648\nadded_weights_4_2 = 589_824",
    "c28": "side_5_1 = 8",
    "c32": "head_params_6_1 = 130\nfree_params_6_1 = 65",
    "c38": "dice_7_3 = 0.889",
    "c46": "loss_at_init_9_1 = 1.36",
}


test_student_view, test_solved, test_sabotaged = exercise_tests(LECTURE, ANSWERS, write_it_yourself=3)


# ---- the examples' numbers, re-computed from the library (nbval compares the printed ones)

def test_an_up_convolution_of_kernel_and_stride_2_doubles_the_side():
    assert conv_transpose_output_size(28, 2, stride=2) == 56


def test_the_paper_unet_decoder_convolution_and_head_parameters():
    with torch.device("meta"):
        paper = UNet(in_channels=1, out_channels=2, base_channels=64, depth=4, padding="valid")
    rows = {r.layer: r.params for r in summary(paper, (1, 572, 572)).rows}
    assert rows["decoder.1.conv.block.0"] == 3 * 3 * 512 * 256 + 256 and rows["head"] == 2 * (64 + 1)
    assert rows["decoder.0.up"] == 1024 * 512 * 2 * 2 + 512


def test_a_shared_constant_on_both_channels_changes_neither_loss_nor_prediction():
    g = np.random.default_rng(0)
    scores, labels = g.normal(size=(2, 2, 8, 8)), g.integers(0, 2, size=(2, 8, 8))
    assert abs(F.softmax_cross_entropy(scores + 3.0, labels)[0] - F.softmax_cross_entropy(scores, labels)[0]) < 1e-12
    assert np.array_equal((scores + 3.0).argmax(1), scores.argmax(1))


def test_soft_dice_of_a_confident_empty_prediction_on_an_empty_mask_is_zero():
    # Exercise 7.4's point: eps makes 0/0 into 1, loss 0
    assert F.dice_loss(np.full((4, 4), -20.0), np.zeros((4, 4)))[0] < 1e-6
    assert dice_score(np.zeros((3, 3), dtype=int), np.zeros((3, 3), dtype=int)) == 1.0
