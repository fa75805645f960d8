"""Judging: the grader's side of a hidden test. Inputs chosen here, answers judged here, the kernel trusted with
nothing.

Imported only in the grader's process (nbgrader's), never in a student's kernel. Each assignment has one module of
judges at ``course/judges/<assignment>.py`` (``course/checks/`` in courses written before)::

    from coursekit.course.judging import hidden_test, Verdict, Raised, Missing, compare

    KERNEL_HIDES = {"coursekit.nn.functional.batchnorm": ["batchnorm_forward", ...]}
    KERNEL_TORCH = False
    KERNEL_EXCLUDES = ["scipy", "skimage", "sklearn"]

    @hidden_test("a2-forward")
    def forward(rng):
        cases, expected = ..., ...
        def judge(answers, records) -> Verdict: ...
        return cases, judge

Before the kernel starts, every hidden test of the notebook runs with a generator seeded by a secret the kernel
never sees (per course, student and test cell: ``coursekit.course.seeds``); its cases go to the kernel
(``coursekit.course.answers``). The kernel's test cell calls ``coursekit.grading.answer`` on them; afterwards the
answers are read back and handed to the judge, which holds the expected values and returns a ``Verdict``.

What the kernel can import: ``KERNEL_HIDES`` replaces the listed names of coursekit by stubs
(``coursekit.course.package_view``); ``KERNEL_TORCH = False`` leaves PyTorch out of the kernel's site-packages;
``KERNEL_PACKAGES`` is the allow-list: the kernel's site-packages hold these, ipykernel and coursekit, and what they
require, and nothing else (default: numpy, matplotlib, tqdm, plus torch unless ``KERNEL_TORCH = False``); anything
else installed in the environment (scipy, scikit-learn, onnx, ...) is absent. ``KERNEL_EXCLUDES`` (default: nothing)
takes packages out of that (``coursekit.course.kernel_packages``).
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass, field
from pathlib import Path

from ..grading.compare import as_numbers, difference

__all__ = ["hidden_test", "check", "Verdict", "Raised", "Missing", "compare", "unusable", "first_problem",
           "score_parts", "NOT_RUN", "JudgeModule", "load_judges", "judges_dir", "CellAnswers", "call_judge"]

_HIDDEN_TEST_ATTRIBUTE = "__coursekit_hidden_test__"
DEFAULT_KERNEL_PACKAGES = ("numpy", "matplotlib", "tqdm")


@dataclass(frozen=True)
class Verdict:
    """score: the fraction of the cell's points earned, in [0, 1]; message: what the student reads."""

    score: float
    message: str

    def __post_init__(self):
        score = float(self.score)
        if not 0.0 <= score <= 1.0 or score != score:
            raise ValueError(f"Verdict score must be a fraction in [0, 1], got {self.score!r}")
        object.__setattr__(self, "score", score)
        object.__setattr__(self, "message", str(self.message))


@dataclass(frozen=True)
class Raised:
    """The student's code raised instead of returning: the exception's type name and message."""

    type: str
    message: str

    def __str__(self) -> str:
        return f"{self.type}: {self.message}" if self.message else self.type


class _MissingType:
    """No answer arrived: the cell did not run, ran out of time, or the kernel died before it answered."""

    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "Missing"

    def __bool__(self) -> bool:
        return False


Missing = _MissingType()


@dataclass(frozen=True)
class CellAnswers:
    """What one judged test cell left, sealed when the cell ended: its answers (one per case: a value, a Raised or
    Missing), its records (key -> value) and the limits it ran into ("cpu", "output", ... see execute.Limit)."""

    answers: list
    records: dict
    limits: tuple = ()


def call_judge(judge, answers, records, cells):
    """judge(answers, records), or judge(answers, records, cells) for a judge that takes a third argument: cells
    maps every judged cell's grade_id to its ``CellAnswers``, so a judge can hold a function to its behaviour on the
    same inputs in another cell (a function that answers differently depending on who calls it earns no more than
    its worst behaviour) or credit consistency only with a helper tested elsewhere."""
    import inspect

    try:
        parameters = [p for p in inspect.signature(judge).parameters.values()
                      if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        parameters = []
    if len(parameters) >= 3:
        return judge(answers, records, cells)
    return judge(answers, records)


def hidden_test(grade_id: str):
    """Register the decorated function as the grader's side of the test cell ``grade_id``.

    The function takes a numpy Generator and returns ``(cases, judge)``: a list of dicts of inputs, and
    ``judge(answers, records) -> Verdict`` (or ``judge(answers, records, cells)``: see ``call_judge``).
    """
    if not isinstance(grade_id, str) or not grade_id:
        raise ValueError(f"hidden_test: grade_id must be a non-empty str, got {grade_id!r}")

    def register(fn):
        setattr(fn, _HIDDEN_TEST_ATTRIBUTE, grade_id)
        return fn

    return register


check = hidden_test  # the name judge modules written before used


NOT_RUN = "no answer: the cell did not get this far (it was not run, ran out of time, or the kernel stopped)"


def unusable(got, what: str) -> str | None:
    """A message when an answer is not a value at all (it raised, or it never came back), else None."""
    if got is Missing:
        return f"{what}: {NOT_RUN}"
    if isinstance(got, Raised):
        return f"{what} raised {got}"
    return None


def first_problem(problems: list, total: int | None = None) -> str | None:
    """The first of the cases' problems (None entries are cases that passed), with how many were wrong."""
    wrong = [p for p in problems if p]
    if not wrong:
        return None
    total = len(problems) if total is None else total
    return wrong[0] + (f" ({len(wrong)} of {total} cases wrong)" if len(wrong) > 1 else "")


def score_parts(parts) -> Verdict:
    """parts: (weight, what it covers, problem or None) -> the weighted score and one line per part."""
    score = sum(weight for weight, _, problem in parts if problem is None)
    lines = [f"{what}: {'correct' if problem is None else problem}" for _, what, problem in parts]
    return Verdict(min(1.0, max(0.0, round(score, 9))), "\n".join(lines))


def compare(got, want, what: str, rtol: float = 1e-6, atol: float = 1e-8) -> str | None:
    """None when ``got`` matches ``want`` within tolerance; otherwise a message a student can act on.

    A Raised or Missing answer is a mismatch with its own message, never an exception; the comparison itself is
    ``coursekit.grading.compare.difference``, the one the kernel's visible checks use too.
    """
    if isinstance(got, Raised):
        return f"{what}: expected numbers of shape {_shape(want)}, got raised {got}"
    if got is Missing:
        return f"{what}: expected numbers of shape {_shape(want)}, got no answer (the cell did not run to this " \
               "point, or the kernel stopped)"
    return difference(got, want, what, rtol=rtol, atol=atol)


def _shape(want) -> tuple:
    return tuple(as_numbers(want).shape)


# ------------------------------------------------------------------------------------------- judge modules
@dataclass
class JudgeModule:
    """What course/judges/<assignment>.py declares."""

    assignment: str
    path: Path | None = None
    tests: dict = field(default_factory=dict)    # grade_id -> function(rng) -> (cases, judge)
    kernel_hides: dict = field(default_factory=dict)
    kernel_torch: bool = True
    kernel_excludes: list = field(default_factory=list)
    kernel_packages: list | None = None            # the allow-list; None: every installed package

    @property
    def checks(self) -> dict:  # the name used before
        return self.tests


def judges_dir(course_dir: Path) -> Path:
    """The course's folder of judge modules: judges/, or checks/ in a course written before the rename."""
    course_dir = Path(course_dir)
    if not (course_dir / "judges").is_dir() and (course_dir / "checks").is_dir():
        return course_dir / "checks"
    return course_dir / "judges"


def load_judges(assignment: str, course_dir: Path) -> JudgeModule:
    """The judges of one assignment (an empty JudgeModule when it has no module: nbgrader's own way)."""
    from .kernel_packages import KERNEL_ESSENTIALS, normalise_name

    path = judges_dir(course_dir) / f"{assignment}.py"
    if not path.is_file():
        return JudgeModule(assignment)
    name = f"coursekit_judges_{assignment}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling-free helpers look their module up by name
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop(name, None)
    found = {}
    for value in vars(module).values():
        grade_id = getattr(value, _HIDDEN_TEST_ATTRIBUTE, None)
        if grade_id is None or not callable(value):
            continue
        if grade_id in found and found[grade_id] is not value:
            raise ValueError(f"{path}: two hidden tests registered for {grade_id!r}")
        found[grade_id] = value
    hides = getattr(module, "KERNEL_HIDES", {}) or {}
    if not isinstance(hides, dict) or not all(isinstance(k, str) and isinstance(v, (list, tuple))
                                              for k, v in hides.items()):
        raise ValueError(f"{path}: KERNEL_HIDES must map module names to lists of names")
    excludes = getattr(module, "KERNEL_EXCLUDES", []) or []
    if isinstance(excludes, str) or not isinstance(excludes, (list, tuple)) or not all(
            isinstance(e, str) and e.strip() for e in excludes):
        raise ValueError(f"{path}: KERNEL_EXCLUDES must be a list of package names")
    essential = sorted(e for e in excludes if normalise_name(e) in KERNEL_ESSENTIALS)
    if essential:
        raise ValueError(f"{path}: KERNEL_EXCLUDES names packages the kernel needs: {', '.join(essential)}")
    torch = bool(getattr(module, "KERNEL_TORCH", True))
    packages = getattr(module, "KERNEL_PACKAGES", None)
    if packages is None:
        # a judge module that names none: numpy, plots, progress bars, and torch where the assignment allows it
        packages = list(DEFAULT_KERNEL_PACKAGES) + (["torch"] if torch else [])
    if isinstance(packages, str) or not isinstance(packages, (list, tuple)) or not all(
            isinstance(p, str) and p.strip() for p in packages):
        raise ValueError(f"{path}: KERNEL_PACKAGES must be a list of package names")
    packages = [p.strip() for p in packages]
    torch = torch and any(normalise_name(p) == "torch" for p in packages)
    return JudgeModule(assignment, path, found, {k: list(v) for k, v in hides.items()}, torch,
                       [str(e).strip() for e in excludes], packages)
