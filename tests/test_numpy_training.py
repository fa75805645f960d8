"""End-to-end: a coursekit.nn CNN trained with coursekit.optim on the MNIST digits shipped in the package, with numpy
alone (examples/numpy_cnn_digits.py; the numpy-only environment runs these tests too)."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))

import numpy_cnn_digits as digits  # noqa: E402

from coursekit._extras import is_importable  # noqa: E402
from coursekit.nn.functional import softmax_cross_entropy  # noqa: E402


def test_initial_loss_is_close_to_log_of_class_count():
    x, y, _, _ = digits.load_digits_split()
    model = digits.build_model(seed=3)
    model.eval()
    loss, _ = softmax_cross_entropy(model(x), y)
    assert abs(loss - np.log(10)) < 0.15, loss


def test_overfits_a_tiny_subset():
    assert digits.overfit_tiny_subset(n=20, steps=150) == 1.0


@pytest.mark.slow
def test_reaches_95_percent_on_held_out_digits():
    x_train, y_train, x_test, y_test = digits.load_digits_split()
    model = digits.build_model()
    history = digits.train(model, x_train, y_train, digits.Config(), log=None)
    assert history[-1] < history[0] / 10
    assert digits.accuracy(model, x_test, y_test) >= 0.95


def test_split_is_stratified_and_disjoint():
    x_train, y_train, x_test, y_test = digits.load_digits_split()
    assert abs(len(y_train) - 3000) <= 5 and abs(len(y_test) - 3000) <= 5          # 30% of 10,000; 3,000 of the rest
    assert x_train.shape[1:] == (1, 14, 14) and x_train.dtype == np.float32
    assert 0.0 <= x_train.min() and x_train.max() <= 1.0
    _, _, all_test, labels = digits.load_digits_split(side=28)
    everything = np.bincount(labels, minlength=10) / len(labels)
    assert np.all(np.abs(np.bincount(y_test) / len(y_test) - everything) < 0.002)  # stratified: shares kept
    assert np.all(np.abs(np.bincount(y_train) / len(y_train) - everything) < 0.002)
    assert not {a.tobytes() for a in x_test} & {a.tobytes() for a in x_train}      # disjoint


def test_digits_are_read_with_numpy_alone():
    """The example's loader gives exactly the digits coursekit.data.mnist serves (checked where torch is here)."""
    _, _, x_test, y_test = digits.load_digits_split(side=28)
    x_28 = x_test[:, 0] * 255.0
    assert np.allclose(x_28, np.round(x_28), atol=1e-4)                        # uint8 pixels scaled by 1/255
    with np.load(digits.mnist_file(), allow_pickle=False) as archive:
        images, labels = archive["images"], archive["labels"]
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert any(np.array_equal(np.rint(x_28[0]), image) for image in images[labels == y_test[0]])
    if is_importable("torch"):
        from coursekit.data import mnist_arrays

        served, served_labels = mnist_arrays()
        assert np.array_equal(served, images) and np.array_equal(served_labels, labels)
