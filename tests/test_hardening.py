"""Holes a red team found in the autograder, each closed as a class: what a graded notebook may show in the
instructor's browser, which pasted copy of a cell is graded, unreadable notebooks, wall-clock limits, hidden test
text in feedback, packages the kernel may import, the size of a kernel's messages."""

import copy
import json
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
pytest.importorskip("nbgrader")

from coursekit.course import cells, feedback, limits, normalise, passive  # noqa: E402
from coursekit.course.pipeline import Course  # noqa: E402
from coursekit.course.staging import notebook_problem  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
A1 = ROOT / "assignments" / "a1_conv_arithmetic" / "conv_arithmetic.ipynb"


def _release():
    return nbformat.read(A1, as_version=4)


def _grade_id(cell):
    return cell.metadata.get("nbgrader", {}).get("grade_id")


# ------------------------------------------------------------------------------------ 1. passive notebooks
def test_graded_notebook_keeps_only_passive_outputs():
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("display(HTML(...))")
    cell.outputs = [
        nbformat.v4.new_output("display_data", data={"text/html": "<script>steal()</script>",
                                                     "text/plain": "<IPython.core.display.HTML object>"}),
        nbformat.v4.new_output("display_data", data={"application/javascript": "steal()"}),
        nbformat.v4.new_output("display_data", data={"image/svg+xml": "<svg onload='steal()'/>",
                                                     "image/png": "iVBORw0KGgo=", "text/markdown": "[x](y)",
                                                     "text/latex": "$x$",
                                                     "application/vnd.jupyter.widget-view+json": {"model_id": "1"}},
                               metadata={"image/png": {"width": 10}, "text/html": {"isolated": False}}),
        nbformat.v4.new_output("execute_result", data={"text/html": "<b onmouseover=steal()>3</b>"},
                               execution_count=1),
        nbformat.v4.new_output("stream", name="stdout", text="<script>stays text</script>\n"),
        nbformat.v4.new_output("error", ename="E", evalue="v", traceback=["E: v"]),
    ]
    cell.outputs.append(nbformat.from_dict({"output_type": "update_display_data", "data": {}, "metadata": {}}))
    nb.cells = [cell]
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    passive.make_passive(nb)
    kinds = [o.output_type for o in cell.outputs]
    assert kinds == ["display_data", "display_data", "execute_result", "stream", "error"]
    mimetypes = {m for o in cell.outputs for m in o.get("data", {})}
    assert mimetypes <= {"text/plain", "image/png", "image/jpeg"}
    assert cell.outputs[1].data == {"image/png": "iVBORw0KGgo="} and cell.outputs[1].metadata == {
        "image/png": {"width": 10}}
    assert "text/plain" in cell.outputs[2].data          # a result still has something nbgrader can read
    assert "widgets" not in nb.metadata
    nbformat.validate(nb)


@pytest.mark.parametrize("markdown", [
    "<script>fetch('/api/contents')</script>",
    "<iframe src='http://evil'></iframe>",
    "<img src=x onerror=\"steal()\">",
    "<style>body {display: none}</style>",
    "<object data='x.swf'></object><embed src='x'>",
    "[click](javascript:steal())",
    "[click](JaVa\tScRiPt:steal())",
    "[click](jav&#97;script:steal())",
    "[click](javascript&colon;steal())",
    "<a href='javascript:steal()'>x</a>",
    "[ref]\n\n[ref]: javascript:steal()",
])
def test_raw_html_in_student_markdown_is_escaped(markdown):
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_markdown_cell("My answer: *it works* because 2 < 3 & 4 > 1.\n\n" + markdown)
    raw = nbformat.v4.new_raw_cell(markdown, metadata={"raw_mimetype": "text/html"})
    nb.cells = [cell, raw]
    passive.make_passive(nb)
    for c in (cell, raw):
        assert "<" not in c.source and "javascript:" not in c.source.lower().replace("\t", "")
        assert not any(s in c.source for s in ("&#", "&colon;"))
    assert "raw_mimetype" not in raw.metadata
    assert "My answer: *it works* because 2 &lt; 3 & 4 > 1." in cell.source  # a renderer still shows the text
    # rendered, nothing active is left
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter().from_notebook_node(nb)
    student_part = body[body.index("My answer"):]
    for active in ("<script>fetch", "<iframe", "<img src=x", "<style>body", "<object", "<embed", 'href="javascript',
                   "href='javascript"):
        assert active not in student_part, active


def test_read_only_markdown_of_the_release_is_left_alone():
    nb = _release()
    readonly = [c for c in nb.cells if c.cell_type == "markdown" and cells.is_readonly(c)]
    before = [c.source for c in readonly]
    passive.make_passive(nb)
    assert [c.source for c in readonly] == before


# ------------------------------------------------------------------------------- 2. pasted copies of cells
def _test_cell_ids(release):
    return [c for c in release.cells if cells.is_test(c)]


@pytest.mark.parametrize("where", ["above", "below"])
def test_a_pasted_copy_of_a_test_cell_never_displaces_the_original(where):
    release = _release()
    original_release_cell = _test_cell_ids(release)[0]
    grade_id = _grade_id(original_release_cell)
    nb = copy.deepcopy(release)
    original = next(c for c in nb.cells if _grade_id(c) == grade_id)
    pasted = copy.deepcopy(original)
    pasted["id"] = "pasted-copy-0001"              # Jupyter gives a pasted cell a new id
    pasted.source = "print('the copy')\n"
    position = nb.cells.index(original) + (0 if where == "above" else 1)
    nb.cells.insert(position, pasted)
    assert normalise.graded_copies(nb, release)[grade_id] == nb.cells.index(original)
    assert not any(d["grade_id"] == grade_id for d in normalise.release_differences(nb, release))
    edited = normalise.normalise(nb, release)
    assert grade_id not in edited
    assert "nbgrader" in original.metadata and original.source == original_release_cell.source
    assert "nbgrader" not in pasted.metadata and pasted.source == "print('the copy')\n"  # runs, ungraded


def test_without_the_release_id_the_last_copy_is_graded():
    release = _release()
    grade_id = _grade_id(_test_cell_ids(release)[0])
    nb = copy.deepcopy(release)
    original = next(c for c in nb.cells if _grade_id(c) == grade_id)
    original["id"] = "renamed-1"
    pasted = copy.deepcopy(original)
    pasted["id"] = "renamed-2"
    nb.cells.insert(nb.cells.index(original), pasted)       # a copy above, neither with the release's id
    normalise.normalise(nb, release)
    assert "nbgrader" in original.metadata and "nbgrader" not in pasted.metadata


# ---------------------------------------------------------------------------------- 3. unreadable notebooks
def _tiny_course(tmp_path):
    (tmp_path / "course").mkdir()
    (tmp_path / "course" / "nbgrader_config.py").write_text("")
    (tmp_path / "assignments" / "a1").mkdir(parents=True)
    nbformat.write(_release(), tmp_path / "assignments" / "a1" / "nb.ipynb")
    return Course(tmp_path)


def test_a_corrupt_notebook_is_staged_as_the_release_with_a_note(tmp_path):
    course = _tiny_course(tmp_path)
    good = A1.read_text()
    bad_cell = json.loads(good)
    bad_cell["cells"][0]["source"] = 5
    kinds = {"honest": good, "truncated": good[: len(good) // 2], "not_utf8": b"\xff\xfe{".decode("latin-1"),
             "not_a_notebook": "[1, 2, 3]", "invalid": json.dumps(bad_cell)}
    for student, text in kinds.items():
        folder = tmp_path / "course" / "submitted" / student / "a1"
        folder.mkdir(parents=True)
        (folder / "nb.ipynb").write_bytes(text.encode("latin-1") if student == "not_utf8" else text.encode())
        staged = course._stage(student, "a1", tmp_path / "staging") / student / "a1" / "nb.ipynb"
        nb = nbformat.read(staged, as_version=4)       # whatever was handed in, nbgrader gets a notebook
        nbformat.validate(nb)
        note = nb.cells[0].source
        assert ("is not a valid notebook" in note) == (student != "honest"), student
    assert notebook_problem(A1) is None


# ------------------------------------------------------------------------------------ 4. wall-clock limits
def test_the_wall_limit_of_a_submission_is_the_sum_of_its_cells_backstops(tmp_path):
    course = _tiny_course(tmp_path)
    staged = tmp_path / "staging" / "s" / "a1"
    staged.mkdir(parents=True)
    release = _release()
    nb = copy.deepcopy(release)
    nb.cells.append(nbformat.v4.new_code_cell("extra = 1"))
    nbformat.write(nb, staged / "nb.ipynb")
    table = {"default": 10, "cells": {_grade_id(c): 1000 for c in release.cells if cells.is_test(c)}}
    code = [c for c in release.cells if c.cell_type == "code"]
    tests = [c for c in code if cells.is_test(c)]
    per_release = sum(4 * 1000 + 60 if c in tests else 4 * 10 + 60 for c in code)
    expected = 2 * per_release + (4 * 10 + 60) + Course.WALL_MARGIN   # submission + release (restorable) cells
    assert course.wall_limit(staged, table) == expected
    assert expected > 900                              # more than the old fixed 900 s for slow test cells
    assert limits.wall_backstop_seconds(tests[0], table) == 4060


def test_autograde_uses_the_computed_limit_unless_told(tmp_path, monkeypatch):
    course = _tiny_course(tmp_path)
    folder = tmp_path / "course" / "submitted" / "s" / "a1"
    folder.mkdir(parents=True)
    (folder / "nb.ipynb").write_text(A1.read_text())
    (tmp_path / "course" / "gradebook.db").write_text("")
    (tmp_path / "course" / "timeouts.json").write_text('{"default": 10}')
    seen = []
    monkeypatch.setattr("coursekit.course.kernel_manager.sandbox_kernel_manager", lambda **kw: None)
    monkeypatch.setattr(Course, "nbgrader", lambda self, *a, timeout=None, **k: seen.append(timeout))
    monkeypatch.setattr(Course, "_require_graded", lambda self, *a: None)
    course.autograde([("s", "a1")], progress=None)
    course.autograde([("s", "a1")], timeout=5, progress=None)
    n_code = sum(c.cell_type == "code" for c in _release().cells)
    assert seen == [2 * n_code * 100 + Course.WALL_MARGIN, 5]


# ------------------------------------------------------------------------- 6. hidden test text in feedback
def _with_hidden_test():
    nb = _release()
    test = next(c for c in nb.cells if cells.is_test(c))
    hidden = ("### BEGIN HIDDEN TESTS\nfrom coursekit.grading import answer\n"
              "assert secret_function(12345) == 67890, 'the hidden expectation'\n### END HIDDEN TESTS\n")
    test.source = test.source + "\n" + hidden
    return nb, test, hidden


def test_feedback_withholds_every_kernel_output_once_hidden_tests_have_run():
    """Code in the kernel sees a hidden test's text once it runs and can copy it in any encoding (base64,
    reversed, into an image): from that cell on feedback shows the grader's verdicts only."""
    import base64

    from coursekit.course.verdicts import VERDICT_KEY

    nb, test, hidden = _with_hidden_test()
    at = nb.cells.index(test)
    encoded = [base64.b64encode(hidden.encode()).decode(), hidden[::-1], hidden.encode().hex()]
    leak = nbformat.v4.new_code_cell("print(history)")
    leak.outputs = [nbformat.v4.new_output("stream", name="stdout", text=text) for text in encoded] + [
        nbformat.v4.new_output("display_data", data={"image/png": base64.b64encode(hidden.encode()).decode(),
                                                     "text/plain": "<Figure>"})]
    nb.cells.append(leak)
    judged = next(c for c in nb.cells[at + 1:] if cells.is_test(c))
    judged.metadata[VERDICT_KEY] = True
    judged.outputs = [nbformat.v4.new_output("stream", name="stdout", text="3 of 4 cases right\n")]
    test.outputs = [nbformat.v4.new_output("error", ename="AssertionError", evalue="the " + "hidden expectation",
                                           traceback=["x"])]
    before = nbformat.v4.new_code_cell("print('my own work')")
    before.outputs = [nbformat.v4.new_output("stream", name="stdout", text="my own work\n")]
    nb.cells.insert(at, before)
    nb, _ = feedback.HideTestCode().preprocess(nb, {})
    text = json.dumps(nb)
    for encoding in encoded:
        assert encoding not in text
    assert "secret_function" not in text and "hidden expectation" not in text
    assert [o.get("text") for o in leak.outputs] == [feedback.OUTPUT_WITHHELD]
    assert judged.outputs[0].text == "3 of 4 cases right\n"                   # the grader's verdict stays
    assert [o.get("text") for o in before.outputs] == ["my own work\n"]      # before any hidden test: kept
    error = next(o for o in test.outputs if o.output_type == "error")
    assert error.ename == "AssertionError" and error.evalue == feedback.MESSAGE_WITHHELD


def test_feedback_still_redacts_hidden_text_before_the_first_hidden_test():
    nb, test, hidden = _with_hidden_test()
    leak = nbformat.v4.new_code_cell("print(recorded)")
    leak.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="recorded:\n" + hidden),
        nbformat.v4.new_output("execute_result", data={"text/plain": "from coursekit.grading import answer"},
                               execution_count=3),
        nbformat.v4.new_output("error", ename="X", evalue="assert secret_function(12345) == 67890, 'the hidden "
                               "expectation'", traceback=["x"]),
    ]
    nb.cells.insert(nb.cells.index(test), leak)
    nb, _ = feedback.HideTestCode().preprocess(nb, {})
    assert "secret_function" not in json.dumps(nb) and "hidden expectation" not in json.dumps(nb)
    assert feedback.REDACTED in json.dumps(leak.outputs)
    assert "recorded:" in leak.outputs[0].text        # the rest of the output stays


# ------------------------------------------------------------------------------- 7. packages left out
def _fake_site_packages(root):
    sp = root / "site-packages"
    for folder in ("scipy", "scipy.libs", "skimage", "numpy", "sklearn", "scikit_learn.libs", "__pycache__",
                   "scipy-1.17.1.dist-info", "scikit_image-0.26.0.dist-info", "scikit_learn-1.9.1.dist-info",
                   "numpy-2.0.dist-info", "scipyfun"):
        (sp / folder).mkdir(parents=True)
    (sp / "scipy-1.17.1.dist-info" / "RECORD").write_text(
        "scipy/__init__.py,sha256=x,1\nscipy.libs/libopenblas.so,,\nscipy-1.17.1.dist-info/RECORD,,\n"
        "../../../bin/scipy-tool,,\n")
    (sp / "scikit_image-0.26.0.dist-info" / "RECORD").write_text(
        "skimage/__init__.py,,\n__pycache__/x.pyc,,\nscikit_image.pth,,\n")
    (sp / "scikit_image.pth").write_text("import skimage\n")
    (sp / "scikit_learn-1.9.1.dist-info" / "RECORD").write_text("sklearn/__init__.py,,\nscikit_learn.libs/x.so,,\n")
    (sp / "numpy-2.0.dist-info" / "RECORD").write_text("numpy/__init__.py,,\n")
    return sp


def test_kernel_excludes_leave_packages_with_their_metadata_and_libraries_out(tmp_path):
    from coursekit.course.kernel_packages import excluded_entries

    sp = _fake_site_packages(tmp_path)
    assert excluded_entries(sp, []) == set()
    assert excluded_entries(sp, ["scipy"]) == {"scipy", "scipy.libs", "scipy-1.17.1.dist-info"}
    skimage = {"skimage", "scikit_image-0.26.0.dist-info", "scikit_image.pth"}
    assert excluded_entries(sp, ["skimage"]) == skimage       # by import name...
    assert excluded_entries(sp, ["scikit-image"]) == skimage  # ...or by distribution name
    assert excluded_entries(sp, ["sklearn"]) == {"sklearn", "scikit_learn.libs", "scikit_learn-1.9.1.dist-info"}
    assert "scipyfun" not in excluded_entries(sp, ["scipy", "skimage", "sklearn"])


def test_kernel_excludes_are_read_from_the_check_module_and_validated(tmp_path):
    from coursekit.course.checks import load_checks  # the old path and the old folder name keep working

    (tmp_path / "checks").mkdir()
    (tmp_path / "checks" / "a1.py").write_text("KERNEL_EXCLUDES = ['scipy', 'skimage']\n")
    assert load_checks("a1", tmp_path).kernel_excludes == ["scipy", "skimage"]
    (tmp_path / "checks" / "a2.py").write_text("KERNEL_TORCH = False\n")
    assert load_checks("a2", tmp_path).kernel_excludes == []      # default: nothing besides torch
    for bad in ("'scipy'", "['numpy']", "[3]", "['ipykernel']"):
        (tmp_path / "checks" / "a3.py").write_text(f"KERNEL_EXCLUDES = {bad}\n")
        with pytest.raises(ValueError, match="KERNEL_EXCLUDES"):
            load_checks("a3", tmp_path)


def test_excluded_packages_cannot_be_imported_in_the_sandbox(tmp_path):
    from coursekit.course import sandbox

    if not sandbox.available():
        pytest.skip("bubblewrap cannot sandbox here")
    pytest.importorskip("scipy")
    import subprocess
    import sys

    from coursekit.course.package_view import build_view

    scratch = tmp_path / "scratch"
    scratch.mkdir()
    probe = ("import importlib.util, json\n"
             "print('REPORT', json.dumps({m: importlib.util.find_spec(m) is not None "
             "for m in ('scipy', 'skimage', 'sklearn', 'numpy', 'matplotlib')}))\n")
    for excludes, absent in (([], set()), (["scipy", "scikit-image", "sklearn"], {"scipy", "skimage", "sklearn"})):
        spec = sandbox.SandboxSpec(scratch=str(scratch), package_view=str(build_view({}, cache_root=tmp_path / "v")),
                                   torch=False, excludes=excludes, threads=1)
        done = subprocess.run([sys.executable, "-m", "coursekit.course.sandbox", "run", "--spec", spec.to_json(),
                               "--", sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
        line = next((l for l in done.stdout.splitlines() if l.startswith("REPORT ")), None)
        assert line, done.stderr[-2000:]
        found = json.loads(line[len("REPORT "):])
        assert {m for m, there in found.items() if not there} == absent, found


def test_the_kernel_sees_an_allow_list_of_packages_only(tmp_path):
    """Installed but not allowed is not importable: a library that happens to implement a graded operation (the
    reference runtime of a model-exchange library, a signal-processing library) is simply absent."""
    from coursekit.course import sandbox

    if not sandbox.available():
        pytest.skip("bubblewrap cannot sandbox here")
    import importlib.util
    import subprocess
    import sys

    from coursekit.course.package_view import build_view

    installed = [m for m in ("onnx", "scipy", "sklearn", "nbgrader", "pytest", "hypothesis")
                 if importlib.util.find_spec(m) is not None]
    assert installed, "nothing beyond the allow-list is installed here to prove anything with"
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    wanted = ["numpy", "matplotlib", "IPython", "ipykernel", "coursekit", "tqdm", "torch", *installed]
    probe = ("import importlib.util, json\n"
             f"print('REPORT', json.dumps({{m: importlib.util.find_spec(m) is not None for m in {wanted!r}}}))\n"
             "import numpy, matplotlib.pyplot, coursekit.nn\nprint('IMPORTED')\n")
    spec = sandbox.SandboxSpec(scratch=str(scratch), package_view=str(build_view({}, cache_root=tmp_path / "v")),
                               torch=False, threads=1, packages=["numpy", "matplotlib", "tqdm"])
    done = subprocess.run([sys.executable, "-m", "coursekit.course.sandbox", "run", "--spec", spec.to_json(),
                           "--", sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    line = next((l for l in done.stdout.splitlines() if l.startswith("REPORT ")), None)
    assert line, done.stderr[-2000:]
    found = json.loads(line[len("REPORT "):])
    assert {m for m, there in found.items() if not there} == {"torch", *installed}, found
    assert "IMPORTED" in done.stdout, done.stderr[-2000:]


def test_judge_modules_declare_their_kernels_packages(tmp_path):
    from coursekit.course.judging import load_judges

    (tmp_path / "judges").mkdir()
    (tmp_path / "judges" / "a.py").write_text("KERNEL_PACKAGES = ['numpy']\n")
    assert load_judges("a", tmp_path).kernel_packages == ["numpy"] and not load_judges("a", tmp_path).kernel_torch
    (tmp_path / "judges" / "b.py").write_text("KERNEL_TORCH = False\n")
    assert load_judges("b", tmp_path).kernel_packages == ["numpy", "matplotlib", "tqdm"]
    (tmp_path / "judges" / "c.py").write_text("KERNEL_PACKAGES = 'numpy'\n")
    with pytest.raises(ValueError, match="KERNEL_PACKAGES"):
        load_judges("c", tmp_path)
    for assignment in ("a1_conv_arithmetic", "a2_batchnorm", "a3_unet", "a4_vgg_transfer"):
        module = load_judges(assignment, Path(__file__).resolve().parents[1] / "course")
        assert module.kernel_packages is not None and "scipy" not in module.kernel_packages, assignment


# --------------------------------------------------------------------------- 5. the size of one message
def test_a_huge_message_is_dropped_at_the_socket_and_fails_its_cell(tmp_path, monkeypatch):
    import resource

    from coursekit.course.execute import ExecuteAndJudge

    monkeypatch.chdir(tmp_path)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1\nprint('before')"),
                nbformat.v4.new_code_cell("import sys\nsys.stdout.write('x' * (200 << 20))\nsys.stdout.flush()"),
                nbformat.v4.new_code_cell("print('next cell runs', x)")]
    (tmp_path / "nowhere").mkdir()
    executor = ExecuteAndJudge(timeout=60, interrupt_on_timeout=True, allow_errors=True, kernel_name="python3",
                               course_directory=str(tmp_path / "nowhere"), student_override="check",
                               require_sandbox=False, extra_arguments=["--HistoryManager.hist_file=:memory:"])
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out, _ = executor.preprocess(nb, {"nbgrader": {"assignment": "", "notebook": "t", "student": "check"},
                                      "metadata": {}})
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mib < 100, grown_mib          # the 200 MiB never reached the grader's memory
    assert [o.get("text") for o in out.cells[0].outputs] == ["before\n"]
    [error] = [o for o in out.cells[1].outputs if o.output_type == "error"]
    assert error.ename == "OutputLimitError"
    assert [o.get("text") for o in out.cells[2].outputs] == ["next cell runs 1\n"]  # the kernel goes on


# ------------------------------------------------------------------ 8. memory of the whole process tree
def test_memory_of_the_kernels_process_tree_is_bounded_together(tmp_path, monkeypatch):
    import os

    from coursekit.course.execute import ExecuteAndJudge
    from coursekit.course.limits import tree_memory_bytes
    assert tree_memory_bytes(os.getpid()) > 0
    monkeypatch.chdir(tmp_path)
    nb = nbformat.v4.new_notebook()
    # four processes of 150 MiB each: every one within its own RLIMIT_AS, together over the tree's 400 MiB
    nb.cells = [nbformat.v4.new_code_cell(
        "import os, time\nkids = []\nfor _ in range(3):\n    pid = os.fork()\n    if pid == 0:\n"
        "        hoard = bytearray(150 << 20)\n        time.sleep(60)\n        os._exit(0)\n    kids.append(pid)\n"
        "hoard = bytearray(150 << 20)\ntime.sleep(60)"),
        nbformat.v4.new_code_cell("print('after')")]
    (tmp_path / "nowhere").mkdir()
    executor = ExecuteAndJudge(timeout=60, interrupt_on_timeout=True, allow_errors=True, kernel_name="python3",
                               course_directory=str(tmp_path / "nowhere"), student_override="check",
                               require_sandbox=False, tree_memory_bytes=400 << 20,
                               extra_arguments=["--HistoryManager.hist_file=:memory:"])
    out, _ = executor.preprocess(nb, {"nbgrader": {"assignment": "", "notebook": "t", "student": "check"},
                                      "metadata": {}})
    for cell in out.cells:
        assert any(o.get("ename") == "KernelDied" for o in cell.outputs), cell.outputs


# ------------------------------------------------------------- 9. CPU time of children nobody waited for
def test_cpu_of_short_lived_children_that_nobody_waited_for_counts(tmp_path, monkeypatch):
    """Work done in forked children that exit between two polls, with SIGCHLD ignored so they are never waited
    for, is counted (the kernel's cgroup), so it cannot pass a cell's CPU limit."""
    from coursekit.course.execute import ExecuteAndJudge, Limit
    from coursekit.course.limits import CgroupAccount

    probe = CgroupAccount.create("coursekit-probe-test")
    if probe is None:
        pytest.skip("no cgroup can be made here (not root, no delegated cgroup): CPU time is read from /proc")
    probe.close()
    monkeypatch.chdir(tmp_path)
    (tmp_path / "timeouts.json").write_text('{"default": 3}')
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        "import os, signal, time\nsignal.signal(signal.SIGCHLD, signal.SIG_IGN)\n"
        "for _ in range(120):\n    if os.fork() == 0:\n        t = time.process_time()\n"
        "        while time.process_time() - t < 0.05:\n            pass\n        os._exit(0)\n    time.sleep(0.06)\n"
        "print('done')"), nbformat.v4.new_code_cell("print('next')")]
    executor = ExecuteAndJudge(timeout=120, interrupt_on_timeout=True, allow_errors=True, kernel_name="python3",
                               course_directory=str(tmp_path), student_override="check", require_sandbox=False,
                               timeouts_file=str(tmp_path / "timeouts.json"),
                               extra_arguments=["--HistoryManager.hist_file=:memory:"])
    out, _ = executor.preprocess(nb, {"nbgrader": {"assignment": "", "notebook": "t", "student": "check"},
                                      "metadata": {}})
    first = executor._runs[0]
    assert first.hits and first.hits[0] == Limit.CPU, (first, out.cells[0].outputs)
    assert any(o.get("ename") == "CellTimeoutError" for o in out.cells[0].outputs)
    assert [o.get("text") for o in out.cells[1].outputs] == ["next\n"]
