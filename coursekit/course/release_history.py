"""The course's release history: every version of every test and read-only cell the instructor published.

``coursekit release`` adds to ``course/release_history.json`` (``record_release``); normalisation reads it
(``load_release_history``) so a test cell equal to any released version is never taken for a student's edit, and
a test fixed after release runs, fixed, for everyone. ``release_from_gradebook`` rebuilds a released notebook from
the gradebook's record when the release folder is gone.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat

from .cells import is_readonly, is_test, nbgrader_meta

__all__ = ["RELEASE_HISTORY", "source_digest", "load_release_history", "record_release", "release_from_gradebook"]

RELEASE_HISTORY = "release_history.json"  # in the course directory, written by every `coursekit release`


def source_digest(source: str) -> str:
    import hashlib

    return "sha256:" + hashlib.sha256(source.encode("utf-8")).hexdigest()


def load_release_history(path) -> dict:
    """{assignment: {notebook name (no .ipynb): {grade_id: [digest, ...]}}} of every version released; {} when the
    course has none yet."""
    try:
        with open(path) as f:
            data = json.load(f)
    except FileNotFoundError:
        return {}
    if not isinstance(data, dict) or not isinstance(data.get("assignments"), dict):
        raise ValueError(f"{path}: not a coursekit release history (no 'assignments' mapping)")
    return data["assignments"]


def record_release(path, assignment: str, release_folder) -> None:
    """Add the test and read-only cells of a released assignment to the course's release history, so a cell equal
    to any version the instructor published is never taken for a student's edit (a test fixed after release then
    runs, fixed, for everyone). Written atomically; earlier versions are kept."""
    path = Path(path)
    history = load_release_history(path)
    notebooks = history.setdefault(assignment, {})
    for released in sorted(Path(release_folder).glob("*.ipynb")):
        cells = notebooks.setdefault(released.stem, {})
        for cell in nbformat.read(released, as_version=4).cells:
            grade_id = nbgrader_meta(cell).get("grade_id")
            if grade_id and (is_test(cell) or is_readonly(cell)):
                digests = cells.setdefault(grade_id, [])
                if source_digest(cell.source) not in digests:
                    digests.append(source_digest(cell.source))
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps({"format": 1, "assignments": history}, indent=1, sort_keys=True) + "\n")
    os.replace(partial, path)


def release_from_gradebook(db_url: str, assignment: str, notebook: str):
    """The released notebook as the gradebook records it (for grading once the release folder is gone): its
    graded, solution, task and read-only cells in the release's order, with their nbgrader metadata, and its
    kernelspec. Other cells are not recorded, so they are absent."""
    import warnings

    from nbgrader.api import Gradebook

    warnings.filterwarnings("ignore", module="nbgrader.api")
    with Gradebook(db_url) as gb:
        record = gb.find_notebook(notebook, assignment)
        points = {c.name: c.max_score for c in record.grade_cells}
        tasks = {c.name: c.max_score for c in record.task_cells}
        solutions = {c.name for c in record.solution_cells}
        cells = []
        # in the order nbgrader recorded them (the release's; ids are random, not a sequence)
        for source in record.source_cells:
            meta = {"grade": source.name in points, "solution": source.name in solutions, "locked": bool(source.locked),
                    "grade_id": source.name, "schema_version": 3}
            if source.name in points:
                meta["points"] = points[source.name]
            if source.name in tasks:
                meta.update(task=True, points=tasks[source.name])
            maker = {"code": nbformat.v4.new_code_cell, "raw": nbformat.v4.new_raw_cell}.get(
                source.cell_type, nbformat.v4.new_markdown_cell)
            cell = maker(source.source)
            cell.metadata["nbgrader"] = meta
            cells.append(cell)
        nb = nbformat.v4.new_notebook(cells=cells)
        if record.kernelspec:
            nb.metadata["kernelspec"] = json.loads(record.kernelspec)
    return nb
