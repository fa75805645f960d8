"""Lecture 8 (08_transfer_learning.ipynb): its exercises as a student meets them, and the library results its
examples rest on (the regression checks that used to be asserts in the notebook's cells)."""

import numpy as np
import torch
from lecture_exercises import ROOT, exercise_tests

from coursekit.attribution import layer_outputs, occlusion_map, receptive_box, saliency_map
from coursekit.data import mnist
from coursekit.models import IMAGENET_MEAN_BGR, caffe_preprocess, vgg16, vgg16_features

LECTURE = ROOT / "lectures" / "08_transfer_learning.ipynb"

# what a student who worked the numeric exercises by hand types (the numbers of the collapsed answers)
ANSWERS = {
    "ex11-stub": "images_1_1 = 50\nper_image_1_1 = 103",
    "ex52-stub": "trainable_5_2 = 1_185_290",
}


test_student_view, test_solved, test_sabotaged = exercise_tests(LECTURE, ANSWERS, write_it_yourself=3)


# ---- the examples' numbers, re-computed from the library (nbval compares the printed ones)

def test_the_splits_and_the_pool_the_lecture_counts_on():
    pool = mnist(labels_per_class=50)
    assert (len(mnist("train")), len(mnist("test")), len(pool)) == (7001, 2999, 500)
    assert np.bincount(pool.tensors[1].numpy()).tolist() == [50] * 10


def test_the_parameter_counts_of_the_head_the_blocks_and_vgg16():
    assert sum(p.numel() for p in vgg16_features(weights="imagenet").parameters()) == 1_735_488
    with torch.device("meta"):
        assert sum(p.numel() for p in vgg16_features(weights=None, num_blocks=5).parameters()) == 14_714_688
        assert sum(p.numel() for p in vgg16().parameters()) == 138_357_544
    backbone = vgg16_features(weights="imagenet")
    assert sum(p.numel() for p in backbone[14].parameters()) == 590_080
    assert sum(p.numel() for p in backbone[12:17].parameters()) + 5_130 == 1_185_290   # exercise 5.2


def test_caffe_preprocessing_of_black_and_red():
    x = caffe_preprocess(torch.tensor([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]]).view(2, 3, 1, 1))   # black, red (RGB)
    black, red = x[0, :, 0, 0], x[1, :, 0, 0]
    assert torch.allclose(black, -torch.tensor(IMAGENET_MEAN_BGR))
    assert torch.allclose(red, torch.tensor([0.0, 0.0, 255.0]) - torch.tensor(IMAGENET_MEAN_BGR))   # red lands last


def test_the_shipped_kernel_matches_keras():
    kernel = vgg16_features(weights="imagenet")[0].weight.permute(2, 3, 1, 0)
    assert abs(kernel[0, 0, 0, 0].item() - 0.42947057) < 2e-4


def test_a_conv3_3_unit_sees_40_pixels_and_the_maps_have_the_stated_sizes():
    layers = [(3, 1, 1), (3, 1, 1), (2, 2, 0), (3, 1, 1), (3, 1, 1), (2, 2, 0), (3, 1, 1), (3, 1, 1), (3, 1, 1)]
    top, left, bottom, right = receptive_box(layers, 16, 16)
    assert (bottom - top, right - left) == (40, 40)
    maps = layer_outputs(vgg16_features(weights="imagenet"), torch.zeros(1, 3, 128, 128), [1, 15])
    assert tuple(maps[1].shape) == (1, 64, 128, 128) and tuple(maps[15].shape) == (1, 256, 32, 32)


def test_saliency_and_occlusion_of_a_channel_score_have_the_lectures_shapes():
    to_block3 = vgg16_features(weights="imagenet")[:16]
    x = caffe_preprocess(torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0)))

    def score(images):
        return to_block3(images)[:, 3].mean(dim=(1, 2))

    assert saliency_map(score, x).shape == (1, 64, 64)
    assert occlusion_map(score, x, patch=32, stride=16).shape == (1, 3, 3)
