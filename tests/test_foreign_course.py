"""coursekit as a drop-in for an nbgrader course that is not coursekit's (issue 14).

One course is built in a temporary folder from nbgrader 0.9.6's own files (shipped bit for bit under
tests/data/nbgrader_example/, fetched by scripts/fetch_nbgrader_example.py): the documented example course ``ps1``
(students bitdiddle and hacker) and ``ps2``, nbgrader's own autograde test notebooks as nbgrader's test suite uses
them. Its nbgrader_config.py is a stock one (the documentation's, plus its own gradebook URL). It is graded twice:
by stock ``nbgrader autograde`` (unsandboxed, in the temporary folder) and by ``coursekit autograde`` (sandboxed,
two workers); every graded cell's score must agree, except the rows of EXPECTED_DIFFERENCES (listed in the
README with their reasons).

A third assignment, ``probe``, is graded by coursekit only: student code that writes to host paths, a cell that
shows eight feature maps as PNGs, a test fixed by the instructor after release, and its release folder deleted
before grading.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
pytest.importorskip("nbgrader")

from coursekit.course.pipeline import Course, NbgraderError  # noqa: E402
from coursekit.course.sandbox import available as sandbox_available  # noqa: E402

DATA = Path(__file__).resolve().parent / "data" / "nbgrader_example"
GUIDE = DATA / "docs" / "source" / "user_guide"
FILES = DATA / "tests" / "apps" / "files"

# the documentation's configuration, plus a gradebook of the course's own (a folder nbgrader is not told about)
STOCK_CONFIG = """\
import os

c = get_config()
c.CourseDirectory.course_id = "example_course"
c.IncludeHeaderFooter.header = "source/header.ipynb"
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(os.path.dirname(os.path.abspath(__file__)), "db", "grades.db")
"""

# (assignment, student, notebook, grade_id): (stock nbgrader's score, coursekit's score, reason). Empty: coursekit
# gives every graded cell of nbgrader's example course and test notebooks the score stock nbgrader gives.
EXPECTED_DIFFERENCES: dict = {}

PS2_STUDENTS = {"changed": "submitted-changed.ipynb", "gradechanged": "submitted-grade-cell-changed.ipynb",
                "lockedchanged": "submitted-locked-cell-changed.ipynb"}

needs_sandbox = pytest.mark.skipif(not sandbox_available(), reason="bubblewrap cannot sandbox kernels here; "
                                   "coursekit refuses to autograde without it")


def build_example_course(root: Path) -> None:
    """ps1 (nbgrader's example course) and ps2 (nbgrader's autograde test notebooks) in nbgrader's layout."""
    (root / "source" / "ps1").mkdir(parents=True)
    (root / "db").mkdir()
    shutil.copyfile(GUIDE / "source" / "header.ipynb", root / "source" / "header.ipynb")
    for name in ("problem1.ipynb", "problem2.ipynb"):
        shutil.copyfile(GUIDE / "source" / "ps1" / name, root / "source" / "ps1" / name)
    for student in ("bitdiddle", "hacker"):
        shutil.copytree(GUIDE / "submitted" / student / "ps1", root / "submitted" / student / "ps1")
    # as nbgrader's own tests do: the unchanged notebook is the source, the changed ones are handed in
    (root / "source" / "ps2").mkdir()
    shutil.copyfile(FILES / "submitted-unchanged.ipynb", root / "source" / "ps2" / "p1.ipynb")
    shutil.copyfile(FILES / "validating-environment-variable.ipynb", root / "source" / "ps2" / "p2.ipynb")
    for student, name in PS2_STUDENTS.items():
        folder = root / "submitted" / student / "ps2"
        folder.mkdir(parents=True)
        shutil.copyfile(FILES / name, folder / "p1.ipynb")
        shutil.copyfile(FILES / "validating-environment-variable.ipynb", folder / "p2.ipynb")
    (root / "nbgrader_config.py").write_text(STOCK_CONFIG)


def cell_scores(db_url: str, assignments) -> dict:
    """(assignment, student, notebook, grade_id) -> the cell's score (manual grading left out: it is None)."""
    from nbgrader.api import Gradebook

    found = {}
    with Gradebook(db_url) as gb:
        for assignment in assignments:
            for submission in gb.assignment_submissions(assignment):
                for notebook in submission.notebooks:
                    for grade in notebook.grades:
                        key = (assignment, submission.student.id, notebook.name, grade.name)
                        found[key] = (grade.auto_score, grade.needs_manual_grade)
    return found


def nbgrader(root: Path, *args: str) -> None:
    env = dict(os.environ, PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    env.pop("NBGRADER_EXECUTION", None)
    done = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=root, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]


def _probe_source(expected: int) -> nbformat.NotebookNode:
    def cell(kind, source, **meta):
        made = nbformat.v4.new_code_cell(source) if kind == "code" else nbformat.v4.new_markdown_cell(source)
        if meta:
            meta.update(schema_version=3)
            for key in ("grade", "solution", "locked"):
                meta.setdefault(key, False)
            made.metadata["nbgrader"] = meta
        return made

    nb = nbformat.v4.new_notebook(cells=[
        cell("code", "def answer():\n    ### BEGIN SOLUTION\n    return 42\n    ### END SOLUTION",
             grade_id="answer", solution=True),
        cell("code", f"assert answer() == {expected}", grade_id="check_answer", grade=True, points=1),
        cell("code", "probes = []", grade_id="probe_setup", locked=True),
        cell("code", "shown = 0", grade_id="plots", solution=True),
        cell("code", "assert shown == 8", grade_id="check_plots", grade=True, points=1),
    ])
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    return nb


PLOTS = """\
import io
import matplotlib
matplotlib.use("agg")
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Image, display

rng = np.random.default_rng(0)
shown = 0
for k in range(8):  # eight 64x64 feature maps, shown as PNGs
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.imshow(rng.random((64, 64)), cmap="viridis", interpolation="bilinear")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    display(Image(data=buffer.getvalue()))
    shown += 1
"""


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The example course graded by stock nbgrader and by coursekit, plus the coursekit-only probe assignment."""
    if not sandbox_available():
        pytest.skip("bubblewrap cannot sandbox kernels here")
    base = tmp_path_factory.mktemp("foreign")
    stock, mine = base / "stock", base / "mine"
    for root in (stock, mine):
        build_example_course(root)
    for assignment in ("ps1", "ps2"):
        nbgrader(stock, "generate_assignment", assignment, "--create", "--force")
        nbgrader(stock, "autograde", assignment, "--force")

    # the instructor's probe assignment, released with a wrong test that is fixed afterwards
    (mine / "source" / "probe").mkdir()
    nbformat.write(_probe_source(41), mine / "source" / "probe" / "probe.ipynb")
    from coursekit.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["release", "--root", str(mine)]) == 0
    released = nbformat.read(mine / "release" / "probe" / "probe.ipynb", as_version=4)
    host_paths = [Path("/tmp") / f"probe-{uuid.uuid4().hex}", mine / f"probe-{uuid.uuid4().hex}"]
    for c in released.cells:
        grade_id = c.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id == "answer":
            c.source = "def answer():\n    return 42"
        elif grade_id == "plots":
            c.source = PLOTS
    probe = nbformat.v4.new_code_cell("\n".join(
        f"try:\n    open({str(p)!r}, 'w').write('escaped')\n    probes.append('wrote')\nexcept OSError:\n"
        "    probes.append('refused')" for p in host_paths))
    released.cells.insert(3, probe)
    (mine / "submitted" / "prober" / "probe").mkdir(parents=True)
    nbformat.write(released, mine / "submitted" / "prober" / "probe" / "probe.ipynb")
    # the fix: the test now expects what the task asked for; then the release folder goes
    nbformat.write(_probe_source(42), mine / "source" / "probe" / "probe.ipynb")
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["release", "probe", "--root", str(mine)]) == 0
    shutil.rmtree(mine / "release" / "probe")

    course = Course(mine)
    results = course.autograde(course.submissions(), jobs=2, progress=None)
    yield {"stock": stock, "mine": mine, "course": course, "results": results, "release_output": out.getvalue(),
           "host_paths": host_paths}
    for path in host_paths:  # only there if the sandbox failed (a test says so); not left behind either way
        path.unlink(missing_ok=True)


@needs_sandbox
@pytest.mark.slow
def test_release_without_argument_releases_every_assignment_to_the_configured_folder(graded):
    lines = graded["release_output"].splitlines()
    mine = graded["mine"]
    assert lines == [f"released {a} -> {mine / 'release' / a}" for a in ("probe", "ps1", "ps2")]
    history = json.loads((mine / "release_history.json").read_text())["assignments"]
    assert len(history["probe"]["probe"]["check_answer"]) == 2  # both versions the instructor published


@needs_sandbox
@pytest.mark.slow
def test_grades_equal_stock_nbgrader_cell_by_cell(graded):
    assert all(r.ok for r in graded["results"]), [r.detail for r in graded["results"] if not r.ok]
    course = graded["course"]
    assert course.db_url == f"sqlite:///{graded['mine'] / 'db' / 'grades.db'}"  # the course's own, with --jobs 2
    stock = cell_scores(f"sqlite:///{graded['stock'] / 'db' / 'grades.db'}", ("ps1", "ps2"))
    mine = cell_scores(course.db_url, ("ps1", "ps2"))
    assert set(stock) == set(mine) and len(stock) == 33  # ps1: 2 x 9 graded or task cells, ps2: 3 x 5
    differences = {key: (stock[key][0], mine[key][0]) for key in stock if stock[key] != mine[key]}
    assert differences == {k: v[:2] for k, v in EXPECTED_DIFFERENCES.items()}
    # nbgrader's own NBGRADER_EXECUTION notebook: its test fails when the variable is set, as while autograding
    assert all(mine[("ps2", s, "p2", "cell-bfbdf1784663b6b6")][0] == 0 for s in PS2_STUDENTS)
    # and the example course's totals are the documented ones
    assert sum(v[0] or 0 for k, v in mine.items() if k[:2] == ("ps1", "hacker")) == 3


@needs_sandbox
@pytest.mark.slow
def test_foreign_course_is_graded_in_the_sandbox(graded):
    from nbgrader.api import Gradebook

    for path in graded["host_paths"]:
        assert not path.exists(), f"student code wrote {path} on the host"
    with Gradebook(graded["course"].db_url) as gb:
        notebook = gb.find_submission_notebook("probe", "probe", "prober")
        scores = {g.name: g.auto_score for g in notebook.grades}
        # a test fixed after release runs, fixed, and its old version is not reported as the student's edit;
        # eight PNGs (counted apart from text output) are not cut off, so the next test passes
        assert (scores["check_answer"], scores["check_plots"]) == (1.0, 1.0), scores
        assert not notebook.flagged
    graded_nb = nbformat.read(graded["mine"] / "autograded" / "prober" / "probe" / "probe.ipynb", as_version=4)
    images = [o for c in graded_nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    # more than the 1 MiB that text output may use: images are counted apart
    assert len(images) == 8 and sum(len(o["data"]["image/png"]) for o in images) > 1 << 20
    probe_out = "".join(o.get("text", "") for c in graded_nb.cells for o in c.get("outputs", []))
    assert "edited" not in probe_out


@needs_sandbox
@pytest.mark.slow
def test_check_finds_the_release_of_a_foreign_course(graded):
    notebook = graded["mine"] / "submitted" / "hacker" / "ps1" / "problem1.ipynb"
    done = subprocess.run([sys.executable, "-m", "coursekit.cli", "check", str(notebook)], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"compared with the release {graded['mine'] / 'release' / 'ps1' / 'problem1.ipynb'}" in done.stdout
    assert "3 of 3 points from visible tests." in done.stdout.splitlines()[0]


@needs_sandbox
@pytest.mark.slow
def test_feedback_names_the_plain_assert_that_failed(graded):
    """The example course tests with bare asserts: bitdiddle's squares fails `assert squares(1) == [1]`, which the
    feedback names instead of a bare "AssertionError:" under the asserts shown; the page carries its MathJax."""
    import html

    folder = graded["course"].feedback("ps1", "bitdiddle")
    page = html.unescape((folder / "problem1.html").read_text())
    assert "AssertionError: this line failed: assert squares(1) == [1]</pre>" in page
    assert not re.search(r"AssertionError:\s*</pre>", page), "a bare AssertionError is left in the feedback"
    assert (folder / "mathjax" / "MathJax.js").is_file()


# ----------------------------------------------------------------------------------- fast: layout and refusals
def _course_dir(tmp_path, config: str) -> Path:
    (tmp_path / "source" / "ps1").mkdir(parents=True)
    shutil.copyfile(GUIDE / "source" / "ps1" / "problem2.ipynb", tmp_path / "source" / "ps1" / "problem2.ipynb")
    (tmp_path / "nbgrader_config.py").write_text("c = get_config()\n" + config)
    return tmp_path


def test_locations_come_from_the_course_configuration(tmp_path):
    root = _course_dir(tmp_path, 'c.CourseDirectory.release_directory = "out"\n'
                                 'c.CourseDirectory.db_url = "sqlite:////srv/grades.db"\nc.Execute.timeout = 45\n')
    course = Course(root)
    assert (course.course, course.source_dir, course.release_dir) == (root, root / "source", root / "out")
    assert course.submitted_dir == root / "submitted" and course.db_url == "sqlite:////srv/grades.db"
    assert course.assignments() == ["ps1"] and not course.coursekit_configured
    assert course.timeouts() == {"default": 45.0, "cells": {}}  # nbgrader's timeout, as CPU seconds per cell
    args = course.grading_arguments("autograde")
    assert "--Autograde.autograde_preprocessors=coursekit.course.execute.ExecuteAndJudge" in args
    assert not any("nbgrader.preprocessors.Execute" in a for a in args)
    assert Course(_course_dir(tmp_path / "b", "")).timeouts()["default"] == 30.0  # nbgrader's default
    # coursekit's own repository: locations from course/nbgrader_config.py
    ours = Course(Path(__file__).resolve().parents[1])
    assert ours.coursekit_configured and ours.release_dir.name == "assignments"
    # its own configuration grades with coursekit: the command line carries this run's settings only
    assert ours.grading_arguments("generate_feedback") == []
    assert sorted(a.split("=")[0] for a in ours.grading_arguments("autograde", jobs=2)) == [
        "--ExecuteAndJudge.default_timeout", "--ExecuteAndJudge.kernels_side_by_side",
        "--ExecuteAndJudge.timeouts_file"]


def test_a_custom_grading_pipeline_is_refused_not_replaced_silently(tmp_path):
    root = _course_dir(tmp_path, 'c.Autograde.autograde_preprocessors = ["nbgrader.preprocessors.Execute"]\n')
    with pytest.raises(NbgraderError, match="autograde_preprocessors"):
        Course(root).check_config()
    broken = _course_dir(tmp_path / "b", "raise RuntimeError('typo')\n")
    with pytest.raises(NbgraderError, match="failed to load"):
        Course(broken)


def test_non_python_kernels_are_refused_before_anything_is_graded(tmp_path, capsys):
    root = _course_dir(tmp_path, "")
    path = root / "source" / "ps1" / "problem2.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.metadata["kernelspec"] = {"display_name": "R", "language": "R", "name": "ir"}
    nbformat.write(nb, path)
    from coursekit.cli import main

    assert main(["release", "--root", str(root)]) == 1
    assert "'R' kernel" in capsys.readouterr().err
    assert not (root / "release").exists()


def test_autograde_refuses_a_release_on_another_kernel_naming_it(tmp_path, monkeypatch, capsys):
    root = _course_dir(tmp_path, "")
    nb = nbformat.read(root / "source" / "ps1" / "problem2.ipynb", as_version=4)
    nb.metadata["kernelspec"] = {"display_name": "Julia 1.10", "language": "julia", "name": "julia-1.10"}
    for folder in (root / "release" / "ps1", root / "submitted" / "ada" / "ps1"):
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / "problem2.ipynb")
    monkeypatch.setattr("coursekit.course.kernel_manager.sandbox_kernel_manager", lambda **kw: None)
    from coursekit.cli import main

    assert main(["autograde", "--root", str(root)]) == 1
    assert "'Julia 1.10' kernel (julia)" in capsys.readouterr().err
    assert not (root / "autograded").exists() and not (root / "gradebook.db").exists()


def test_the_shipped_nbgrader_files_are_nbgraders_bit_for_bit():
    import runpy

    script = runpy.run_path(str(Path(__file__).resolve().parents[1] / "scripts" / "fetch_nbgrader_example.py"))
    assert len(script["sums"](DATA / "SHA256SUMS")) == 14
    assert script["check"](DATA) == []


@pytest.mark.slow
def test_the_gradebooks_record_of_a_release_stands_in_for_the_release_folder(tmp_path):
    """Grading once the release folder is gone: the gradebook's record has every graded, solution, task and
    read-only cell of the release, in order, with its nbgrader metadata; a submission normalised against it gets
    a deleted test cell back."""
    from coursekit.course.normalise import normalise
    from coursekit.course.release_history import release_from_gradebook

    root = _course_dir(tmp_path, "")
    shutil.copyfile(GUIDE / "source" / "ps1" / "problem1.ipynb", root / "source" / "ps1" / "problem1.ipynb")
    course = Course(root)
    course.release("ps1")
    release = nbformat.read(root / "release" / "ps1" / "problem1.ipynb", as_version=4)
    graded = [c for c in release.cells if "nbgrader" in c.metadata]
    record = release_from_gradebook(course.db_url, "ps1", "problem1")
    # nbgrader records test cells as locked whatever the release says; read-only cells are what "locked" is for
    keys = ("grade_id", "grade", "solution", "points", "task")

    def summary(cell):
        meta = cell.metadata["nbgrader"]
        readonly = meta.get("locked") and not meta.get("grade") and not meta.get("solution")
        return cell.cell_type, cell.source, {k: meta.get(k) for k in keys}, bool(readonly)

    assert [summary(c) for c in record.cells] == [summary(c) for c in graded]
    assert record.metadata["kernelspec"]["language"] == "python"
    shutil.rmtree(root / "release")
    assert course.release_notebook_names("ps1") == ["problem1.ipynb", "problem2.ipynb"]
    submission = nbformat.read(GUIDE / "submitted" / "hacker" / "ps1" / "problem1.ipynb", as_version=4)
    submission.cells = [c for c in submission.cells if c.metadata.get("nbgrader", {}).get("grade_id") !=
                        "correct_squares"]
    assert normalise(submission, course.release_notebook("ps1", "problem1.ipynb")) == []
    ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in submission.cells]
    assert ids.index("squares") < ids.index("correct_squares") < ids.index("squares_invalid_input")


def test_output_limits_count_text_and_display_data_apart():
    """Output over a limit is cut, not stopped (a left-over debug print must not cost the answers); only a flood,
    many times the limit, interrupts the kernel."""
    import asyncio
    import base64

    from coursekit.course.execute import FLOOD_FACTOR, CellRun, ExecuteAndJudge, Limit

    class Kernel:
        interrupts = 0

        async def interrupt_kernel(self):
            Kernel.interrupts += 1

    def message(kind, content):
        return {"msg_type": kind, "header": {"msg_type": kind}, "parent_header": {}, "metadata": {},
                "content": content}

    async def run():
        executor = ExecuteAndJudge(max_output_bytes=1000, max_display_bytes=50_000)
        executor.km, executor.clear_before_next_output = Kernel(), False
        executor._run = CellRun(0, None, 10)
        outs = []
        figure = {"image/png": base64.b64encode(bytes(8000)).decode(), "text/plain": "<Figure>"}
        for _ in range(4):  # 43 kB of images: 43x the text limit, within the display limit
            executor.output(outs, message("display_data", {"data": figure, "metadata": {}}), None, 0)
        assert len(outs) == 4 and not executor._run.hits
        for _ in range(4):  # 1200 bytes of text: over, cut
            executor.output(outs, message("stream", {"name": "stdout", "text": "x" * 300}), None, 0)
        await asyncio.sleep(0)
        assert executor._run.hits == [Limit.OUTPUT] and "text output limit of 1,000 bytes" in outs[-1]["text"]
        assert "kept running" in outs[-1]["text"] and Kernel.interrupts == 0
        for _ in range(FLOOD_FACTOR * 4):  # a flood: interrupted, once
            executor.output(outs, message("stream", {"name": "stdout", "text": "x" * 300}), None, 0)
        await asyncio.sleep(0)
        assert executor._run.hits == [Limit.OUTPUT, Limit.FLOOD] and Kernel.interrupts == 1
        executor._run = CellRun(0, None, 10)
        outs = []
        for _ in range(6):  # 64 kB of images: over the display limit
            executor.output(outs, message("display_data", {"data": figure, "metadata": {}}), None, 0)
        await asyncio.sleep(0)
        assert len(outs) == 5 and "display data limit of 50,000 bytes" in outs[-1]["text"]
        assert Kernel.interrupts == 1

    asyncio.run(run())
