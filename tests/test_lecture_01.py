"""Lecture 1 (01_convolution.ipynb): its exercises as a student meets them, and the library results its examples rest
on (the regression checks that used to be asserts in the notebook's cells)."""

import numpy as np
from lecture_exercises import ROOT, exercise_tests

from coursekit import arithmetic, variants
from coursekit.nn import functional as F

LECTURE = ROOT / "lectures" / "01_convolution.ipynb"

# what a student who worked the numeric exercises by hand types (the numbers of the collapsed answers)
ANSWERS = {
    "5acc5252": "weights_per_filter = 150\nactivation_maps = 10",
    "d8b44155": "top_left_stride_2 = 17",
    "6f3a9ecf": "conv1_params = 1792\nfc_weights = 4.8e11",
    "2f57703d": "padding_5_1 = 3\nfewest_columns_5_2 = 1",
    "a7485a12": "field_8_1 = 31",
    "4812ec5c": "largest_saving_10_1 = 9",
    "ed64d0df": "direct_millions = 160.6\nwith_reduction_millions = 13.2",
    "418dac2b": "im2col_entries_millions = 28.9\ntimes_the_input = 9",
    "51b81fc6": "C_13_2 = [[1, -1, 0, 0], [0, 1, -1, 0], [0, 0, 1, -1]]\nCT_times_abc = [1, 9, 90, -100]",
    "53e7239f": "output_padding_14_1 = 1",
    "d76eda1f": "memory_gib_15_1 = 6.0",
}


test_student_view, test_solved, test_sabotaged = exercise_tests(LECTURE, ANSWERS, write_it_yourself=4)


# ---- the examples' numbers, re-computed from the library (nbval compares the printed ones)

def test_parameter_counts_of_section_4():
    assert arithmetic.conv_params(3, 16, 3) == 448
    assert (3 * 32 * 32) * (16 * 32 * 32) + 16 * 32 * 32 == 50_348_032
    assert arithmetic.conv_params(3, 64, 3) == 1_792


def test_numpy_convolve_is_correlate_with_the_kernel_flipped():
    signal, kernel = np.array([1.0, 2, 0, -1, 3]), np.array([1.0, 2, 3])
    assert np.array_equal(np.convolve(signal, kernel, "valid"), np.correlate(signal, kernel[::-1], "valid"))


def test_the_slides_sparse_matrix_and_the_transposed_example():
    c = variants.conv_matrix(np.array([[1.0, 2.0], [2.0, 1.0]]), 3)
    assert c.astype(int).tolist() == [[1, 2, 0, 2, 1, 0, 0, 0, 0], [0, 1, 2, 0, 2, 1, 0, 0, 0],
                                      [0, 0, 0, 1, 2, 0, 2, 1, 0], [0, 0, 0, 0, 1, 2, 0, 2, 1]]
    assert (c.T @ np.array([1.0, 2, 2, 4])).reshape(3, 3).astype(int).tolist() == [[1, 4, 4], [4, 13, 10], [4, 10, 4]]


def test_the_worked_example_stride_2_map():
    x = np.zeros((1, 3, 5, 5))
    x[0, 0] = np.arange(1, 26).reshape(5, 5)
    w = np.zeros((1, 3, 3, 3))
    w[0, 0] = 1
    out, _ = F.conv2d_forward(x, w, np.array([1.0]), stride=2, padding=1)   # sums of the padded windows, plus 1
    assert out[0, 0].astype(int).tolist() == [[17, 34, 29], [70, 118, 88], [77, 124, 89]]


def test_separable_ratio_approaches_one_ninth_from_above():
    ratios = []
    for n in (64, 1024, 65536):
        m = variants.separable_conv_macs(3, 64, n, 14)
        ratios.append((m["depthwise"] + m["pointwise"]) / m["standard"])
    assert ratios[0] > ratios[1] > ratios[2] > 1 / 9 and ratios[2] - 1 / 9 < 1e-4


def test_transposed_output_sizes_of_exercise_14():
    assert arithmetic.conv_output_size(9, 3, 2, 1) == arithmetic.conv_output_size(10, 3, 2, 1) == 5
    assert arithmetic.conv_transpose_output_size(5, 3, 2, 1, 0) == 9
    assert arithmetic.conv_transpose_output_size(5, 3, 2, 1, 1) == 10
