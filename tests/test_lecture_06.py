"""Lecture 6 (06_architectures.ipynb): its exercises as a student meets them, and the library results its examples
rest on (the regression checks that used to be asserts in the notebook's cells)."""

import math

import numpy as np
import torch
from lecture_exercises import ROOT, exercise_tests

from coursekit import detection
from coursekit.arithmetic import conv_macs, conv_params, summary
from coursekit.data import mnist
from coursekit.models import LeNet5, ResidualBlock, vgg16, vgg19, vgg_small
from coursekit.models.classic import alexnet, densenet121, densenet_small, resnet50, resnet_small

LECTURE = ROOT / "lectures" / "06_architectures.ipynb"

# what a student who worked the numeric exercises by hand types (the numbers of the collapsed answers)
ANSWERS = {
    "ex21-stub": "params_2_1 = 3088\nmacs_2_1 = 2_408_448",
    "ex31-stub": "receptive_field_3_1 = 11\nweights_stack_3_1 = 184_320\nweights_one_3_1 = 495_616",
    "ex41-stub": "gib_4_1 = 3.63\nweights_4_2 = 411_041_792",
    "ex51-stub": "params_5_1 = 70_400",
    "ex61-stub": "default_var_6_1 = 0.0023\nhe_var_6_1 = 0.0139",
    "ex71-stub": "channels_7_1 = 256\ntransition_channels_7_1 = 128\ntransition_side_7_1 = 28",
    "ex81-stub": "factor_8_1 = 4.6",
}


test_student_view, test_solved, test_sabotaged = exercise_tests(LECTURE, ANSWERS, write_it_yourself=2)


# ---- the examples' numbers, re-computed from the library (nbval compares the printed ones)

def test_lenet5_has_the_tables_parameters_and_multiply_adds():
    s = summary(LeNet5(), (1, 28, 28))
    assert [r.params for r in s.rows if r.params] == [156, 2416, 48120, 10164, 850]
    assert s.total_params == 61_706 and s.total_macs == 416_520


def test_the_big_networks_costs():
    with torch.device("meta"):
        models = {"AlexNet": alexnet(), "VGG16": vgg16(), "VGG19": vgg19(), "ResNet-50": resnet50(),
                  "DenseNet-121": densenet121()}
    costs = {name: summary(m, (3, 224, 224)) for name, m in models.items()}
    alex = costs["AlexNet"]
    assert alex.total_params == 61_100_840 and abs(alex.share("params", "Linear") - 0.96) < 0.005
    assert costs["VGG16"].total_params == 138_357_544 and costs["VGG16"].total_weights == 138_344_128
    assert costs["VGG19"].total_params == 143_667_240
    assert costs["ResNet-50"].total_params == 25_557_032 and abs(costs["ResNet-50"].total_macs / 1e9 - 4.1) < 0.05
    assert costs["DenseNet-121"].total_params == 7_978_856
    vgg_rows = [r for r in costs["VGG16"].rows if r.kind in ("Input", "Conv2d", "MaxPool2d", "Linear")]
    assert sum(r.neurons for r in vgg_rows) == 15_237_608


def test_the_exercises_numbers():
    assert conv_params(192, 16, 1) == 3088 and conv_macs(192, 16, 1, 28) == 2_408_448
    assert 5 * conv_params(64, 64, 3, bias=False) == 184_320 and conv_params(64, 64, 11, bias=False) == 495_616
    assert abs(15_237_608 * 32 * 8 / 2**30 - 3.63) < 0.005 and 14 * 14 * 512 * 4096 == 411_041_792
    assert sum(p.numel() for p in ResidualBlock(256, 256, bottleneck=True).parameters()) == 70_400
    assert abs(16.4 / 3.57 - 4.6) < 0.05 and abs(math.log(1000) - 6.9) < 0.01


def test_the_default_conv_init_has_variance_one_over_three_fan_in():
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(16, 16, 3)
    assert abs(conv.weight.var().item() - 1 / 432) < 0.0003


def test_the_four_trained_networks_parameters_and_the_digit_split():
    counts = {name: sum(p.numel() for p in build().parameters()) for name, build in
              {"LeNet-5": LeNet5, "VGG-style": lambda: vgg_small(dropout=0.0), "ResNet": resnet_small,
               "DenseNet-style": densenet_small}.items()}
    assert counts == {"LeNet-5": 61_706, "VGG-style": 122_938, "ResNet": 77_754, "DenseNet-style": 40_250}
    assert len(mnist("train")) == 7001 and len(mnist("test")) == 2999


def test_the_yolo_example_decodes_and_suppresses_as_the_lecture_says():
    # one object seen by three boxes of cells (1, 1) and (1, 2); the best-scoring box survives NMS
    output = np.zeros((4, 4, 12))
    output[1, 1, :5], output[1, 1, 5:10], output[1, 1, 10:] = (0.6, 0.5, 0.35, 0.4, 0.9), (0.4, 0.7, 0.3, 0.45, 0.6), \
        (0.9, 0.1)
    boxes, scores = detection.yolo_decode(output, num_boxes=2, image_size=128)
    assert boxes.shape == (32, 4) and scores.shape == (32, 2)
    assert np.allclose(boxes[10], [(1.6 / 4 - 0.175) * 128, (1.5 / 4 - 0.2) * 128, (1.6 / 4 + 0.175) * 128,
                                   (1.5 / 4 + 0.2) * 128])
    best = scores.max(axis=1)
    assert detection.nms(boxes, best, 0.5).tolist()[0] == 10
