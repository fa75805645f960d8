"""The hidden-test helpers: what a hidden test cell calls inside the student's kernel.

``cases(grade_id)`` gives the inputs the grader prepared for a test cell; ``answer(grade_id, fn)`` calls the
student's code on each and records what comes back as plain data (``coursekit.grading.wire``); ``record(grade_id,
key, value)`` records one named value. Nothing here compares, scores or knows an expected value: the grader's
process reads the recorded answers and decides every grade (``coursekit.course.judging``).
"""

from __future__ import annotations

import os
from pathlib import Path

from .wire import (
    ANSWERS,
    CASES,
    GRADING_DIR_ENV,
    RECORDS,
    WireError,
    answer_file,
    case_file,
    check_grade_id,
    decode_value,
    encode_value,
    record_file,
)

__all__ = ["cases", "answer", "record", "run_region"]


def _grading_dir() -> Path | None:
    folder = os.environ.get(GRADING_DIR_ENV)
    return Path(folder) if folder else None


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(data)
    os.replace(partial, path)  # a kernel killed mid-write leaves no half answer behind


def cases(grade_id: str) -> list[dict]:
    """The inputs the grader prepared for this test cell: a list of dicts of name -> value.

    Raises RuntimeError outside grading: hidden cases exist only while the autograder runs the notebook.
    """
    check_grade_id(grade_id)
    folder = _grading_dir()
    path = folder / CASES / case_file(grade_id) if folder else None
    if path is None or not path.is_file():
        raise RuntimeError(f"hidden test cases for {grade_id!r} exist only while the notebook is being graded")
    found = decode_value(path.read_bytes())
    if not isinstance(found, list) or not all(isinstance(c, dict) for c in found):
        raise RuntimeError(f"the hidden cases for {grade_id!r} are malformed")
    return found


def answer(grade_id: str, fn) -> None:
    """Call fn(case) on every case of this test cell and record each return value (as plain data) or the
    exception it raised. Never raises: a bug on one case does not stop the others. Outside grading it does
    nothing (there are no hidden cases to answer)."""
    try:
        all_cases = cases(grade_id)
        folder = _grading_dir() / ANSWERS / grade_id
    except (RuntimeError, ValueError, WireError, OSError):
        return
    for index, case in enumerate(all_cases):
        try:
            try:
                data = encode_value({"value": fn(case)})
            except KeyboardInterrupt:  # the grader's interrupt (time limit): stop answering
                raise
            except BaseException as exc:  # noqa: BLE001 - a student's bug, sys.exit() included, is an answer
                data = encode_value({"raised": (type(exc).__name__, str(exc)[:2000])})
            _write_atomic(folder / answer_file(index), data)
        except KeyboardInterrupt:
            raise
        except BaseException:  # noqa: BLE001 - e.g. the scratch disk is full: this case stays Missing
            continue


def record(grade_id: str, key: str, value) -> None:
    """Record one named plain-data value for the grader (predictions, a parameter count, a history ...).

    Raises ValueError (bad grade_id or key) or WireError (a value that is not plain data) so the mistake shows.
    Outside grading it does nothing.
    """
    check_grade_id(grade_id)
    if not isinstance(key, str) or not 0 < len(key) <= 200:
        raise ValueError(f"key must be a non-empty str of at most 200 characters, got {key!r}")
    folder = _grading_dir()
    if folder is None or not (folder / CASES).is_dir():
        return
    data = encode_value({"key": key, "value": value})
    _write_atomic(folder / RECORDS / grade_id / record_file(key), data)



_REGIONS: dict = {}  # what the hidden regions of this notebook defined, for the hidden regions after them


def run_region(source: str, namespace: dict) -> None:
    """Run a hidden-test region (the grader sends judged test cells this way) in a namespace of its own: a copy of
    the notebook's, so the student's functions are visible to it, plus what earlier hidden regions defined (one
    test may use a helper an earlier one wrote). Nothing it defines is put into the notebook's namespace, so no
    later student cell meets it among its globals."""
    private = dict(namespace)
    private.update(_REGIONS)
    before = dict(private)
    exec(compile(source, "<hidden test>", "exec"), private)  # noqa: S102 - the instructor's test code
    _REGIONS.update({k: v for k, v in private.items() if k not in before or before[k] is not v})
