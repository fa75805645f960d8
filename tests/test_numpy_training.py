"""End-to-end: a coursekit.nn CNN trained with coursekit.optim on scikit-learn's bundled digits."""

import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sklearn")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))

import numpy_cnn_digits as digits  # noqa: E402

from coursekit.nn.functional import softmax_cross_entropy  # noqa: E402


def test_initial_loss_is_close_to_log_of_class_count():
    x, y, _, _ = digits.load_digits_split()
    model = digits.build_model(seed=3)
    model.eval()
    loss, _ = softmax_cross_entropy(model(x), y)
    assert abs(loss - np.log(10)) < 0.15, loss


def test_overfits_a_tiny_subset():
    assert digits.overfit_tiny_subset(n=20, steps=150) == 1.0


def test_reaches_95_percent_on_held_out_digits():
    x_train, y_train, x_test, y_test = digits.load_digits_split()
    model = digits.build_model()
    history = digits.train(model, x_train, y_train, digits.Config(), log=None)
    assert history[-1] < history[0] / 10
    assert digits.accuracy(model, x_test, y_test) >= 0.95


def test_split_is_stratified_and_disjoint():
    x_train, y_train, x_test, y_test = digits.load_digits_split()
    assert len(y_train) + len(y_test) == 1797
    assert np.all(np.abs(np.bincount(y_test) / len(y_test) - 0.1) < 0.02)
    assert not {a.tobytes() for a in x_test} <= {a.tobytes() for a in x_train}
