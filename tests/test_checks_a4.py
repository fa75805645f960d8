"""Assignment 4's checks, in-process: the sample submissions' code runs here against the grader's real cases.

Each notebook test builds a sample (course/a4_submissions.py) and runs its code cells in one namespace the way the
grader runs a kernel: a judged cell's cases exist only while it runs, its hidden region runs in a private copy of
the namespace, its answers are read the moment it ends, and the kernel's copy of the MNIST digits is the grading
one (no digit, no label) with scikit-learn out of reach. What came back goes to the judges of
course/judges/a4_vgg_transfer.py. The grader's cases are drawn once per seed for the whole module (the drawing,
with the grader's own VGG runs, is most of a notebook's cost).

The mutant tests hold each check to the mistakes it exists to catch: a mutant is the solution with one function
rewritten the way a student gets it wrong (or does nothing, or answers only some callers), run through the cell's
hidden test on several seeds; each must earn exactly its share. The real pipeline (sandbox, nbgrader, gradebook)
grades the samples in `make course`, the hook-and-file hunt of `labels_from_elsewhere` included (its file search
would find the real package's digits in this process, which the kernel never sees).
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import re
import runpy
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nbformat = pytest.importorskip("nbformat")

from coursekit.course.answers import read_answers, read_records, write_cases  # noqa: E402
from coursekit.course.execute import private_hidden_region  # noqa: E402
from coursekit.course.judging import CellAnswers, Missing, Raised, Verdict, call_judge, load_judges  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENT = "a4_vgg_transfer"
SOLUTION = ROOT / "solutions" / ASSIGNMENT / "vgg_transfer.ipynb"
EXPERIMENT = ("a4-experiment-5", "a4-experiment-10", "a4-experiment-30")
SLOW_CELLS = set(EXPERIMENT)   # the experiment: ~60 s of CPU, run by the slow tests only

pytestmark = pytest.mark.skipif(not (ROOT / "assignments" / ASSIGNMENT).is_dir(),
                                reason="Assignment 4 is not released (run coursekit release a4_vgg_transfer)")


def _meta(cell):
    return cell.metadata.get("nbgrader", {})


def _seed(seed: int, grade_id: str) -> np.random.Generator:
    """a generator like the grader's: a different stream per secret seed and per cell (as test_check_seeds)"""
    return np.random.default_rng([seed, sum(grade_id.encode())])


@pytest.fixture(scope="module")
def checks():
    return load_judges(ASSIGNMENT, ROOT / "course")


@pytest.fixture(scope="module")
def draws(checks):
    """draws(seed, grade_id) -> (cases, judge), drawn once per module; Part 7's three cells together, in the
    notebook's order, as the grader draws them (they share one draw of labelled and held-out digits)."""
    cache = {}

    def get(seed, grade_id):
        if (seed, grade_id) not in cache:
            for gid in EXPERIMENT if grade_id in EXPERIMENT else (grade_id,):
                cache[(seed, gid)] = checks.tests[gid](_seed(seed, gid))
        return cache[(seed, grade_id)]

    return get


@pytest.fixture(scope="module")
def samples():
    return runpy.run_path(str(ROOT / "course" / "a4_submissions.py"))["samples"]()


@contextlib.contextmanager
def kernel_view():
    """What the grading kernel has: the MNIST archive as grading_archive leaves it (no digit, no label), no
    scikit-learn. Only the kernel's side runs inside it; the grader draws its cases before."""
    mnist_module = importlib.import_module("coursekit.data.mnist")  # the package exports a function by that name
    path = Path(mnist_module.__file__).parent / "files" / mnist_module.MNIST_FILE
    kernel_bytes = mnist_module.grading_archive(path.read_bytes())
    real = mnist_module._archive

    def archive():
        with np.load(io.BytesIO(kernel_bytes), allow_pickle=False) as found:
            if "held_by_grader" in found.files:
                raise RuntimeError(mnist_module.HELD_BY_GRADER)
        return real()  # not reached: the grading archive always says so

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(mnist_module, "_archive", archive)
        for name in [m for m in sys.modules if m == "sklearn" or m.startswith("sklearn.")] + ["sklearn"]:
            mp.setitem(sys.modules, name, None)
        mp.setenv("MPLBACKEND", "Agg")
        yield


def _restore_locked_cells(nb):
    """What nbgrader's autograde does first: locked cells (the tests, hidden parts included) as the source has them."""
    source = nbformat.read(SOLUTION, as_version=4)
    locked = {_meta(c)["grade_id"]: c.source for c in source.cells if _meta(c).get("locked")}
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    for cell in nb.cells:
        if _meta(cell).get("grade_id") in locked:
            cell.source = locked[_meta(cell)["grade_id"]]
    return nb


def _run_judged(source, grade_id, cases, namespace, grading_dir, monkeypatch) -> CellAnswers:
    """One judged cell as the grader runs it: its cases appear, the cell runs (hidden region private), its answers
    are read and everything is removed before anything else runs."""
    for sub in ("cases", "answers", "records"):
        (grading_dir / sub).mkdir(parents=True, exist_ok=True)
    write_cases(grading_dir, grade_id, cases)
    monkeypatch.setenv("COURSEKIT_GRADING_DIR", str(grading_dir))
    error = None
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            exec(compile(private_hidden_region(source), grade_id, "exec"), namespace)
    except Exception as exc:  # noqa: BLE001 - a failing visible part is part of what is graded
        error = f"{type(exc).__name__}: {exc}"
    sealed = CellAnswers(read_answers(grading_dir, grade_id, len(cases)), read_records(grading_dir, grade_id))
    shutil.rmtree(grading_dir)
    return sealed, error


def grade(nb, draws, tmp_path, monkeypatch, skip=SLOW_CELLS, seed=0) -> dict:
    """{grade_id: (points earned, points, Verdict)} for every judged cell that ran, graded as the pipeline does:
    every cell's cases drawn first, then the cells run in order in the kernel's view, then the judges."""
    nb = _restore_locked_cells(nb)
    judged = {}
    for cell in nb.cells:
        grade_id = _meta(cell).get("grade_id")
        if cell.cell_type == "code" and _meta(cell).get("grade") and grade_id not in skip:
            judged[grade_id] = (*draws(seed, grade_id), float(_meta(cell)["points"]))
    namespace = {"__name__": "__main__"}
    sealed, errors = {}, {}
    with kernel_view():
        for cell in nb.cells:
            grade_id = _meta(cell).get("grade_id")
            if cell.cell_type != "code" or grade_id in skip:
                continue
            if grade_id in judged:
                sealed[grade_id], error = _run_judged(cell.source, grade_id, judged[grade_id][0], namespace,
                                                      tmp_path / "grading", monkeypatch)
                monkeypatch.delenv("COURSEKIT_GRADING_DIR")
                if error:
                    errors[grade_id] = error
                continue
            try:  # nbgrader runs every cell, whatever failed before
                with contextlib.redirect_stdout(io.StringIO()):
                    exec(compile(cell.source, grade_id or "cell", "exec"), namespace)
            except Exception as exc:  # noqa: BLE001 - a failing cell is part of what is graded
                errors[grade_id] = f"{type(exc).__name__}: {exc}"
    scores = {}
    for grade_id, (_, judge, points) in judged.items():
        verdict = call_judge(judge, sealed[grade_id].answers, sealed[grade_id].records, sealed)
        assert isinstance(verdict, Verdict)
        scores[grade_id] = (round(verdict.score * points, 6), points, verdict)
    grade.errors = errors  # for a failing test's message
    return scores


def _points(scores) -> dict:
    return {gid: earned for gid, (earned, _, _) in scores.items()}


def _full(scores) -> dict:
    return {gid: points for gid, (_, points, _) in scores.items()}


def _messages(scores) -> dict:
    return {g: v.message for g, (_, _, v) in scores.items() if v.score < 1}


# ------------------------------------------------------------------------------------------ the notebook
def test_every_test_cell_has_a_check(checks):
    nb = nbformat.read(SOLUTION, as_version=4)
    graded = [_meta(c)["grade_id"] for c in nb.cells if _meta(c).get("grade")]
    assert set(graded) == set(checks.checks)
    assert sum(float(_meta(c)["points"]) for c in nb.cells if _meta(c).get("grade")) == 21
    # Part 7's cells in the order their draws are nested: 5 labels, then 10, then 30
    assert [g for g in graded if g in EXPERIMENT] == list(EXPERIMENT)


def test_reference_earns_every_point(samples, draws, tmp_path, monkeypatch, checks):
    scores = grade(samples["reference"], draws, tmp_path, monkeypatch)
    assert set(scores) == set(checks.checks) - SLOW_CELLS
    assert _points(scores) == _full(scores), (_messages(scores), grade.errors)
    # while grading the exploration cell has no digits: it says so, and nothing fails
    assert "a4-explore" not in grade.errors, grade.errors


def test_blank_scores_zero(samples, draws, tmp_path, monkeypatch):
    scores = grade(samples["blank"], draws, tmp_path, monkeypatch)
    assert all(earned == 0 for earned in _points(scores).values()), _points(scores)


def test_forged_probe_answers_score_zero(samples, draws, tmp_path, monkeypatch):
    """course/hostile_submissions.py's forges_probes: the honest reference with grading.answer replaced by code that
    writes what each probe of Parts 3-6 "should" say (echoed initial weights, zeros of the right shapes, counts by
    arithmetic on the case, a nearest-neighbour vote on pixels). Those probes earn nothing; the rest keeps its
    points."""
    from coursekit import grading

    hostile = runpy.run_path(str(ROOT / "course" / "hostile_submissions.py"))
    nb = nbformat.from_dict(json.loads(json.dumps(samples["reference"])))
    index = next(i for i, c in enumerate(nb.cells) if _meta(c).get("grade_id") == "a4-setup")
    nb.cells.insert(index + 1, nbformat.v4.new_code_cell(hostile["FORGES_PROBES"] + hostile["FORGED_WRITER"]))
    # the forgery replaces the module's helpers; monkeypatch puts the real ones back after the test
    monkeypatch.setattr(grading, "answer", grading.answer)
    monkeypatch.setattr(grading, "record", grading.record)
    scores = grade(nb, draws, tmp_path, monkeypatch)
    forged = {"a4-head", "a4-freeze", "a4-extract", "a4-probe", "a4-finetune"}
    assert {g: p for g, p in _points(scores).items() if g in forged} == dict.fromkeys(forged, 0.0), _messages(scores)
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
def test_a_realistic_mistake_costs_its_points_and_only_those(samples, draws, tmp_path, monkeypatch,
                                                             student, cell, earned, named):
    scores = grade(samples[student], draws, tmp_path, monkeypatch)
    points = _points(scores)
    assert points[cell] == pytest.approx(earned), scores[cell][2].message
    assert named in scores[cell][2].message  # the feedback names the mistake
    others = {g: p for g, p in points.items() if g != cell}
    assert others == {g: p for g, p in _full(scores).items() if g != cell}


@pytest.mark.parametrize("grade_id", sorted({"a4-strategy", "a4-preprocess", "a4-head", "a4-freeze", "a4-extract",
                                             "a4-probe", "a4-finetune", *EXPERIMENT}))
def test_raised_or_missing_answers_score_zero(draws, grade_id):
    cases, judge = draws(0, grade_id)
    nothing = {g: CellAnswers([Missing] * 3, {}) for g in EXPERIMENT}
    assert call_judge(judge, [Missing] * len(cases), {}, nothing).score == 0.0
    raised = call_judge(judge, [Raised("NotImplementedError", "")] * len(cases), {"strategy": Raised("NameError", "")},
                        nothing)
    assert raised.score == 0.0
    assert json.dumps(raised.message)  # a plain string for the feedback


# ------------------------------------------------------------------------------------------ Part 7's data
def _truth(cases):
    """the held-out labels, recovered the way only the grader can: from the shipped digits the cases came from"""
    from coursekit.data.mnist import mnist_arrays

    images, labels = mnist_arrays()
    lookup = {img.tobytes(): lab for img, lab in zip(images, labels)}
    return np.array([lookup[img[0].tobytes()] for img in cases[0]["test_images"]]), lookup


def test_part7_draws_are_nested_and_carry_no_held_out_label(draws):
    """At every point of the grading the kernel has seen k labelled digits per class and no more: 5 per class in
    the first cell, the same 5 and 5 more in the second, those 10 and 20 more in the third, and always the same
    held-out digits as images only."""
    for seed in (0, 1):
        cells = {gid: draws(seed, gid)[0] for gid in EXPERIMENT}
        truth, lookup = _truth(cells[EXPERIMENT[0]])
        labelled = {}
        for cases, k in zip(cells.values(), (5, 10, 30)):
            assert [c["method"] for c in cases] == ["pretrained", "random", "scratch"]
            for case in cases:  # only the training digits are labelled; the held-out digits travel as images
                assert set(case) == {"method", "k", "train_images", "train_labels", "test_images"}
                assert case["test_images"].dtype == np.uint8 and case["test_images"].shape == (1000, 1, 28, 28)
                assert np.array_equal(case["test_images"], cells[EXPERIMENT[0]][0]["test_images"])
                assert np.bincount(case["train_labels"], minlength=10).tolist() == [k] * 10
                assert [lookup[img[0].tobytes()] for img in case["train_images"]] == case["train_labels"].tolist()
            labelled[k] = {img.tobytes() for img in cases[0]["train_images"]}
            assert len(labelled[k]) == 10 * k
        assert labelled[5] <= labelled[10] <= labelled[30]
        held_out = {img.tobytes() for img in cells[EXPERIMENT[0]][0]["test_images"]}
        assert not held_out & labelled[30] and set(truth) == set(range(10))
    # another seed, other digits
    first, other = draws(0, EXPERIMENT[2])[0][0], draws(1, EXPERIMENT[2])[0][0]
    assert not np.array_equal(first["train_images"], other["train_images"])


def _experiment_answers(draws, seed, table):
    """Every Part 7 cell's sealed answers, made of predictions with chosen held-out accuracies per (method, k):
    a number is an accuracy (each method errs on its own digits), None a missing answer, ("same", method) that
    method's predictions exactly."""
    truth, _ = _truth(draws(seed, EXPERIMENT[0])[0])
    rng = np.random.default_rng(9)
    cells, made = {}, {}
    for gid, k in zip(EXPERIMENT, (5, 10, 30)):
        for method in ("pretrained", "random", "scratch"):
            value = table[(method, k)]
            if isinstance(value, tuple):
                made[(method, k)] = made[(value[1], k)]
            elif value is None:
                made[(method, k)] = Missing
            else:
                pred = truth.copy()
                wrong = rng.permutation(len(pred))[:int(round((1 - value) * len(pred)))]
                pred[wrong] = (pred[wrong] + 1 + ("pretrained", "random", "scratch").index(method)) % 10
                made[(method, k)] = pred
        cells[gid] = CellAnswers([made[(m, k)] for m in ("pretrained", "random", "scratch")], {})
    return cells


def _part7_points(draws, seed, cells) -> dict:
    return {gid: round(call_judge(draws(seed, gid)[1], cells[gid].answers, {}, cells).score
                       * {"a4-experiment-5": 2, "a4-experiment-10": 1, "a4-experiment-30": 3}[gid], 6)
            for gid in EXPERIMENT}


GOOD = {("pretrained", 5): 0.85, ("pretrained", 10): 0.9, ("pretrained", 30): 0.95, ("random", 5): 0.7,
        ("random", 10): 0.78, ("random", 30): 0.86, ("scratch", 5): 0.6, ("scratch", 10): 0.75, ("scratch", 30): 0.88}
# the experiment's mistakes, as the predictions they produce -> (points of the 5, 10 and 30 cells)
PART7_MUTANTS = {
    "reference-like": (GOOD, (2, 1, 3)),
    "random weights as pretrained": ({**GOOD, **{("pretrained", k): GOOD[("random", k)] for k in (5, 10, 30)}},
                                     (0, 0, 1)),
    "pretrained just below 0.80 at 5": ({**GOOD, ("pretrained", 5): 0.79}, (0, 1, 3)),
    "pretrained just below 0.92 at 30": ({**GOOD, ("pretrained", 30): 0.91}, (2, 1, 2)),
    "a margin bought with a broken control": ({**GOOD, **{("random", k): 0.1 for k in (5, 10, 30)}}, (2, 1, 2)),
    "a margin of 0.04 at 10": ({**GOOD, ("random", 10): 0.86}, (2, 1, 2)),
    "scratch that did not learn": ({**GOOD, ("scratch", 30): 0.3}, (2, 1, 2)),
    # method ignored: the pretrained probe returned for every method earns the probe's points only
    "method ignored": ({**GOOD, **{(m, k): ("same", "pretrained") for m in ("random", "scratch") for k in (5, 10, 30)}},
                       (2, 1, 1)),
    "scratch is the random probe": ({**GOOD, **{("scratch", k): ("same", "random") for k in (5, 10, 30)}},
                                    (2, 1, 2)),
    "the earlier cells missing": ({**GOOD, **{(m, k): None for m in ("pretrained", "random", "scratch")
                                             for k in (5, 10)}}, (0, 0, 2)),
}


@pytest.mark.parametrize("mutant", sorted(PART7_MUTANTS))
def test_experiment_judges_price_each_mistake(draws, mutant):
    """Predictions with chosen accuracies: the three judges' shares follow the thresholds written in the notebook,
    the margin is read from the earlier cells' sealed answers, and one procedure under two names earns no
    comparison."""
    table, expected = PART7_MUTANTS[mutant]
    for seed in (0, 1):
        points = _part7_points(draws, seed, _experiment_answers(draws, seed, table))
        assert tuple(points.values()) == expected, (mutant, seed, points)


def test_experiment_judges_refuse_scores_and_answers_of_another_draw(draws):
    cells = _experiment_answers(draws, 0, GOOD)
    floats = {g: CellAnswers([np.asarray(a, dtype=np.float64) for a in c.answers], {}) for g, c in cells.items()}
    assert sum(_part7_points(draws, 0, floats).values()) == 0  # predictions are classes, not scores
    # the earlier cells' answers are judged on the held-out digits of the draw they were made for
    _, judge_30 = draws(0, EXPERIMENT[2])
    assert call_judge(judge_30, cells[EXPERIMENT[2]].answers, {}, cells).score == 1.0
    other = _experiment_answers(draws, 1, GOOD)
    mixed = {**cells, EXPERIMENT[0]: other[EXPERIMENT[0]], EXPERIMENT[1]: other[EXPERIMENT[1]]}
    assert call_judge(judge_30, cells[EXPERIMENT[2]].answers, {}, mixed).score < 1.0


def test_knn_over_every_label_in_reach_earns_nothing_of_part_7(samples, draws, tmp_path, monkeypatch):
    """knn_all_labels: no VGG, one nearest neighbour over every labelled digit the kernel can find. With the whole
    shipped set it is right on every held-out digit (they are in it); in the grading kernel it finds only the k
    per class it is given and earns nothing: not the thresholds, not the margin, not the scratch point."""
    only = set(EXPERIMENT) | {"a4-setup", "a4-experiment-solution"}
    skip = {_meta(c).get("grade_id") for c in samples["knn_all_labels"].cells} - only - {None}
    scores = grade(samples["knn_all_labels"], draws, tmp_path, monkeypatch, skip=skip)
    assert _points(scores) == dict.fromkeys(EXPERIMENT, 0.0), _messages(scores)
    assert "the scratch run's predictions are the pretrained run's" in scores[EXPERIMENT[2]][2].message


@pytest.mark.slow
def test_reference_experiment_on_held_out_digits(samples, draws, tmp_path, monkeypatch):
    only = set(EXPERIMENT) | {"a4-setup", "a4-preprocess-solution", "a4-freeze-solution", "a4-probe-solution",
                              "a4-experiment-solution"}
    skip = {_meta(c).get("grade_id") for c in samples["reference"].cells} - only - {None}
    scores = grade(samples["reference"], draws, tmp_path, monkeypatch, skip=skip)
    assert _points(scores) == _full(scores), _messages(scores)


# ------------------------------------------------------------------------------------------ mutants of Parts 1-6
@pytest.fixture(scope="module")
def solution():
    """The solution notebook's code run once (no grading folder: its hidden tests answer nothing); returns
    (namespace, {grade_id: test cell source}, {grade_id: solution cell source})."""
    nb = nbformat.read(SOLUTION, as_version=4)
    namespace = {"__name__": "__main__"}
    tests, answers = {}, {}
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("COURSEKIT_GRADING_DIR", raising=False)
        mp.setenv("MPLBACKEND", "Agg")
        for cell in nb.cells:
            grade_id = _meta(cell).get("grade_id")
            if cell.cell_type != "code" or grade_id in {"a4-explore", "a4-faces", *EXPERIMENT}:
                continue
            if _meta(cell).get("grade"):
                tests[grade_id] = cell.source
                continue  # the hidden tests run below, on the grader's cases; the visible ones are not needed
            if _meta(cell).get("solution"):
                answers[grade_id] = re.sub(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n", "", cell.source, flags=re.M)
            with contextlib.redirect_stdout(io.StringIO()):
                exec(compile(cell.source, grade_id or "cell", "exec"), namespace)
    return namespace, tests, answers


def _mutant_share(solution, draws, grade_id, seed, code, tmp_path, monkeypatch, wrap=None) -> Verdict:
    """The cell's hidden test, on the grader's cases of one seed, in a copy of the solution's namespace where code
    (the solution cell, changed or not) has run: its functions see the copy's globals, wrap's included."""
    namespace, tests, _ = solution
    namespace = dict(namespace)
    if wrap:
        wrap(namespace)
    exec(compile(code, f"mutant of {grade_id}", "exec"), namespace)
    cases, judge = draws(seed, grade_id)
    source = tests[grade_id]
    source = source[:source.index("### END HIDDEN TESTS")] + "### END HIDDEN TESTS\n"  # the hidden test only
    sealed, error = _run_judged(source, grade_id, cases, namespace, tmp_path / f"grading-{grade_id}-{seed}",
                                monkeypatch)
    assert error is None, error
    return call_judge(judge, sealed.answers, sealed.records, {grade_id: sealed})


def _solution_with(solution, grade_id, *changes):
    """the solution cell's code with each (old, new) change made (old must be in it)"""
    code = solution[2][grade_id]
    for old, new in changes:
        assert old in code, old
        code = code.replace(old, new)
    return code


# Part 2, preprocess: (solution text, its replacement) -> share of the cell, a word the feedback must use
PREPROCESS = "a4-preprocess-solution"
PREPROCESS_MUTANTS = {
    "reference": ("", "", 1.0, "preprocessed"),
    "RGB kept": ("else x.flip(1)", "else x", 4 / 6, "BGR"),
    "mean in RGB order": ("IMAGENET_MEAN_BGR, dtype", "IMAGENET_MEAN_BGR[::-1], dtype", 4 / 6, "BGR"),
    # (a grey image left one channel but centred with a broadcast mean comes out right: three channels)
    "grey left one channel": ("x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x.flip(1)  # grey -> 3 channels; "
                              "RGB -> BGR\n    mean = torch.tensor(IMAGENET_MEAN_BGR, dtype=torch.float32).view(1, 3, "
                              "1, 1)\n    return (255.0 * x - mean).contiguous()",
                              "x if x.shape[1] == 1 else x.flip(1)\n    out = 255.0 * x\n"
                              "    for c in range(out.shape[1]):\n        out[:, c] -= IMAGENET_MEAN_BGR[c]\n"
                              "    return out", 4 / 6, "three"),
    "no mean subtraction": ("(255.0 * x - mean)", "(255.0 * x)", 4 / 6, "mean"),
    "0-1 scale, mean on 0-255": ("(255.0 * x - mean)", "(x - mean)", 4 / 6, "0-1"),
    "0-1 scale, mean on 0-1": ("(255.0 * x - mean)", "(x - mean / 255)", 4 / 6, "0-1"),
    "torchvision's normalisation": ("return (255.0 * x - mean).contiguous()",
                                    "x = x if x.shape[1] == 3 and images.shape[1] == 1 else x.flip(1)\n"
                                    "    m = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)\n"
                                    "    s = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)\n"
                                    "    return ((x - m) / s).contiguous()", 2 / 6, "torchvision"),
    "nearest resize": ('mode="bilinear", align_corners=False', 'mode="nearest"', 4 / 6, "nearest"),
    "align_corners=True": ("align_corners=False", "align_corners=True", 4 / 6, "align_corners"),
    "antialiased resize": ("align_corners=False)", "align_corners=False, antialias=True)", 4 / 6, "antialias"),
    "bicubic resize": ('mode="bilinear"', 'mode="bicubic"', 4 / 6, "bicubic"),
    "no resize": ('x = F.interpolate(images.float(), size=(size, size), mode="bilinear", align_corners=False)',
                  "x = images.float()", 4 / 6, "resized"),
    "no ValueError": ("raise ValueError", "pass  # ", 5 / 6, "ValueError"),
    "does nothing": ("    if images.ndim", "    return images\n    if images.ndim", 0.0, "no resize"),
    "zeros of the right shape": ("    return (255.0 * x - mean).contiguous()",
                                 "    return torch.zeros(len(images), 3, size, size)", 0.0, "explains"),
    # right on single images (the visible test's), zeros for a batch: judged by its worst
    "right for one image only": ("    return (255.0 * x - mean).contiguous()",
                                 "    out = (255.0 * x - mean).contiguous()\n"
                                 "    return out if len(images) == 1 else torch.zeros_like(out)", 0.0, "explains"),
}


@pytest.mark.parametrize("mutant", sorted(PREPROCESS_MUTANTS))
def test_preprocess_mutants_earn_their_share_on_every_seed(solution, draws, tmp_path, monkeypatch, mutant):
    old, new, share, word = PREPROCESS_MUTANTS[mutant]
    code = _solution_with(solution, PREPROCESS, *([(old, new)] if old else []))
    for seed in range(10):
        verdict = _mutant_share(solution, draws, "a4-preprocess", seed, code, tmp_path, monkeypatch)
        assert verdict.score == pytest.approx(share), (seed, verdict.message)
        assert word in verdict.message, (seed, verdict.message)


HEAD = "a4-head-solution"
HEAD_MUTANTS = {
    "reference": ("", "", 1.0, "right"),
    "head not replaced": ("    model.classifier[-1] = nn.Linear(old.in_features, num_classes)\n", "", 0.5,
                          "replace model.classifier[-1]"),
    "forgot to return": ("    model.classifier[-1] = nn.Linear(old.in_features, num_classes)\n    return model",
                         "    model.classifier[-1] = nn.Linear(old.in_features, num_classes)", 0.5, "returned None"),
    "counts frozen parameters too": ("if p.requires_grad)", ")", 0.5, "requires_grad"),
    "counts only frozen parameters": ("if p.requires_grad)", "if not p.requires_grad)", 0.5, "requires_grad"),
    "counts tensors, not elements": ("sum(p.numel() for", "sum(1 for", 0.5, "trainable"),
    "count does nothing": ("    return sum(p.numel() for p in model.parameters() if p.requires_grad)",
                           "    return 0", 0.5, "trainable"),
    "head of 4,096 inputs": ("nn.Linear(old.in_features, num_classes)", "nn.Linear(4096, num_classes)", 0.0, ""),
    "both do nothing": ("    old = model.classifier[-1]\n    model.classifier[-1] = nn.Linear(old.in_features, "
                        "num_classes)\n", "", 0.0, ""),
}


@pytest.mark.parametrize("mutant", sorted(HEAD_MUTANTS))
def test_head_mutants_earn_their_share_on_every_seed(solution, draws, tmp_path, monkeypatch, mutant):
    old, new, share, word = HEAD_MUTANTS[mutant]
    changes = [(old, new)] + ([("    return sum(p.numel() for p in model.parameters() if p.requires_grad)",
                                "    return 0")] if mutant == "both do nothing" else [])
    code = _solution_with(solution, HEAD, *(changes if old else []))
    for seed in range(3):  # every seed has frozen and unfrozen models, and never as many new classes as old
        verdict = _mutant_share(solution, draws, "a4-head", seed, code, tmp_path, monkeypatch)
        assert verdict.score == pytest.approx(share), (seed, verdict.message)
        assert word in verdict.message, (seed, verdict.message)


FREEZE = "a4-freeze-solution"
FREEZE_BODY = "    for p in module.parameters():\n        p.requires_grad_(False)\n    return module.eval()\n"
FREEZE_MUTANTS = {
    "reference": ("", 1.0, "kept"),
    "requires_grad forgotten": ("    return module.eval()\n", 0.5, "requires_grad"),
    "eval forgotten": ("    for p in module.parameters():\n        p.requires_grad_(False)\n    return module\n", 0.75,
                       "eval"),
    "returns nothing": ("    for p in module.parameters():\n        p.requires_grad_(False)\n    module.eval()\n",
                        0.75, "return"),
    "under no_grad instead": ("    with torch.no_grad():\n        module.eval()\n    return module\n", 0.5,
                              "requires_grad"),
    "does nothing": ("    return module\n", 0.0, "requires_grad"),
    "weights only": ("    for p in module.parameters():\n        if p.dim() > 1:\n            p.requires_grad_(False)\n"
                     "    return module.eval()\n", 0.0, "match neither"),
}


@pytest.mark.parametrize("mutant", sorted(FREEZE_MUTANTS))
def test_freeze_mutants_earn_their_share_on_every_seed(solution, draws, tmp_path, monkeypatch, mutant):
    body, share, word = FREEZE_MUTANTS[mutant]
    code = _solution_with(solution, FREEZE, *([(FREEZE_BODY, body)] if body else []))
    for seed in range(10):
        verdict = _mutant_share(solution, draws, "a4-freeze", seed, code, tmp_path, monkeypatch)
        assert verdict.score == pytest.approx(share), (seed, verdict.message)
        assert word in verdict.message, (seed, verdict.message)


EXTRACT_MUTANTS = {
    "reference": ("", "", 1.0, "match"),
    "average only": ("torch.cat([maps.mean(dim=(2, 3)), maps.amax(dim=(2, 3))], dim=1)", "maps.mean(dim=(2, 3))", 0.0,
                     "vectors of length"),
    "maximum first": ("[maps.mean(dim=(2, 3)), maps.amax(dim=(2, 3))]",
                      "[maps.amax(dim=(2, 3)), maps.mean(dim=(2, 3))]", 0.0, "features after block"),
    "first batch only": ("    return torch.cat(out).float()", "    return out[0].float()", 0.0, "rows"),
    "short last batch dropped": ("range(0, len(images), batch_size)",
                                 "range(0, len(images) - len(images) % batch_size, batch_size)", 2 / 3, "rows"),
    "cut before the pool": ("features[: pools[block - 1] + 1]", "features[: pools[block - 1]]", 0.0,
                            "features after block"),
    "block ignored (always 3)": ("features[: pools[block - 1] + 1]", "features[: pools[2] + 1]", 1 / 3,
                                 "vectors of length"),
    "zeros": ("    return torch.cat(out).float()", "    return torch.zeros(len(images), 2 * maps.shape[1])", 0.0,
              "features after block"),
}


@pytest.mark.parametrize("mutant", sorted(EXTRACT_MUTANTS))
def test_extract_mutants_earn_their_share_on_every_seed(solution, draws, tmp_path, monkeypatch, mutant):
    old, new, share, word = EXTRACT_MUTANTS[mutant]
    code = _solution_with(solution, FREEZE, *([(old, new)] if old else []))  # cut_at_block, extract_features
    for seed in range(2):  # VGG16 on every case: two seeds (the batching promises are audited on all of them)
        verdict = _mutant_share(solution, draws, "a4-extract", seed, code, tmp_path, monkeypatch)
        assert verdict.score == pytest.approx(share), (seed, verdict.message)
        assert word in verdict.message, (seed, verdict.message)


def _cached_extraction(namespace):
    """extract_features memoised on its input's bytes: the probe mutants differ in fit and predict only, so the
    VGG16 codes of the same images are computed once for all of them"""
    honest = namespace["extract_features"]
    cache = _cached_extraction.cache

    def extract_features(extractor, images, batch_size=256):
        key = (len(extractor), images.numpy().tobytes())
        if key not in cache:
            cache[key] = honest(extractor, images, batch_size)
        return cache[key].clone()

    namespace["extract_features"] = extract_features


_cached_extraction.cache = {}

PROBE = "a4-probe-solution"
PROBE_MUTANTS = {
    "reference": ("", "", 1.0, "learned"),
    "no standardising at all (allowed)": ("self.mean, self.std = feats.mean(0), feats.std(0) + 1e-6",
                                          "self.mean, self.std = torch.zeros(feats.shape[1]), torch.ones(1)", 1.0,
                                          "learned"),
    "standardised in predict only": ("        feats = (feats - self.mean) / self.std\n        self.head",
                                     "        self.head", 0.0, ("fitted on", "recipe")),
    "biased standard deviation (allowed)": ("feats.std(0) + 1e-6", "feats.std(0, unbiased=False) + 1e-6", 1.0,
                                            "learned"),
    "head never trained": ("        for _ in range(epochs):", "        for _ in range(0):", 0.0, "recipe"),
    "predict with the batch's own statistics": (
        "feats = (extract_features(self.extractor, images) - self.mean) / self.std",
        "feats = extract_features(self.extractor, images)\n        feats = (feats - feats.mean(0)) / (feats.std(0) + "
        "1e-6)", 0.0, "kept by fit"),
    "standardised in fit, not in predict": ("feats = (extract_features(self.extractor, images) - self.mean) / self.std",
                                            "feats = extract_features(self.extractor, images)", 0.0, "recipe"),
    "predict returns scores": ("return self.head(feats).argmax(1)", "return self.head(feats)", 0.0, "integer"),
    "predict does nothing": ("return self.head(feats).argmax(1)", "return torch.zeros(len(feats), dtype=torch.long)",
                             0.0, "recipe"),
    "head sized for block 3": ("nn.Linear(feats.shape[1], self.num_classes)", "nn.Linear(512, self.num_classes)", 0.0,
                               "raised"),
}


@pytest.mark.filterwarnings("ignore:std... degrees of freedom")  # the batch's statistics of one image
@pytest.mark.parametrize("mutant", sorted(PROBE_MUTANTS))
def test_probe_mutants_earn_their_share_on_every_seed(solution, draws, tmp_path, monkeypatch, mutant):
    old, new, share, word = PROBE_MUTANTS[mutant]
    code = _solution_with(solution, PROBE, *([(old, new)] if old else []))
    for seed in range(3):
        verdict = _mutant_share(solution, draws, "a4-probe", seed, code, tmp_path, monkeypatch,
                                wrap=_cached_extraction)
        assert verdict.score == pytest.approx(share), (seed, verdict.message)
        assert any(w in verdict.message for w in ((word,) if isinstance(word, str) else word)), (seed,
                                                                                                 verdict.message)


def test_a_probe_that_extracts_in_every_epoch_runs_past_the_cells_limit(solution, draws):
    """Features recomputed in every epoch give the same predictions, so no value can price it: the cell's CPU limit
    does. One extraction of a case's training images, timed here, times the epochs of both draws must exceed the
    limit that the cached probe stays far under."""
    namespace, _, _ = solution
    limit = json.loads((ROOT / "course" / "timeouts.json").read_text())["cells"]["a4-probe"]
    cases, _ = draws(0, "a4-probe")
    extractor = namespace["vgg16_features"](weights="imagenet")[:10]
    images = torch.from_numpy(cases[0]["train_images"])
    namespace["extract_features"](extractor, images)  # warm up
    start = time.process_time()
    namespace["extract_features"](extractor, images)
    once = time.process_time() - start
    uncached = once * sum(case["epochs"] for case in cases)
    cached = once * sum(1 + len(case["test_images"]) / len(case["train_images"]) for case in cases)
    assert uncached > limit > 5 * cached, (once, uncached, cached, limit)


FINETUNE = "a4-finetune-solution"
FINETUNE_BODY = '''    freeze(model.features[:10])
    top = model.features[10:]
    for p in top.parameters():
        p.requires_grad_(True)
    return torch.optim.Adam([{"params": list(top.parameters()), "lr": top_lr},
                             {"params": list(model.head.parameters()), "lr": head_lr}])
'''
FINETUNE_MUTANTS = {
    "reference": (FINETUNE_BODY, 1.0, "two parameter groups"),
    "learning rates swapped": (FINETUNE_BODY.replace('"lr": top_lr}', '"lr": HEAD}').replace(
        '"lr": head_lr}', '"lr": top_lr}').replace('"lr": HEAD}', '"lr": head_lr}'), 2 / 3, "swapped"),
    "one group at head_lr": (FINETUNE_BODY.replace(
        'return torch.optim.Adam([{"params": list(top.parameters()), "lr": top_lr},\n'
        '                             {"params": list(model.head.parameters()), "lr": head_lr}])',
        'return torch.optim.Adam(list(top.parameters()) + list(model.head.parameters()), lr=head_lr)'), 2 / 3,
        "share one learning rate"),
    "head left out": (FINETUNE_BODY.replace(',\n                             {"params": list(model.head.parameters()), '
                                            '"lr": head_lr}', ''), 1 / 3, "head did not learn"),
    "block 3 left frozen": (FINETUNE_BODY.replace("p.requires_grad_(True)", "p.requires_grad_(False)"), 1 / 3,
                            "block 3 did not learn"),
    "everything frozen first (block 3 too)": (FINETUNE_BODY.replace("    freeze(model.features[:10])\n",
                                                                    "    freeze(model.features)\n").replace(
        "    for p in top.parameters():\n        p.requires_grad_(True)\n", ""), 1 / 3, "block 3 did not learn"),
    "blocks 1-2 learn too (the frozen group fine-tuned)": (FINETUNE_BODY.replace(
        "    freeze(model.features[:10])\n", "").replace('list(top.parameters()), "lr": top_lr',
                                                        'list(model.features.parameters()), "lr": top_lr'), 1 / 3,
        "blocks 1-2 learned"),
    "every parameter at head_lr": ("    return torch.optim.Adam(model.parameters(), lr=head_lr)\n", 1 / 3,
                                   "every parameter"),
    "blocks 1-2 frozen at the wrong index": (FINETUNE_BODY.replace("model.features[:10]", "model.features[:5]")
                                             .replace("model.features[10:]", "model.features[5:]"), 0.0,
                                             "no sensible grouping"),
    "nothing learns": ("    return torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=head_lr)\n", 0.0,
                       "no sensible grouping"),
}


@pytest.mark.parametrize("mutant", sorted(FINETUNE_MUTANTS))
def test_finetune_mutants_earn_their_share(solution, draws, tmp_path, monkeypatch, mutant):
    """One seed: the groupings' runs are audited far apart on every seed (tests/test_check_seeds.py), this maps
    each way of writing the mistake onto its grouping."""
    body, share, word = FINETUNE_MUTANTS[mutant]
    code = _solution_with(solution, FINETUNE, (FINETUNE_BODY, body))
    verdict = _mutant_share(solution, draws, "a4-finetune", 0, code, tmp_path, monkeypatch)
    assert verdict.score == pytest.approx(share), verdict.message
    assert word in verdict.message, verdict.message


STRATEGY_MUTANTS = {
    "reference": ({}, 1.0),
    "small-different with the top features": ({"small-different": "linear-top"}, 0.75),
    "large-similar fine-tuned more": ({"large-similar": "fine-tune-more"}, 0.75),
    "large-different from scratch (accepted)": ({"large-different": "scratch"}, 1.0),
    "every situation linear-top": (dict.fromkeys(["small-different", "large-similar", "large-different"],
                                                 "linear-top"), 0.25),
    "nothing chosen": (dict.fromkeys(["small-similar", "small-different", "large-similar", "large-different"], "None"),
                       0.0),
}


@pytest.mark.parametrize("mutant", sorted(STRATEGY_MUTANTS))
def test_strategy_mutants_earn_their_share(draws, mutant):
    changes, share = STRATEGY_MUTANTS[mutant]
    table = {"small-similar": "linear-top", "small-different": "linear-earlier", "large-similar": "fine-tune-top",
             "large-different": "fine-tune-more", **changes}
    _, judge = draws(0, "a4-strategy")
    assert judge([], {"strategy": table}).score == pytest.approx(share)
