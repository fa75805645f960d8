"""Normalisation: a submission's graded structure made the release's before anything runs.

``NormaliseNotebook`` (nbgrader's sanitize stage, before ``OverwriteCells``) compares the submission with the
release. Cells whose grade_id the release does not know, and every copy of an id but the one graded (the one whose
Jupyter cell id is the release's, else the last: ``graded_copies``), become ordinary cells (their code still
runs); each graded or read-only cell gets the release's metadata and cell type back; deleted ones are put back
where they were. A test cell whose code was edited is marked (``EDITED_KEY``): OverwriteCells restores the
instructor's code, it runs as written, and the edit is reported (``verdicts.ReportEdits``).
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Unicode

from .cells import GRADING_KEYS, is_readonly, is_test, nbgrader_meta
from .config import COURSE_DIR, RESTORED_CELL_NOTICE
from .release_history import RELEASE_HISTORY, load_release_history, release_from_gradebook, source_digest

__all__ = ["EDITED_KEY", "RESTORED_CELL_NOTICE", "graded_copies", "kernel_problem", "release_differences",
           "normalise", "NormaliseNotebook"]

GRADER_METADATA_PREFIX = "coursekit"  # cell metadata keys only the grader writes (EDITED_KEY, verdict marks, ...)
EDITED_KEY = "coursekit_edited"


def graded_copies(nb, release) -> dict:
    """grade_id -> the index in nb.cells of the copy that is graded, for every grade_id the release knows.

    A pasted copy of a cell keeps its nbgrader metadata but gets a new Jupyter cell id: the copy whose cell id is
    the release's is the original; without one, the last copy (a test comes after the answer it tests, so a copy
    pasted above it is not the one that should run last)."""
    released = {nbgrader_meta(c)["grade_id"]: c for c in release.cells if nbgrader_meta(c).get("grade_id")}
    copies: dict = {}
    for index, cell in enumerate(nb.cells):
        grade_id = nbgrader_meta(cell).get("grade_id")
        if grade_id in released and "nbgrader" in cell.get("metadata", {}):
            copies.setdefault(grade_id, []).append(index)
    chosen = {}
    for grade_id, indices in copies.items():
        release_id = released[grade_id].get("id")
        same_id = [i for i in indices if release_id and nb.cells[i].get("id") == release_id]
        chosen[grade_id] = same_id[0] if same_id else indices[-1]
    return chosen



def kernel_problem(nb) -> str | None:
    """Why coursekit cannot grade this notebook's kernel (None for Python): its sandbox, limits and hidden checks
    are Python's."""
    spec = nb.get("metadata", {}).get("kernelspec") or {}
    language = spec.get("language") or (nb.get("metadata", {}).get("language_info") or {}).get("name") or "python"
    if str(language).lower() in ("python", "python3"):
        return None
    kernel = spec.get("display_name") or spec.get("name") or language
    return (f"it runs on the {kernel!r} kernel ({language}); coursekit grades notebooks on Python kernels only, "
            "so nothing was graded")


def release_differences(nb, release, history: dict | None = None) -> list[dict]:
    """Test and read-only cells of the release that the notebook lacks or changed (the copy graded_copies picks).
    history: {grade_id: digests of earlier released versions} (``load_release_history``); a cell equal to one of
    them was not changed by the student.

    Returns one {"grade_id", "kind" ("test" or "read-only"), "reasons" (list of str, empty when missing),
    "missing" (bool)} per such cell. Both the grader and `coursekit check` use this, so they agree.
    """
    history = history or {}
    mine = {grade_id: nb.cells[index] for grade_id, index in graded_copies(nb, release).items()}
    found = []
    for original in release.cells:
        grade_id = nbgrader_meta(original).get("grade_id")
        if grade_id is None or not (is_test(original) or is_readonly(original)):
            continue
        kind = "test" if is_test(original) else "read-only"
        cell = mine.get(grade_id)
        if cell is None:
            found.append({"grade_id": grade_id, "kind": kind, "reasons": [], "missing": True})
            continue
        reasons = []
        if cell.source != original.source and source_digest(cell.source) not in history.get(grade_id, ()):
            reasons.append("its code was edited")
        mine_meta, released_meta = nbgrader_meta(cell), nbgrader_meta(original)
        if {k: mine_meta.get(k) for k in GRADING_KEYS} != {k: released_meta.get(k) for k in GRADING_KEYS} \
                or cell.cell_type != original.cell_type:
            reasons.append("its grading metadata was changed")
        if reasons:
            found.append({"grade_id": grade_id, "kind": kind, "reasons": reasons, "missing": False})
    return found


def normalise(nb, release, log=None, history: dict | None = None) -> list[str]:
    """Make nb's graded structure the release's, in place; returns the grade_ids of test cells whose code was
    edited (each also marked with EDITED_KEY in its metadata). history: {grade_id: digests of every released
    version} (``load_release_history``): a test cell equal to an earlier release is not an edit; like every test
    cell, it runs as the current release has it."""
    history = history or {}

    def warn(*args):
        if log:
            log.warning(*args)

    for cell in nb.cells:  # coursekit's marks are the grader's to set: none survives from a submission
        for key in [k for k in cell.get("metadata", {}) if str(k).startswith(GRADER_METADATA_PREFIX)]:
            del cell.metadata[key]
    released = {nbgrader_meta(c)["grade_id"]: c for c in release.cells if nbgrader_meta(c).get("grade_id")}
    chosen = graded_copies(nb, release)
    edited = []
    for index, cell in enumerate(nb.cells):
        meta = nbgrader_meta(cell)
        grade_id = meta.get("grade_id")
        if "nbgrader" in cell.get("metadata", {}) and chosen.get(grade_id) != index:
            # a copied cell (Jupyter keeps its id), a duplicate, or an id the release does not know: an ordinary
            # cell from now on, whose code still runs
            warn("Cell with nbgrader id %r is unknown or a duplicate: graded as an ordinary cell", grade_id)
            cell.metadata.pop("nbgrader", None)
            cell.metadata.pop(EDITED_KEY, None)
            continue
        if grade_id is None:
            cell.metadata.pop(EDITED_KEY, None)
            continue
        original = released[grade_id]
        if is_test(original) and cell.source != original.source \
                and source_digest(cell.source) not in history.get(grade_id, ()):
            edited.append(grade_id)
            cell.metadata[EDITED_KEY] = True
        else:
            cell.metadata.pop(EDITED_KEY, None)
        if cell.cell_type != original.cell_type:
            warn("Cell %s had its type changed: restored", grade_id)
            cell.cell_type = original.cell_type
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
            else:
                cell.pop("outputs", None)
                cell.pop("execution_count", None)
        cell.metadata["nbgrader"] = json.loads(json.dumps(original.metadata["nbgrader"]))
        if is_readonly(original) or is_test(original):
            cell.source = original.source  # OverwriteCells puts the hidden tests back into test cells
    # deleted cells come back after their predecessor in the release
    position = 0
    present = {nbgrader_meta(c).get("grade_id"): c for c in nb.cells if nbgrader_meta(c).get("grade_id")}
    for original in release.cells:
        grade_id = nbgrader_meta(original).get("grade_id")
        if grade_id is None:
            continue
        if grade_id in present:
            position = nb.cells.index(present[grade_id]) + 1
            continue
        restored = nbformat.from_dict(json.loads(json.dumps(original)))
        if restored.cell_type == "code":
            restored.outputs, restored.execution_count = [], None
        nb.cells.insert(position, restored)
        present[grade_id] = restored
        position += 1
        warn("Cell %s was missing from the submission and has been restored", grade_id)
    return edited


class NormaliseNotebook(NbGraderPreprocessor):
    """Normalise the submitted notebook against the release before anything else runs (see module docstring)."""

    release_directory = Unicode(
        "", help="Folder of the released notebooks, one subfolder per assignment (default: the course's). A "
        "notebook missing there is rebuilt from the gradebook's record of the release."
    ).tag(config=True)
    release_history = Unicode(
        "", help=f"The course's {RELEASE_HISTORY} (default: beside the release folder's course/)").tag(config=True)

    def preprocess(self, nb, resources):
        assignment = resources["nbgrader"]["assignment"]
        notebook = resources["nbgrader"]["notebook"]
        root = Path(self.release_directory) if self.release_directory else COURSE_DIR.parent / "assignments"
        path = root / assignment / f"{notebook}.ipynb"
        if path.is_file():
            release = nbformat.read(path, as_version=4)
        else:
            self.log.warning("%s is gone: normalising against the gradebook's record of the release", path)
            release = release_from_gradebook(resources["nbgrader"]["db_url"], assignment, notebook)
        history_path = Path(self.release_history) if self.release_history else COURSE_DIR / RELEASE_HISTORY
        versions = {k: set(v) for k, v in load_release_history(history_path).get(assignment, {}).get(
            notebook, {}).items()}
        try:  # the gradebook's record is a released version too (e.g. a release made by stock nbgrader)
            recorded = release_from_gradebook(resources["nbgrader"]["db_url"], assignment, notebook)
            for cell in recorded.cells:
                versions.setdefault(nbgrader_meta(cell)["grade_id"], set()).add(source_digest(cell.source))
        except Exception:  # noqa: BLE001 - no record yet: the history file and the release are all there is
            pass
        for grade_id in normalise(nb, release, self.log, versions):
            self.log.warning("Test cell %s was edited in the submission: it runs as the instructor wrote it",
                             grade_id)
        return nb, resources

