"""The grader's side of a hidden test: inputs chosen here, answers judged here, the kernel trusted with nothing.

Imported only in the grader's process (nbgrader's), never in a student's kernel. Each assignment has one module of
checks at ``course/checks/<assignment>.py``::

    from coursekit.course.checks import check, Verdict, Raised, Missing, compare

    KERNEL_HIDES = {"coursekit.nn.functional.batchnorm": ["batchnorm_forward", ...]}
    KERNEL_TORCH = False
    KERNEL_EXCLUDES = ["scipy", "skimage", "sklearn"]

    @check("a2-forward")
    def forward(rng):
        cases, expected = ..., ...
        def judge(answers, records) -> Verdict: ...
        return cases, judge

Before the kernel starts, every check of the notebook runs with a generator seeded by a secret the kernel never
sees (per course, student and test cell); its cases are written into the kernel's scratch folder. The kernel's test
cell calls ``coursekit.grading.answer`` on them; afterwards this side reads the answers back (regular files only,
no links followed, size-bounded, ``np.load(allow_pickle=False)``) and hands them to the judge, which holds the
expected values and decides the score.

What the kernel can import: ``KERNEL_HIDES`` replaces the listed names of coursekit by stubs; ``KERNEL_TORCH =
False`` leaves PyTorch out of the kernel's site-packages; ``KERNEL_EXCLUDES`` (default: nothing) leaves out further
packages, by import or distribution name (``"scipy"``, ``"skimage"`` or ``"scikit-image"``), with their metadata
and bundled libraries, so that an exercise cannot be handed to a library that already does it (A1's convolution
to ``scipy.signal.correlate``, A3's segmentation to scikit-image). Packages the kernel needs to run (numpy,
ipykernel, ... ``sandbox.KERNEL_ESSENTIALS``) cannot be excluded. Without the sandbox (COURSEKIT_NO_SANDBOX=1)
neither torch nor the excluded packages can be hidden.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib.util
import os
import secrets
import stat
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..grading import MAX_VALUE_BYTES, WireError, decode_value, encode_value

__all__ = ["check", "Verdict", "Raised", "Missing", "compare", "unusable", "first_problem", "score_parts", "NOT_RUN",
           "CheckModule", "load_checks", "seed_for", "course_secret", "write_cases", "read_answers", "read_records",
           "MAX_RECORDS"]

MAX_RECORDS = 256                   # records one test cell may leave
MAX_ANSWER_FILE = MAX_VALUE_BYTES + (1 << 20)
MAX_CELL_BYTES = 512 << 20          # all answers of one test cell together
_CHECK_ATTRIBUTE = "__coursekit_check__"


# -------------------------------------------------------------------------------------------- the contract
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


def check(grade_id: str):
    """Register the decorated function as the check of the test cell ``grade_id``.

    The function takes a numpy Generator and returns ``(cases, judge)``: a list of dicts of inputs, and
    ``judge(answers, records) -> Verdict``.
    """
    if not isinstance(grade_id, str) or not grade_id:
        raise ValueError(f"check: grade_id must be a non-empty str, got {grade_id!r}")

    def register(fn):
        setattr(fn, _CHECK_ATTRIBUTE, grade_id)
        return fn

    return register


def _plain(x):
    """got as a float64 array, refusing anything that is not numbers (object arrays, ragged lists, strings)."""
    if isinstance(x, Raised):
        raise TypeError(f"raised {x}")
    if x is Missing:
        raise TypeError("no answer (the cell did not run to this point, or the kernel stopped)")
    if x is None:
        raise TypeError("None (did the function return its result?)")
    if isinstance(x, (str, bytes, dict)):
        raise TypeError(f"a {type(x).__name__}, not numbers")
    array = np.asarray(x)
    if array.dtype.kind not in "biuf":
        raise TypeError(f"not numbers (dtype {array.dtype})")
    return array.astype(np.float64)


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

    ``got`` is converted to a plain float64 array first (a Raised, Missing, None, object or ragged value is a
    mismatch with a message, never an exception); shapes must match exactly, NaN/inf are reported.
    """
    try:
        got_array = _plain(got)
    except (TypeError, ValueError) as exc:
        return f"{what}: expected numbers of shape {np.shape(want)}, got {exc}"
    want_array = np.asarray(want, dtype=np.float64)
    if got_array.shape != want_array.shape:
        return f"{what}: got shape {got_array.shape}, expected shape {want_array.shape}"
    finite = np.isfinite(got_array)
    if not finite.all() and not np.array_equal(np.isfinite(want_array), finite):
        index = tuple(int(i) for i in np.argwhere(~finite & np.isfinite(want_array))[0])
        return f"{what}: contains NaN or inf (first at index {index})"
    with np.errstate(invalid="ignore"):
        error = np.where(finite, np.abs(got_array - want_array), 0.0)
    bound = atol + rtol * np.abs(np.where(finite, want_array, 0.0))
    if got_array.size == 0 or not np.any(error > bound):
        return None
    index = np.unravel_index(int(np.argmax(error - bound)), error.shape)
    relative = error[index] / max(abs(want_array[index]), 1e-300)
    bad = int(np.count_nonzero(error > bound))
    where = tuple(int(i) for i in index)
    error_text = (f"relative error {relative:.2g}, tolerance {rtol:g}" if want_array[index] != 0 else
                  f"absolute error {error[index]:.2g}, tolerance {atol:g}")
    return (f"{what}: wrong at {bad} of {error.size} entries; worst at index {where}: got {got_array[index]:.6g}, "
            f"expected {want_array[index]:.6g} ({error_text})")


# ------------------------------------------------------------------------------------------ check modules
@dataclass
class CheckModule:
    """What course/checks/<assignment>.py declares."""

    assignment: str
    path: Path | None = None
    checks: dict = field(default_factory=dict)    # grade_id -> function(rng) -> (cases, judge)
    kernel_hides: dict = field(default_factory=dict)
    kernel_torch: bool = True
    kernel_excludes: list = field(default_factory=list)


def checks_dir(course_dir: Path | None = None) -> Path:
    from .plugins import COURSE_DIR

    return Path(course_dir or os.environ.get("COURSEKIT_COURSE_DIR") or COURSE_DIR) / "checks"


def load_checks(assignment: str, course_dir: Path | None = None) -> CheckModule:
    """The checks of one assignment (an empty CheckModule when it has no module: the old nbgrader way)."""
    path = checks_dir(course_dir) / f"{assignment}.py"
    if not path.is_file():
        return CheckModule(assignment)
    name = f"coursekit_checks_{assignment}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling-free helpers look their module up by name
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop(name, None)
    found = {}
    for value in vars(module).values():
        grade_id = getattr(value, _CHECK_ATTRIBUTE, None)
        if grade_id is None or not callable(value):
            continue
        if grade_id in found and found[grade_id] is not value:
            raise ValueError(f"{path}: two checks registered for {grade_id!r}")
        found[grade_id] = value
    hides = getattr(module, "KERNEL_HIDES", {}) or {}
    if not isinstance(hides, dict) or not all(isinstance(k, str) and isinstance(v, (list, tuple))
                                              for k, v in hides.items()):
        raise ValueError(f"{path}: KERNEL_HIDES must map module names to lists of names")
    excludes = getattr(module, "KERNEL_EXCLUDES", []) or []
    if isinstance(excludes, str) or not isinstance(excludes, (list, tuple)) or not all(
            isinstance(e, str) and e.strip() for e in excludes):
        raise ValueError(f"{path}: KERNEL_EXCLUDES must be a list of package names")
    from .sandbox import KERNEL_ESSENTIALS, _norm

    essential = sorted(e for e in excludes if _norm(e) in KERNEL_ESSENTIALS)
    if essential:
        raise ValueError(f"{path}: KERNEL_EXCLUDES names packages the kernel needs: {', '.join(essential)}")
    return CheckModule(assignment, path, found, {k: list(v) for k, v in hides.items()},
                       bool(getattr(module, "KERNEL_TORCH", True)), [str(e).strip() for e in excludes])


# ------------------------------------------------------------------------------------------------- seeds
def course_secret(course_dir: Path | None = None) -> bytes:
    """The course's grading secret (created once, readable by the instructor only; never inside a kernel)."""
    path = Path(course_dir or checks_dir().parent) / "grading_secret"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32) + "\n")
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd) as f:
        return f.read().strip().encode()


def seed_for(secret: bytes, student: str, assignment: str, grade_id: str) -> int:
    """A seed the kernel cannot derive: an HMAC of (student, assignment, cell) under the course's secret."""
    message = "\x00".join((student, assignment, grade_id)).encode()
    return int.from_bytes(hmac.new(secret, message, hashlib.sha256).digest()[:16], "little")


# ---------------------------------------------------------------------------------------- files on the wire
def write_cases(grading_dir: Path, grade_id: str, cases: list) -> None:
    """The cases of one cell, written by the grader before the kernel starts."""
    if not isinstance(cases, list) or not all(isinstance(c, dict) for c in cases):
        raise ValueError(f"check {grade_id!r} must return a list of dicts as its cases")
    folder = Path(grading_dir) / "cases"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{grade_id}.npz").write_bytes(encode_value(cases))


def _open_dir(parent_fd: int | None, name: str) -> int | None:
    try:
        return os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=parent_fd)
    except OSError:  # absent, a link, or not a folder: nothing there to read
        return None


def _read_regular(dir_fd: int, name: str, limit: int = MAX_ANSWER_FILE) -> bytes | None:
    """The bytes of a regular file in dir_fd, never following a link, never more than limit."""
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > limit:
            return None
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks) if size <= limit else None
    finally:
        os.close(fd)


def _answer_folder(grading_dir: Path, kind: str, grade_id: str) -> int | None:
    top = _open_dir(None, str(grading_dir))
    if top is None:
        return None
    try:
        middle = _open_dir(top, kind)
    finally:
        os.close(top)
    if middle is None:
        return None
    try:
        return _open_dir(middle, grade_id)
    finally:
        os.close(middle)


def read_answers(grading_dir: Path, grade_id: str, n_cases: int) -> list:
    """One entry per case: the decoded value, a Raised, or Missing (nothing, or nothing readable, came back)."""
    answers = [Missing] * n_cases
    folder = _answer_folder(grading_dir, "answers", grade_id)
    if folder is None:
        return answers
    budget = MAX_CELL_BYTES  # what one cell's answers may take of the grader's memory
    try:
        for index in range(n_cases):
            data = _read_regular(folder, f"{index}.npz", min(MAX_ANSWER_FILE, budget))
            if data is None:
                continue
            budget -= len(data)
            try:
                wrapped = decode_value(data)
            except (WireError, ValueError, RecursionError):
                continue
            if isinstance(wrapped, dict) and set(wrapped) == {"value"}:
                answers[index] = wrapped["value"]
            elif (isinstance(wrapped, dict) and set(wrapped) == {"raised"} and isinstance(wrapped["raised"], tuple)
                  and len(wrapped["raised"]) == 2 and all(isinstance(p, str) for p in wrapped["raised"])):
                answers[index] = Raised(*wrapped["raised"])
    finally:
        os.close(folder)
    return answers


def read_records(grading_dir: Path, grade_id: str) -> dict:
    """key -> value of what grading.record(grade_id, key, value) left (at most MAX_RECORDS, unreadable skipped)."""
    records = {}
    folder = _answer_folder(grading_dir, "records", grade_id)
    if folder is None:
        return records
    try:
        names = sorted(n for n in os.listdir(folder) if n.endswith(".npz"))[:MAX_RECORDS]
        budget = MAX_CELL_BYTES
        for name in names:
            data = _read_regular(folder, name, min(MAX_ANSWER_FILE, budget))
            if data is None:
                continue
            budget -= len(data)
            try:
                wrapped = decode_value(data)
            except (WireError, ValueError, RecursionError):
                continue
            if isinstance(wrapped, dict) and set(wrapped) == {"key", "value"} and isinstance(wrapped["key"], str):
                if name == hashlib.sha256(wrapped["key"].encode()).hexdigest()[:32] + ".npz":
                    records[wrapped["key"]] = wrapped["value"]
    finally:
        os.close(folder)
    return records
