"""Lecture 4 (04_optimization.ipynb): its exercises as a student meets them, and the library results its examples rest
on (the regression checks that used to be asserts in the notebook's cells)."""

import math

import numpy as np
from lecture_exercises import ROOT, exercise_tests

import coursekit.optim as optim
from coursekit.nn import Parameter
from coursekit.optimlab import VALLEY, learning_rate_explorer, momentum_explorer, run_optimizer, tune_learning_rate

LECTURE = ROOT / "lectures" / "04_optimization.ipynb"

# what a student who worked the numeric exercises by hand types (the numbers of the collapsed answers)
ANSWERS = {
    "cell-05": "steps_per_epoch_1_1 = 391\nimages_1_1 = 1_280_000",
    "ex21-stub": "step_ratio_2_1 = 100",
    "cell-13": "first_step_3_1 = 3.16",
    "cell-21": "bound_4_1 = 0.5\npicked_4_1 = 0.316",
    "cell-25": "mu_star_4_2 = 0.67\nlr_star_4_2 = 0.83",
    "cell-31": "iterations_5_1 = 110_000",
    "cell-35": "batch_6_1 = 256",
    "cell-41": "steps_7_1 = 65",
}


test_student_view, test_solved, test_sabotaged = exercise_tests(LECTURE, ANSWERS, write_it_yourself=3)


# ---- the examples' numbers, re-computed from the library (nbval compares the printed ones)

def test_momentum_on_a_constant_slope_is_a_geometric_series():
    p = Parameter(np.zeros(1))
    opt = optim.SGD([p], lr=0.1, momentum=0.9)
    for t in range(1, 51):
        before = p.data.copy()
        p.grad = np.ones(1)
        opt.step()
        assert abs((before - p.data)[0] - 0.1 * (1 - 0.9 ** t) / (1 - 0.9)) < 1e-12


def test_exercise_4_1_the_grid_value_above_the_bound_diverges():
    make = lambda p, lr: optim.SGD(p, lr=lr)  # noqa: E731
    assert tune_learning_rate(make, VALLEY, 100, [0.562])[1][0.562] > 1e3
    assert tune_learning_rate(make, VALLEY, 100, [0.316])[1][0.316] < 1e-2


def test_exercise_4_2_polyaks_momentum_beats_the_tuned_nesterov_a_thousandfold():
    mu_star, lr_star = (9 / 11) ** 2, 4 / (2 + 0.2) ** 2
    heavy_ball = run_optimizer(lambda p: optim.SGD(p, lr=lr_star, momentum=mu_star), VALLEY, 100)
    grid = [float(f"{v:.3g}") for v in np.logspace(-3, 1, 17)]
    _, scores = tune_learning_rate(lambda p, lr: optim.SGD(p, lr=lr, momentum=0.9, nesterov=True), VALLEY, 100, grid)
    assert VALLEY.loss(heavy_ball[-1]) < 1e-12 < min(scores.values()) / 1000


def test_exercise_5_1_eleven_decays_of_0_8_fall_below_a_tenth():
    assert 0.8 ** 10 > 0.1 > 0.8 ** 11 and abs(0.8 ** 11 - 0.086) < 5e-4 and math.ceil(math.log(0.1, 0.8)) == 11


def test_the_explorers_labels_are_not_cut():
    # ipywidgets' default description width cut "learning rate" to "learning r..." (issue 26)
    rng = np.random.default_rng(0)
    for box in (momentum_explorer(VALLEY, steps=5), learning_rate_explorer(rng.random((20, 4)), rng.integers(0, 2, 20),
                                                                           epochs=1, batch_size=10)):
        sliders = [w for w in box.children if hasattr(w, "description") and w.description]
        assert sliders and all(w.style.description_width == "initial" for w in sliders), \
            [(w.description, w.style.description_width) for w in sliders]
