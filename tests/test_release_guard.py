"""`coursekit release` never overwrites a student's filled-in notebook in the release folder: it moves it aside,
naming the backup, and records what it wrote so the next release can tell the release from a student's work."""

from __future__ import annotations

import json

import nbformat
import pytest
import tiny_course as tiny

from coursekit.course.pipeline import Course
from coursekit.course.release_guard import load_written, notebook_digest


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    course = Course(tiny.make_course(tmp_path_factory.mktemp("guard") / "course"))
    course.release(tiny.ASSIGNMENT, progress=None)
    return course


@pytest.fixture
def course(released, tmp_path):
    import shutil

    shutil.copytree(released.root, tmp_path / "course", symlinks=True)
    return Course(tmp_path / "course")


def _notebook(course):
    return course.release_dir / tiny.ASSIGNMENT / f"{tiny.ASSIGNMENT}.ipynb"


def _fill_in(path, answer="def double(x):\n    return x + x  # my own work"):
    nb = nbformat.read(path, as_version=4)
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "double")
    cell.source = answer
    nbformat.write(nb, path)


def test_release_records_what_it_wrote_and_keeps_the_history_format(released):
    history = json.loads((released.course / "release_history.json").read_text())
    assert history["format"] == 1 and tiny.ASSIGNMENT in history["assignments"]   # the cells' record, as before
    written = load_written(released.course / "release_history.json")
    assert written == {tiny.ASSIGNMENT: {f"{tiny.ASSIGNMENT}.ipynb": notebook_digest(_notebook(released))}}


def test_a_filled_in_notebook_is_moved_aside_and_named(course):
    _fill_in(_notebook(course))
    messages = []
    course.release(tiny.ASSIGNMENT, progress=messages.append)
    backups = sorted(course.release_dir.glob(f"{tiny.ASSIGNMENT}.backup-*"))
    assert len(backups) == 1
    kept = backups[0] / f"{tiny.ASSIGNMENT}.ipynb"
    assert "my own work" in kept.read_text()                          # the work survives, byte for byte
    assert "my own work" not in _notebook(course).read_text()         # the release is fresh
    assert len(messages) == 1 and str(kept) in messages[0]
    # released again without changes: nothing more is moved aside
    course.release(tiny.ASSIGNMENT, progress=messages.append)
    assert len(sorted(course.release_dir.glob(f"{tiny.ASSIGNMENT}.backup-*"))) == 1 and len(messages) == 1


def test_running_cells_is_not_work(course):
    nb = nbformat.read(_notebook(course), as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="ran\n")]
            cell.execution_count = 3
    nb.metadata["widgets"] = {"opened": True}
    nbformat.write(nb, _notebook(course))
    messages = []
    course.release(tiny.ASSIGNMENT, progress=messages.append)
    assert messages == [] and not list(course.release_dir.glob("*.backup-*"))


def test_a_history_from_before_the_record_moves_only_real_work(course):
    history = course.course / "release_history.json"
    data = json.loads(history.read_text())
    del data["written"]                                       # as committed before this record existed
    history.write_text(json.dumps(data))
    messages = []
    course.release(tiny.ASSIGNMENT, progress=messages.append)  # the release itself: nothing moved
    assert messages == [] and not list(course.release_dir.glob("*.backup-*"))
    history.write_text(json.dumps(data))
    _fill_in(_notebook(course))                                # work, and no record to compare with
    course.release(tiny.ASSIGNMENT, progress=messages.append)
    assert len(messages) == 1 and "my own work" in next(course.release_dir.glob("*.backup-*/*.ipynb")).read_text()


def test_an_unreadable_notebook_is_kept_too(course):
    _notebook(course).write_text('{"cells": [ half a notebook')
    messages = []
    course.release(tiny.ASSIGNMENT, progress=messages.append)
    assert len(messages) == 1
    assert next(course.release_dir.glob("*.backup-*/*.ipynb")).read_text() == '{"cells": [ half a notebook'
