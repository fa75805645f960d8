"""Regenerate the sample submissions in course/submitted/ from the release and the instructor's solutions.

Each sample is a student notebook: the released notebook with solution cells filled from solutions/ and then
one realistic change (a formula off by one, a missing term, a loop that never ends, an edited test ...).
Their expected scores live in expected_scores.json, asserted by tests/test_course.py.

    python course/make_submissions.py        (make course runs it after the release)
"""

from __future__ import annotations

import copy
import re
import sys
from pathlib import Path

import nbformat

COURSE = Path(__file__).resolve().parent
ROOT = COURSE.parent
SOLUTION_BLOCK = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n", re.M)


def _grade_id(cell):
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def _cell(nb, grade_id):
    for cell in nb.cells:
        if _grade_id(cell) == grade_id:
            return cell
    raise KeyError(grade_id)


def solved(assignment: str, notebook: str):
    """The release with every solution cell replaced by the instructor's solution (markers removed)."""
    release = nbformat.read(ROOT / "assignments" / assignment / f"{notebook}.ipynb", as_version=4)
    source = nbformat.read(ROOT / "solutions" / assignment / f"{notebook}.ipynb", as_version=4)
    answers = {_grade_id(c): c.source for c in source.cells if c.metadata.get("nbgrader", {}).get("solution")}
    for cell in release.cells:
        if cell.metadata.get("nbgrader", {}).get("solution"):
            cell.source = SOLUTION_BLOCK.sub("", answers[_grade_id(cell)])
    return release


def replace_in(nb, grade_id, old, new):
    cell = _cell(nb, grade_id)
    if old not in cell.source:
        raise ValueError(f"{old!r} not found in cell {grade_id}")
    cell.source = cell.source.replace(old, new)
    return nb


def prepend(nb, grade_id, code):
    cell = _cell(nb, grade_id)
    cell.source = code + cell.source
    return nb


def insert_after(nb, grade_id, code):
    """An extra (ungraded) code cell after the given cell, as a student would add one."""
    index = next(i for i, c in enumerate(nb.cells) if _grade_id(c) == grade_id)
    cell = nbformat.v4.new_code_cell(code.strip() + "\n")
    cell["id"] = f"student-{index}"
    nb.cells.insert(index + 1, cell)
    return nb


def delete(nb, *grade_ids):
    nb.cells = [c for c in nb.cells if _grade_id(c) not in grade_ids]
    return nb


CHEAT = """
# "make every test pass"
import numpy as np
from coursekit import grading

grading.assert_close = lambda *args, **kwargs: None
grading.assert_scalar = lambda *args, **kwargs: None
grading.assert_shape = lambda *args, **kwargs: None
grading.verify = lambda: None
np.testing.assert_allclose = lambda *args, **kwargs: None
"""

# Hostile cells: each tries something the sandbox must stop, then lets the honest work be graded.
FIND_UP = """
import os
from pathlib import Path

def find_up(name):
    for folder in [Path.cwd(), *Path.cwd().parents]:
        if (folder / name).exists():
            return folder / name
    return None
"""
HOSTILE = {
    "reads_solutions": FIND_UP + """
found = find_up("solutions")
stolen = sorted(str(p) for p in found.rglob("*.ipynb")) if found else []
print("solutions visible:", stolen)
""",
    "writes_gradebook": FIND_UP + """
import sqlite3
gradebook = find_up("course/gradebook.db") or find_up("gradebook.db")
print("gradebook visible:", gradebook)
if gradebook:
    with sqlite3.connect(gradebook) as db:
        db.execute("UPDATE grade SET extra_credit = 100")
source = find_up("solutions")
if source:
    for notebook in source.rglob("*.ipynb"):
        notebook.write_text("{}")
""",
    "reads_other_students": FIND_UP + """
submitted = find_up("course/submitted") or find_up("submitted")
others = sorted(str(p) for p in submitted.rglob("*.ipynb")) if submitted else []
print("other submissions visible:", others)
""",
    "opens_network": """
import socket
for host, port in [("127.0.0.1", 47653), ("1.1.1.1", 53), ("pypi.org", 443)]:
    try:
        socket.create_connection((host, port), timeout=2).close()
        print("connected to", host, port)
    except OSError as exc:
        print("no connection to", host, port, "-", type(exc).__name__)
""",
    "exhausts_memory": """
hoard = []
try:
    while True:
        hoard.append(bytearray(256 << 20))
except MemoryError:
    print("stopped after", len(hoard) * 256, "MiB")
del hoard
""",
    "fork_bomb": """
import os, time
children = []
try:
    while True:
        pid = os.fork()
        if pid == 0:
            while True:
                time.sleep(1)
        children.append(pid)
except OSError as exc:
    print("fork refused after", len(children), "children:", type(exc).__name__)
""",
    "kills_kernel": """
import os
os._exit(0)
""",
    "prints_forever": """
while True:
    print("spam " * 40)
""",
}

A1, A2 = ("a1_conv_arithmetic", "conv_arithmetic"), ("a2_batchnorm", "batchnorm")
A3 = ("a3_unet", "unet_segmentation")
# the cell the monkeypatching sample puts its cheat in: the first solution cell
CHEAT_CELL = {A1[0]: "a1-sizes-solution", A2[0]: "a2-forward-solution", A3[0]: "a3-crop-solution"}
TODO = "    raise NotImplementedError()\n"


def samples():
    """{student: {assignment: notebook}}."""
    out = {}
    for assignment, notebook in (A1, A2, A3):
        blank = nbformat.read(ROOT / "assignments" / assignment / f"{notebook}.ipynb", as_version=4)
        ref = solved(assignment, notebook)

        def variant(fn, ref=ref):
            return fn(copy.deepcopy(ref))

        s = {"reference": ref, "blank": copy.deepcopy(blank)}
        if assignment == A1[0]:
            s["off_by_one"] = variant(lambda nb: replace_in(
                nb, "a1-sizes-solution", "dilation * (kernel_size - 1) - 1) // stride + 1",
                "dilation * (kernel_size - 1)) // stride + 1"))
            s["forgot_bias"] = variant(lambda nb: replace_in(
                nb, "a1-params-solution", " + (c_out if bias else 0)", ""))
            s["loops_only"] = variant(lambda nb: replace_in(replace_in(
                nb, "a1-conv-solution", "    cols = np.empty((c, kh, kw, n, oh, ow))",
                TODO + "    cols = np.empty((c, kh, kw, n, oh, ow))"),
                "a1-conv-solution", "    out = w.reshape(f, -1) @", TODO + "    out = w.reshape(f, -1) @"))
            s["infinite_loop"] = variant(lambda nb: replace_in(
                nb, "a1-params-solution", "    oh, ow = output_size\n",
                "    oh, ow = output_size\n    while True:\n        pass\n"))
            s["raises"] = variant(lambda nb: prepend(nb, "a1-vgg-solution", "raise RuntimeError('not finished')\n"))
            s["edits_test"] = variant(lambda nb: replace_in(replace_in(
                nb, "a1-sizes-solution", "dilation * (kernel_size - 1) - 1) // stride + 1",
                "dilation * (kernel_size - 1)) // stride + 1"),
                "a1-conv-size", 'grading.assert_scalar(conv_output_size(32, 5), 28, "conv_output_size(32, 5)")',
                "pass  # this test is wrong"))
            s["deletes_cells"] = variant(lambda nb: delete(nb, "a1-vgg16", "a1-setup"))
            for student, code in HOSTILE.items():
                where = "a1-vgg16" if student == "kills_kernel" else "a1-setup"
                s[student] = variant(lambda nb, where=where, code=code: insert_after(nb, where, code))
        elif assignment == A2[0]:
            s["no_mean_term"] = variant(lambda nb: replace_in(
                nb, "a2-closed-solution", "(n * dout - dbeta - x_hat * dgamma)", "(n * dout - x_hat * dgamma)"))
            s["biased_running_var"] = variant(lambda nb: replace_in(
                nb, "a2-forward-solution", "momentum * var * n / (n - 1)", "momentum * var"))
            s["infinite_loop"] = variant(lambda nb: prepend(nb, "a2-numgrad-solution", "while True:\n    pass\n"))
            s["raises"] = variant(lambda nb: prepend(nb, "a2-spatial-solution", "raise RuntimeError('not finished')\n"))
            s["edits_test"] = variant(lambda nb: replace_in(
                nb, "a2-graph", "grading.assert_close(dbeta, [3.0, 3.0], \"dbeta\")", "dbeta = None"))
            s["deletes_cells"] = variant(lambda nb: delete(nb, "a2-closed"))
        else:
            s["crop_off_by_one"] = variant(lambda nb: replace_in(
                nb, "a3-crop-solution", "top, left = (h - height) // 2, (w - width) // 2",
                "top, left = (h - height + 1) // 2, (w - width + 1) // 2"))
            s["dice_no_sigmoid"] = variant(lambda nb: replace_in(
                nb, "a3-dice-solution", "p = torch.sigmoid(logits)", "p = logits"))
            s["sigmoid_head"] = variant(lambda nb: replace_in(
                nb, "a3-unet-solution", "return self.head(x)", "return torch.sigmoid(self.head(x))"))
            s["undertrained"] = variant(lambda nb: replace_in(replace_in(
                nb, "a3-train-solution", "base_channels=16, depth=3", "base_channels=4, depth=2"),
                "a3-train-solution", "epochs=5", "epochs=1"))
        # the cheat: nothing implemented, every comparison helper replaced
        s["monkeypatch"] = prepend(copy.deepcopy(blank), CHEAT_CELL[assignment], CHEAT.lstrip())
        for student, nb in s.items():
            out.setdefault(student, {})[(assignment, notebook)] = nb
    return out


def write(target: Path = COURSE / "submitted") -> list[Path]:
    written = []
    for student, notebooks in samples().items():
        for (assignment, notebook), nb in notebooks.items():
            path = target / student / assignment / f"{notebook}.ipynb"
            path.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, path)
            written.append(path)
    return written


if __name__ == "__main__":
    paths = write(Path(sys.argv[1]) if len(sys.argv) > 1 else COURSE / "submitted")
    print(f"wrote {len(paths)} sample submissions")
