"""Assignment 4's checks, in-process: the sample submissions' code runs here against the grader's real cases.

Each test builds a sample notebook (course/a4_submissions.py), runs its code cells in one namespace with the real
``coursekit.grading`` writing answers into a temporary grading folder (as the kernel does), and hands what came back
to the judges of course/judges/a4_vgg_transfer.py. The reference must earn every point, each realistic mistake
exactly the points it should lose, and answers that raised or never came back nothing. The real pipeline (sandbox,
nbgrader, gradebook) grades the same samples in `make course`.
"""

from __future__ import annotations

import contextlib
import io
import json
import runpy
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nbformat = pytest.importorskip("nbformat")

from coursekit.course.answers import read_answers, read_records, write_cases  # noqa: E402
from coursekit.course.judging import Missing, Raised, Verdict, load_judges  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENT = "a4_vgg_transfer"
SLOW_CELLS = {"a4-explore", "a4-experiment"}   # the experiment: ~40 s of CPU, run by the slow tests only

pytestmark = pytest.mark.skipif(not (ROOT / "assignments" / ASSIGNMENT).is_dir(),
                                reason="Assignment 4 is not released (run coursekit release a4_vgg_transfer)")


@pytest.fixture(scope="module")
def checks():
    return load_judges(ASSIGNMENT, ROOT / "course")


@pytest.fixture(scope="module")
def samples():
    return runpy.run_path(str(ROOT / "course" / "a4_submissions.py"))["samples"]()


def _meta(cell):
    return cell.metadata.get("nbgrader", {})


def _restore_locked_cells(nb):
    """What nbgrader's autograde does first: locked cells (the tests, hidden parts included) as the source has them."""
    source = nbformat.read(ROOT / "solutions" / ASSIGNMENT / "vgg_transfer.ipynb", as_version=4)
    locked = {_meta(c)["grade_id"]: c.source for c in source.cells if _meta(c).get("locked")}
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    for cell in nb.cells:
        if _meta(cell).get("grade_id") in locked:
            cell.source = locked[_meta(cell)["grade_id"]]
    return nb


def grade(nb, checks, tmp_path, monkeypatch, skip=SLOW_CELLS, seed=0) -> dict:
    """{grade_id: (points earned, points, Verdict)} for every checked cell that ran."""
    nb = _restore_locked_cells(nb)
    grading_dir = tmp_path / "grading"
    for sub in ("cases", "answers", "records"):
        (grading_dir / sub).mkdir(parents=True)
    judged = {}
    for cell in nb.cells:
        grade_id = _meta(cell).get("grade_id")
        if cell.cell_type == "code" and _meta(cell).get("grade") and grade_id in checks.checks \
                and grade_id not in skip:
            cases, judge = checks.checks[grade_id](np.random.default_rng([seed, len(judged)]))
            write_cases(grading_dir, grade_id, cases)
            judged[grade_id] = (len(cases), judge, float(_meta(cell)["points"]))
    monkeypatch.setenv("COURSEKIT_GRADING_DIR", str(grading_dir))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    namespace = {"__name__": "__main__"}
    errors = {}
    for cell in nb.cells:
        if cell.cell_type != "code" or _meta(cell).get("grade_id") in skip:
            continue
        try:  # nbgrader runs every cell, whatever failed before
            with contextlib.redirect_stdout(io.StringIO()):
                exec(compile(cell.source, _meta(cell).get("grade_id", "cell"), "exec"), namespace)
        except Exception as exc:  # noqa: BLE001 - a failing cell is part of what is graded
            errors[_meta(cell).get("grade_id")] = f"{type(exc).__name__}: {exc}"
    scores = {}
    for grade_id, (n, judge, points) in judged.items():
        verdict = judge(read_answers(grading_dir, grade_id, n), read_records(grading_dir, grade_id))
        assert isinstance(verdict, Verdict)
        scores[grade_id] = (round(verdict.score * points, 6), points, verdict)
    grade.errors = errors  # for a failing test's message
    return scores


def _points(scores) -> dict:
    return {gid: earned for gid, (earned, _, _) in scores.items()}


def _full(scores) -> dict:
    return {gid: points for gid, (_, points, _) in scores.items()}


# ------------------------------------------------------------------------------------------ fast (no Part 7)
def test_reference_earns_every_point(samples, checks, tmp_path, monkeypatch):
    scores = grade(samples["reference"], checks, tmp_path, monkeypatch)
    assert set(scores) == set(checks.checks) - SLOW_CELLS
    assert _points(scores) == _full(scores), ({g: v.message for g, (_, _, v) in scores.items() if v.score < 1},
                                              grade.errors)


def test_every_test_cell_has_a_check(checks):
    nb = nbformat.read(ROOT / "solutions" / ASSIGNMENT / "vgg_transfer.ipynb", as_version=4)
    graded = {_meta(c)["grade_id"] for c in nb.cells if _meta(c).get("grade")}
    assert graded == set(checks.checks)
    assert sum(float(_meta(c)["points"]) for c in nb.cells if _meta(c).get("grade")) == 21


def test_blank_scores_zero(samples, checks, tmp_path, monkeypatch):
    scores = grade(samples["blank"], checks, tmp_path, monkeypatch)
    assert all(earned == 0 for earned in _points(scores).values()), _points(scores)


def test_forged_probe_answers_score_zero(samples, checks, tmp_path, monkeypatch):
    """course/hostile_submissions.py's forges_probes: the honest reference with grading.answer replaced by code that
    writes what each probe of Parts 3-6 "should" say (echoed initial weights, zeros of the right shapes, counts by
    arithmetic on the case, a nearest-neighbour vote on pixels). Those probes earn nothing; the rest keeps its
    points."""
    from coursekit import grading

    hostile = runpy.run_path(str(ROOT / "course" / "hostile_submissions.py"))
    nb = json.loads(json.dumps(samples["reference"]))
    nb = nbformat.from_dict(nb)
    index = next(i for i, c in enumerate(nb.cells) if _meta(c).get("grade_id") == "a4-setup")
    nb.cells.insert(index + 1, nbformat.v4.new_code_cell(hostile["FORGES_PROBES"] + hostile["FORGED_WRITER"]))
    # the forgery replaces the module's helpers; monkeypatch puts the real ones back after the test
    monkeypatch.setattr(grading, "answer", grading.answer)
    monkeypatch.setattr(grading, "record", grading.record)
    scores = grade(nb, checks, tmp_path, monkeypatch)
    forged = {"a4-head", "a4-freeze", "a4-extract", "a4-probe", "a4-finetune"}
    assert {g: p for g, p in _points(scores).items() if g in forged} == dict.fromkeys(forged, 0.0), \
        {g: v.message for g, (_, _, v) in scores.items()}
    assert {g: p for g, p in _points(scores).items() if g not in forged} == \
        {g: p for g, p in _full(scores).items() if g not in forged}
    full = sum(_full(scores).values()) + 6  # Part 7 (slow, not run here) is honest work: its 6 points stay
    assert full - sum(_full(scores)[g] for g in forged) == hostile["EXPECTED"][ASSIGNMENT]["forges_probes"]


@pytest.mark.slow
@pytest.mark.parametrize("student, cell, earned, named", [
    ("wrong_channel_order", "a4-preprocess", 2.0, "BGR"),
    ("no_mean_subtraction", "a4-preprocess", 2.0, "mean"),
    ("forgot_freeze", "a4-freeze", 1.0, "requires_grad"),
])
def test_a_realistic_mistake_costs_its_points_and_only_those(samples, checks, tmp_path, monkeypatch, student, cell,
                                                             earned, named):
    scores = grade(samples[student], checks, tmp_path, monkeypatch)
    points = _points(scores)
    assert points[cell] == pytest.approx(earned), scores[cell][2].message
    assert named in scores[cell][2].message  # the feedback names the mistake
    others = {g: p for g, p in points.items() if g != cell}
    assert others == {g: p for g, p in _full(scores).items() if g != cell}


@pytest.mark.parametrize("grade_id", ["a4-strategy", "a4-preprocess", "a4-head", "a4-freeze", "a4-extract",
                                      "a4-probe", "a4-finetune", "a4-experiment"])
def test_raised_or_missing_answers_score_zero(checks, grade_id):
    cases, judge = checks.checks[grade_id](np.random.default_rng(1))
    assert judge([Missing] * len(cases), {}).score == 0.0
    raised = judge([Raised("NotImplementedError", "")] * len(cases), {"strategy": Raised("NameError", "")})
    assert raised.score == 0.0
    assert json.dumps(raised.message)  # a plain string for the feedback


def test_cases_are_random_and_labels_never_leave_the_judge(checks):
    a, _ = checks.checks["a4-preprocess"](np.random.default_rng(1))
    b, _ = checks.checks["a4-preprocess"](np.random.default_rng(2))
    assert [c["images"].shape for c in a] != [c["images"].shape for c in b]
    cases, _ = checks.checks["a4-experiment"](np.random.default_rng(3))
    assert len(cases) == 9
    for case in cases:  # only the training digits are labelled; the held-out digits travel as images
        assert set(case) == {"method", "k", "train_images", "train_labels", "test_images"}
        assert case["test_images"].dtype == np.uint8 and case["test_images"].shape == (1000, 1, 28, 28)
        assert len(case["train_labels"]) == 10 * case["k"]


def test_experiment_judge_prices_the_thresholds(checks):
    """Predictions with chosen accuracies: the judge's shares follow the thresholds written in the notebook."""
    cases, judge = checks.checks["a4-experiment"](np.random.default_rng(4))
    # recover the held-out labels the way only the grader can: from the shipped digits the cases came from
    from coursekit.data.mnist import mnist_arrays

    images, labels = mnist_arrays()
    lookup = {img.tobytes(): lab for img, lab in zip(images, labels)}
    truth = np.array([lookup[img[0].tobytes()] for img in cases[0]["test_images"]])

    def predictions(accuracy):
        pred = truth.copy()
        wrong = int(round((1 - accuracy) * len(pred)))
        pred[:wrong] = (pred[:wrong] + 1) % 10
        return pred

    def answers(table):
        return [predictions(table[(c["method"], c["k"])]) for c in cases]

    good = {("pretrained", 5): 0.85, ("pretrained", 10): 0.9, ("pretrained", 30): 0.95, ("random", 5): 0.7,
            ("random", 10): 0.78, ("random", 30): 0.86, ("scratch", 5): 0.6, ("scratch", 10): 0.75,
            ("scratch", 30): 0.88}
    assert judge(answers(good), {}).score == 1.0
    random_as_pretrained = {**good, **{("pretrained", k): good[("random", k)] for k in (5, 10, 30)}}
    assert judge(answers(random_as_pretrained), {}).score == pytest.approx(1 / 6)
    just_below = {**good, ("pretrained", 5): 0.79}
    assert judge(answers(just_below), {}).score == pytest.approx(4 / 6)
    lazy_control = {**good, **{("random", k): 0.1 for k in (5, 10, 30)}}  # a margin bought with a broken control
    assert judge(answers(lazy_control), {}).score == pytest.approx(5 / 6)
    floats = [np.asarray(a, dtype=np.float64) for a in answers(good)]
    assert judge(floats, {}).score == 0.0  # predictions are classes, not scores


# ------------------------------------------------------------------------------------------ slow: Part 7
@pytest.mark.slow
@pytest.mark.parametrize("student, earned", [("reference", 6.0), ("random_as_pretrained", 1.0),
                                             ("trains_on_test_labels", 6.0)])
def test_experiment_on_held_out_digits(samples, checks, tmp_path, monkeypatch, student, earned):
    only = {"a4-experiment"}
    skip = {c.metadata.get("nbgrader", {}).get("grade_id") for c in samples[student].cells} - only - {
        "a4-setup", "a4-preprocess-solution", "a4-freeze-solution", "a4-probe-solution",
        "a4-experiment-solution"}
    skip.discard(None)
    scores = grade(samples[student], checks, tmp_path, monkeypatch, skip=skip | {"a4-explore"})
    assert scores["a4-experiment"][0] == pytest.approx(earned), scores["a4-experiment"][2].message
