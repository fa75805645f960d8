"""A notebook's cells as nbgrader marks them: test, solution and read-only cells, and hidden-test regions."""

from __future__ import annotations

import json
import re

import nbformat

__all__ = ["nbgrader_meta", "is_test", "is_readonly", "is_solution", "HIDDEN_REGION", "without_hidden_tests",
           "GRADING_KEYS"]

GRADING_KEYS = ("grade", "solution", "locked", "points", "grade_id")
HIDDEN_REGION = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS.*?^[ \t]*### END HIDDEN TESTS[^\n]*\n?", re.M | re.S)


def nbgrader_meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def is_test(cell) -> bool:
    meta = nbgrader_meta(cell)
    return bool(meta.get("grade")) and not meta.get("solution")


def is_solution(cell) -> bool:
    return bool(nbgrader_meta(cell).get("solution"))


def is_readonly(cell) -> bool:
    meta = nbgrader_meta(cell)
    return bool(meta.get("locked")) and not meta.get("grade") and not meta.get("solution")


def without_hidden_tests(nb):
    """A copy of nb with the hidden-test regions of its test cells cut out."""
    copy = nbformat.from_dict(json.loads(json.dumps(nb)))
    for cell in copy.cells:
        if is_test(cell):
            cell.source = HIDDEN_REGION.sub("", cell.source)
    return copy
