"""Lecture 7 (07_training_in_practice.ipynb): its exercises as a student meets them, and the library results its
examples rest on (the regression checks that used to be asserts in the notebook's cells)."""

import numpy as np
import torch
from lecture_exercises import ROOT, exercise_tests
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from coursekit.data import JointAugment, digits, faces
from coursekit.train import EarlyStopping, fit

LECTURE = ROOT / "lectures" / "07_training_in_practice.ipynb"

# what a student who worked the numeric exercises by hand types (the numbers of the collapsed answers)
ANSWERS = {
    "ex2-stub": "first_layer_params_2 = 133_120\nimages_needed_2 = 153_610",
    "ex4-stub": "decay_factor_4 = 0.9998",
    "ex7-stub": "factor_without_eps_7 = 1e4\nfactor_with_eps_7 = 316",
}


test_student_view, test_solved, test_sabotaged = exercise_tests(LECTURE, ANSWERS, write_it_yourself=2)


# ---- the examples' numbers, re-computed from the library (nbval compares the printed ones)

def test_the_digit_splits_the_lecture_counts_on():
    pool, test = digits("train"), digits("test")
    assert len(pool) == 1438 and len(test) == 359
    assert torch.bincount(test.tensors[1]).tolist() == [36, 36, 35, 37, 36, 36, 36, 36, 35, 36]


def test_the_widest_network_has_153_610_parameters():
    widest = nn.Sequential(nn.Flatten(), nn.Linear(64, 2048), nn.ReLU(), nn.Linear(2048, 10))
    assert sum(p.numel() for p in widest.parameters()) == 64 * 2048 + 2048 + 2048 * 10 + 10 == 153_610


def test_the_augmented_patch_is_a_face_and_a_certain_flip_mirrors_it():
    images, labels = faces("train").tensors
    assert labels[1] == 1 and images.shape[1:] == (1, 25, 25)
    flip = JointAugment(degrees=0.0, translate=0.0, scale=(1.0, 1.0), hflip=1.0, vflip=0.0, brightness=0.0,
                        contrast=0.0, generator=torch.Generator().manual_seed(3))
    assert torch.allclose(flip(images[1]), images[1].flip(-1), atol=1e-5)


def test_early_stopping_in_fit_stops_patience_epochs_after_the_best_and_restores_it():
    # a model whose validation loss follows a script: best at epoch 3, then no strict improvement (a tie at 5)
    script = iter([3.0, 2.0, 1.0, 1.5, 1.0, 2.0, 0.5])
    model = nn.Linear(1, 1)

    def loss_fn(outputs, targets):
        return (outputs * 0).sum() if model.training else torch.tensor(next(script))

    one = DataLoader(TensorDataset(torch.zeros(1, 1), torch.zeros(1, 1)), batch_size=1)
    history = fit(model, one, one, loss_fn=loss_fn, optimizer=torch.optim.SGD(model.parameters(), lr=0.0), epochs=7,
                  early_stopping=EarlyStopping(patience=3), progress=False)
    assert (len(history.records), history.best_epoch) == (6, 3)


def test_whitening_the_digits_gives_the_identity_covariance():
    x = digits("train").tensors[0][:150].flatten(1).double().numpy()
    centred = x - x.mean(0)
    variances, vectors = np.linalg.eigh(centred.T @ centred / len(x))
    keep = variances > 1e-3
    white = centred @ vectors[:, keep] / np.sqrt(variances[keep] + 1e-5)
    np.testing.assert_allclose(white.T @ white / len(x), np.eye(keep.sum()), atol=1e-2)
