"""Seed audit: no draw of the grader's secret generator can cost an honest student a point.

The secret seed differs per clone and per student, so a case generator that now and then draws a degenerate case (an
all-zero gradient, a tie, an empty mask, an ambiguous argmax, two procedures that coincide) would take points from a
correct submission on somebody's machine and never on ours. Here every check of Assignments 1-4 draws its cases from
many seeds and judges correct answers: for A1-A3 coursekit's reference functions applied to the cases (A2's whole
notebook at once, its judges reading each other's cells; tests/judge_harness.py) (the answers
tests/test_checks.py calls REFERENCE), for A4 the instructor's solution notebook run in this process, its hidden
tests answering through the real coursekit.grading into a grading folder, as a kernel does. Every seed must give
full credit.

Training is left out where it would take minutes per seed: A3's two training tiers are audited on their held-out
draws (non-empty masks, the true masks earn the tier) and A4's experiment (Part 7) on its draws (every class
present, the true labels earn every point). A4's probe and fine-tuning cells, which train for a few steps, run on
fewer seeds and are marked slow.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
from pathlib import Path

import numpy as np
import pytest

nbformat = pytest.importorskip("nbformat")

from coursekit.course.answers import read_answers, read_records, write_cases  # noqa: E402
from coursekit.course.judging import Verdict, load_judges  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SEEDS = range(30)
FEW_SEEDS = range(6)


def _test_checks():
    """tests/test_checks.py, for its REFERENCE answers (imported by path: tests/ is not a package)."""
    spec = importlib.util.spec_from_file_location("_reference_answers", ROOT / "tests" / "test_checks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


REFERENCE_TESTS = _test_checks()
# Assignment 2's judges read each other's cells (tests/judge_harness.py judges its whole notebook per seed)
WHOLE_NOTEBOOK = {"a2_batchnorm"}
CHEAP = [(a, g) for a, g in REFERENCE_TESTS.NOT_TRAINING if a not in WHOLE_NOTEBOOK]


def _seed(seed: int, grade_id: str) -> np.random.Generator:
    """a generator like the grader's: a different stream per secret seed and per cell"""
    return np.random.default_rng([seed, sum(grade_id.encode())])


# --------------------------------------------------------------------------------------------------- A1-A3
@pytest.mark.parametrize("assignment,grade_id", CHEAP)
def test_reference_answers_earn_full_marks_on_every_seed(assignment, grade_id):
    module = load_judges(assignment, ROOT / "course")
    answer = REFERENCE_TESTS.REFERENCE[assignment][grade_id]
    wire = REFERENCE_TESTS._wire
    lost = {}
    for seed in SEEDS:
        cases, judge = module.tests[grade_id](_seed(seed, grade_id))
        cases = wire(cases)
        answers = []
        for case in cases:
            try:
                answers.append(wire(answer(case)))
            except Exception as exc:  # noqa: BLE001 - a reference that raises is what a ValueError case expects
                answers.append(REFERENCE_TESTS.Raised(type(exc).__name__, str(exc)))
        verdict = judge(answers, {})
        if verdict.score != 1.0:
            lost[seed] = verdict.message
    assert not lost, f"{grade_id}: the reference lost points on {len(lost)} of {len(SEEDS)} seeds: {lost}"


@pytest.mark.parametrize("assignment", sorted(WHOLE_NOTEBOOK))
def test_reference_notebook_earns_full_marks_on_every_seed(assignment):
    """Every cell drawn in notebook order and judged with every cell's answers, as the grader does: the reference
    answers (tests/test_checks.py) and the instructor's solution run cell by cell (judge_harness.student) both earn
    every point on every seed."""
    from judge_harness import Drawn, student

    answers = {"reference answers": lambda grade_id, case: REFERENCE_TESTS.REFERENCE[assignment][grade_id](case),
               "the solution": student(assignment)}
    lost = {}
    for seed in SEEDS:
        drawn = Drawn(assignment, seed)
        for who, answer in answers.items():
            for grade_id, verdict in drawn.grade(answer).items():
                if verdict.score != 1.0:
                    lost[(who, seed, grade_id)] = verdict.message
    assert not lost, f"the reference lost points on {len(lost)} (student, seed, cell)s: {lost}"


def _check_module(assignment):
    """course/judges/<assignment>.py as a module, for its helpers (load_judges returns only the hidden tests)"""
    path = ROOT / "course" / "judges" / f"{assignment}.py"
    spec = importlib.util.spec_from_file_location(f"_audit_{assignment}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("grade_id", ["a3-train-80", "a3-train-90"])
def test_training_draws_are_never_degenerate(grade_id):
    """A3's held-out draws: every image has foreground and background, and the true masks earn the tier."""
    a3 = _check_module("a3_unet")
    for seed in SEEDS[:10]:  # 128 images each: the generator is the same code for every seed
        cases, judge = load_judges("a3_unet", ROOT / "course").tests[grade_id](_seed(seed, grade_id))
        images, masks = a3.held_out(int(_seed(seed, grade_id).integers(10, 2**31)))
        assert np.array_equal(cases[0]["images"], images)
        covered = masks.reshape(len(masks), -1).mean(1)
        assert covered.min() > 0.01 and covered.max() < 0.9, (seed, covered.min(), covered.max())
        assert judge([masks], {}).score == 1.0


# -------------------------------------------------------------------------------------------------------- A4
A4 = "a4_vgg_transfer"
A4_SLOW = {"a4-probe", "a4-finetune"}   # a few training steps per case, on the kernel's side and the grader's


def _meta(cell):
    return cell.metadata.get("nbgrader", {})


@pytest.fixture(scope="module")
def a4_solution(tmp_path_factory):
    """The solution notebook's code run once in a namespace (no grading folder: its hidden tests answer nothing);
    returns (namespace, {grade_id: test cell source})."""
    pytest.importorskip("torch")
    nb = nbformat.read(ROOT / "solutions" / A4 / "vgg_transfer.ipynb", as_version=4)
    namespace = {"__name__": "__main__"}
    tests = {}
    skip = {"a4-explore", "a4-experiment-5", "a4-experiment-10", "a4-experiment-30", "a4-faces"}
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("COURSEKIT_GRADING_DIR", raising=False)
        mp.setenv("MPLBACKEND", "Agg")
        for cell in nb.cells:
            grade_id = _meta(cell).get("grade_id")
            if cell.cell_type != "code" or grade_id in skip:
                continue
            if _meta(cell).get("grade"):
                tests[grade_id] = cell.source
            with contextlib.redirect_stdout(io.StringIO()):
                exec(compile(cell.source, grade_id or "cell", "exec"), namespace)
    return namespace, tests


def _audit_a4(grade_id, seeds, a4_solution, tmp_path, monkeypatch):
    namespace, tests = a4_solution
    module = load_judges(A4, ROOT / "course")
    lost = {}
    for seed in seeds:
        grading_dir = tmp_path / f"grading-{seed}"
        for sub in ("cases", "answers", "records"):
            (grading_dir / sub).mkdir(parents=True)
        cases, judge = module.tests[grade_id](_seed(seed, grade_id))
        write_cases(grading_dir, grade_id, cases)
        monkeypatch.setenv("COURSEKIT_GRADING_DIR", str(grading_dir))
        with contextlib.redirect_stdout(io.StringIO()):
            exec(compile(tests[grade_id], grade_id, "exec"), namespace)
        verdict = judge(read_answers(grading_dir, grade_id, len(cases)), read_records(grading_dir, grade_id))
        assert isinstance(verdict, Verdict)
        if verdict.score != 1.0:
            lost[seed] = verdict.message
    assert not lost, f"{grade_id}: the solution lost points on {len(lost)} of {len(seeds)} seeds: {lost}"


@pytest.mark.parametrize("grade_id", ["a4-strategy", "a4-preprocess", "a4-head", "a4-freeze", "a4-extract"])
def test_a4_solution_earns_full_marks_on_every_seed(grade_id, a4_solution, tmp_path, monkeypatch):
    _audit_a4(grade_id, SEEDS, a4_solution, tmp_path, monkeypatch)


@pytest.mark.slow
@pytest.mark.parametrize("grade_id", sorted(A4_SLOW))
def test_a4_training_probes_earn_full_marks_on_every_seed(grade_id, a4_solution, tmp_path, monkeypatch):
    _audit_a4(grade_id, FEW_SEEDS, a4_solution, tmp_path, monkeypatch)


def test_a4_experiment_draws_hold_every_class():
    """Part 7 needs minutes of training per draw; its draws are audited instead: its three cells (5, 10, 30 labels,
    drawn in that order for one submission) label every class k times, the held-out digits are the same test-split
    digits in all three with every class among them, and the true labels earn every point."""
    from types import SimpleNamespace

    from coursekit.data.mnist import mnist_arrays

    module = load_judges(A4, ROOT / "course")
    images, labels = mnist_arrays()
    lookup = {img.tobytes(): lab for img, lab in zip(images, labels)}
    cells = {5: "a4-experiment-5", 10: "a4-experiment-10", 30: "a4-experiment-30"}
    for seed in SEEDS[:10]:
        drawn = {k: module.tests[gid](_seed(seed, gid)) for k, gid in cells.items()}  # the grader's order
        truth = np.array([lookup[img[0].tobytes()] for img in drawn[5][0][0]["test_images"]])
        assert set(truth) == set(range(10))
        sealed = {}
        for k, (cases, judge) in drawn.items():
            assert np.array_equal(cases[0]["test_images"], drawn[5][0][0]["test_images"])
            for case in cases:
                assert np.bincount(case["train_labels"], minlength=10).tolist() == [k] * 10
            # perfect predictions, and a control 20% worse (as a learning control is): every point
            worse = truth.copy()
            worse[::5] = (worse[::5] + 1) % 10
            scratch = truth.copy()
            scratch[1::7] = (scratch[1::7] + 1) % 10  # a method of its own: not the pretrained run's predictions
            answers = [{"pretrained": truth, "random": worse, "scratch": scratch}[case["method"]] for case in cases]
            sealed[cells[k]] = SimpleNamespace(answers=answers)
            verdict = judge(answers, {}, sealed) if k == 30 else judge(answers, {})
            assert verdict.score == 1.0, (seed, k, verdict.message)


def test_a4_freeze_procedures_are_far_apart():
    """The freeze judge tells a mistake from the reference by recomputing each; on every seed the procedures must
    differ by several times the tolerance that absorbs another CPU's rounding (1e-3) in the head's weights or in
    the outputs (the judge needs both to match)."""
    pytest.importorskip("torch")
    a4 = _check_module(A4)
    for seed in SEEDS:
        cases, _ = load_judges(A4, ROOT / "course").tests["a4-freeze"](_seed(seed, "a4-freeze"))
        for case in cases:
            runs = [a4._freeze_run(case, *variant) for variant in a4.FREEZE_VARIANTS]
            for i in range(len(runs)):
                for j in range(i):
                    assert not (a4._close(runs[i]["logits"], runs[j]["logits"], 5e-3)
                                and a4._close(runs[i]["head"], runs[j]["head"], 5e-3)), (seed, i, j)


@pytest.mark.slow
def test_a4_finetune_groupings_are_far_apart():
    pytest.importorskip("torch")
    a4 = _check_module(A4)
    for seed in FEW_SEEDS:
        cases, _ = load_judges(A4, ROOT / "course").tests["a4-finetune"](_seed(seed, "a4-finetune"))
        for case in cases:
            runs = [a4._finetune_run(case, groups) for groups, _, _ in a4.FINETUNE_VARIANTS.values()]
            for i in range(len(runs)):
                for j in range(i):
                    assert not (a4._close(runs[i]["logits"], runs[j]["logits"], 1e-2)
                                and a4._close(runs[i]["head"], runs[j]["head"], 1e-2)), (seed, i, j)
