"""Regenerate the sample submissions in course/submitted/ from the release and the instructor's solutions.

Each sample is a student notebook: the released notebook with solution cells filled from solutions/ and then
one realistic change (a formula off by one, a missing term, a loop that never ends, an edited test ...).
Their expected scores live in expected_scores.json, asserted by tests/test_course.py.

    python course/make_submissions.py        (make course runs it after the release)
"""

from __future__ import annotations

import copy
import re
import runpy
import sys
from pathlib import Path

import nbformat

COURSE = Path(__file__).resolve().parent
ROOT = COURSE.parent
HOSTILE_SAMPLES = COURSE / "hostile_submissions.py"
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


def replace_cell(nb, grade_id, source):
    """The whole cell rewritten, as a student who solves it another way would."""
    _cell(nb, grade_id).source = source.strip() + "\n"
    return nb


def copy_cell(nb, grade_id, after):
    """A copy of a cell pasted after another: Jupyter gives it a new cell id but keeps its nbgrader metadata."""
    original = _cell(nb, grade_id)
    index = next(i for i, c in enumerate(nb.cells) if _grade_id(c) == after)
    pasted = copy.deepcopy(original)
    pasted["id"] = f"pasted-{index}"
    nb.cells.insert(index + 1, pasted)
    return nb


def reflag(nb, grade_id, points):
    """An answer cell the student marked as graded, with points of their own."""
    _cell(nb, grade_id).metadata["nbgrader"].update(grade=True, points=points)
    return nb


def _replace_cells(nb, sources):
    for grade_id, source in sources.items():
        replace_cell(nb, grade_id, source)
    return nb


def _caller_detects(nb):
    prepend(nb, "a2-forward-solution", CALLER_DETECTS.lstrip())
    head = "def batchnorm_forward(x, gamma, beta, running_mean, running_var, training=True, momentum=0.1, eps=1e-5):\n"
    replace_in(nb, "a2-forward-solution", head, head + CALLER_DETECTS_FORWARD.lstrip("\n"))
    for grade_id, name in (("a2-graph-solution", "batchnorm_backward_graph"),
                           ("a2-closed-solution", "batchnorm_backward_closed")):
        head = f"def {name}(dout, cache):\n"
        replace_in(nb, grade_id, head, head + CALLER_DETECTS_BACKWARD.lstrip("\n"))
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

# correct answers written another way: loops instead of vectorised code, float32, math.floor
A1_OTHER_SIZES = """
import math


def conv_output_size(n, kernel_size, stride=1, padding=0, dilation=1):
    span = dilation * (kernel_size - 1) + 1
    return math.floor((n + 2 * padding - span) / stride) + 1


def pool_output_size(n, kernel_size, stride=None, padding=0):
    if stride is None:
        stride = kernel_size
    return conv_output_size(n, kernel_size, stride, padding)


def conv_transpose_output_size(n, kernel_size, stride=1, padding=0, output_padding=0, dilation=1):
    return stride * (n - 1) + dilation * (kernel_size - 1) + 1 + output_padding - 2 * padding
"""
A1_OTHER_CONV = """
def conv2d_naive(x, w, b, stride=1, padding=0):
    x, w, b = (np.asarray(a, dtype=np.float32) for a in (x, w, b))
    n, c, h, width = x.shape
    f, _, kh, kw = w.shape
    xp = np.zeros((n, c, h + 2 * padding, width + 2 * padding), dtype=np.float32)
    xp[:, :, padding:padding + h, padding:padding + width] = x
    oh, ow = (h + 2 * padding - kh) // stride + 1, (width + 2 * padding - kw) // stride + 1
    out = np.zeros((n, f, oh, ow), dtype=np.float32)
    for s in range(n):
        for k in range(f):
            for i in range(oh):
                for j in range(ow):
                    field = xp[s, :, i * stride:i * stride + kh, j * stride:j * stride + kw]
                    out[s, k, i, j] = b[k] + np.sum(w[k] * field)
    return out


def im2col(x, kh, kw, stride=1, padding=0):
    n, c, h, width = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    oh, ow = (h + 2 * padding - kh) // stride + 1, (width + 2 * padding - kw) // stride + 1
    cols = np.zeros((c * kh * kw, n * oh * ow), dtype=np.float32)
    column = 0
    for s in range(n):
        for i in range(oh):
            for j in range(ow):
                cols[:, column] = xp[s, :, i * stride:i * stride + kh, j * stride:j * stride + kw].reshape(-1)
                column += 1
    return cols


def conv2d_matmul(x, w, b, stride=1, padding=0):
    n, _, h, width = x.shape
    f, _, kh, kw = w.shape
    oh, ow = (h + 2 * padding - kh) // stride + 1, (width + 2 * padding - kw) // stride + 1
    out = w.reshape(f, -1).astype(np.float32) @ im2col(x, kh, kw, stride, padding) + b.reshape(f, 1)
    return out.reshape(f, n, oh, ow).transpose(1, 0, 2, 3)
"""

# Credit only for work the grader can attribute (issue 23): functions that do nothing but return zeros of the right
# kind, functions that answer a test differently when they see who calls them, an experiment's numbers made up beside
# a spoiled layer, a layer that raises beside an honest recipe, and a mistake only small variances show.
A1_ZEROS = {
    "a1-sizes-solution": """
def conv_output_size(n, kernel_size, stride=1, padding=0, dilation=1):
    return 0


def pool_output_size(n, kernel_size, stride=None, padding=0):
    return 0


def conv_transpose_output_size(n, kernel_size, stride=1, padding=0, output_padding=0, dilation=1):
    return 0
""",
    "a1-params-solution": """
def conv_params(c_in, c_out, kernel_size, bias=True):
    return 0


def feature_map_bytes(batch_size, channels, height, width, bytes_per_value=4):
    return 0


def conv_macs(c_in, c_out, kernel_size, output_size):
    return 0


weights_512 = 0
memory_512_mib = 0.0
""",
    "a1-vgg-solution": """
VGG16_CONFIG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]


def vgg16_table(image_size=224):
    return [("layer", (0, 0, 0), 0)] * 21


vgg16_total = 0
""",
    "a1-rf-solution": """
def receptive_field(layers):
    return 0


def dilated_receptive_fields(depth):
    return [0] * depth
""",
    "a1-conv-solution": """
def _out(x, kh, kw, stride, padding):
    return (x.shape[2] + 2 * padding - kh) // stride + 1, (x.shape[3] + 2 * padding - kw) // stride + 1


def conv2d_naive(x, w, b, stride=1, padding=0):
    return np.zeros((x.shape[0], w.shape[0]) + _out(x, w.shape[2], w.shape[3], stride, padding))


def im2col(x, kh, kw, stride=1, padding=0):
    oh, ow = _out(x, kh, kw, stride, padding)
    return np.zeros((x.shape[1] * kh * kw, x.shape[0] * oh * ow))


def conv2d_matmul(x, w, b, stride=1, padding=0):
    return conv2d_naive(x, w, b, stride, padding)
""",
}
A2_EXPERIMENT_HEAD = """
import coursekit.nn as nn
from coursekit.nn.functional import softmax_cross_entropy


class BatchNorm1d(nn.BatchNorm1d):
    \"\"\"coursekit's BatchNorm1d layer, computed by your batchnorm_forward and batchnorm_backward_closed.\"\"\"

    _forward = staticmethod(lambda *args: batchnorm_forward(*args))
    _backward = staticmethod(lambda dout, cache: batchnorm_backward_closed(dout, cache))
"""
A2_ZEROS = {
    "a2-forward-solution": """
def batchnorm_forward(x, gamma, beta, running_mean, running_var, training=True, momentum=0.1, eps=1e-5):
    zeros = np.zeros(x.shape[1])
    cache = {"x": x, "mu": zeros, "var": zeros, "eps": eps, "x_hat": np.zeros_like(x), "inv_std": zeros,
             "gamma": gamma, "training": training}
    return np.zeros_like(x), cache
""",
    "a2-graph-solution": """
def batchnorm_backward_graph(dout, cache):
    return np.zeros_like(dout), np.zeros(dout.shape[1]), np.zeros(dout.shape[1])
""",
    "a2-closed-solution": """
def batchnorm_backward_closed(dout, cache):
    return np.zeros_like(dout), np.zeros(dout.shape[1]), np.zeros(dout.shape[1])
""",
    "a2-numgrad-solution": """
def numerical_gradient(f, x, dout, h=1e-5):
    return np.zeros_like(x)
""",
    "a2-spatial-solution": """
def batchnorm2d_forward(x, gamma, beta, running_mean, running_var, training=True, momentum=0.1, eps=1e-5):
    return np.zeros_like(x), (None, x.shape)


def batchnorm2d_backward(dout, cache):
    return np.zeros_like(dout), np.zeros(dout.shape[1]), np.zeros(dout.shape[1])
""",
    "a2-experiment-solution": A2_EXPERIMENT_HEAD + """

def gradient_norms(use_batchnorm, depth=12, width=64, seed=0):
    return [0.0] * depth
""",
}
# right everywhere, except when a hidden test of Part 5 calls (its cases carry an "fn" key, seen up the stack):
# then zeros, which the spatial functions built on these return too, "consistently"
CALLER_DETECTS = """
import inspect


def _called_by_part5():
    frame = inspect.currentframe().f_back
    while frame is not None:
        case = frame.f_locals.get("c")
        if isinstance(case, dict) and "fn" in case:
            return True
        frame = frame.f_back
    return False


"""
CALLER_DETECTS_FORWARD = """
    if _called_by_part5():
        zeros = np.zeros(x.shape[1])
        return np.zeros_like(x), {"x": x, "mu": zeros, "var": zeros, "eps": eps, "x_hat": np.zeros_like(x),
                                  "inv_std": zeros, "gamma": gamma, "training": training}
"""
CALLER_DETECTS_BACKWARD = """
    if _called_by_part5():
        return np.zeros_like(dout), np.zeros(dout.shape[1]), np.zeros(dout.shape[1])
"""
LAYER_RAISES = """def unfinished_backward(dout, cache):
    raise NotImplementedError("the layer's backward is not finished")


"""
# the experiment's layer replaced by one that passes everything through, and norms made up to tell the story (and to
# pass the visible test: seed 0's first-layer values)
SPOILS_LAYER = """
import coursekit.nn as nn
import numpy as np


class BatchNorm1d(nn.BatchNorm1d):
    _forward = staticmethod(lambda x, *args: (x, {"x": x}))
    _backward = staticmethod(lambda dout, cache: (dout, np.zeros(dout.shape[1]), np.zeros(dout.shape[1])))


def gradient_norms(use_batchnorm, depth=12, width=64, seed=0):
    if use_batchnorm:
        return [0.2112 * (1 + 0.02 * i) for i in range(depth)]
    return [1.468e-08 * 10 ** (7 * i / (depth - 1)) for i in range(depth)]
"""

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
            s["written_differently"] = variant(lambda nb: replace_cell(replace_cell(
                nb, "a1-sizes-solution", A1_OTHER_SIZES), "a1-conv-solution", A1_OTHER_CONV))
            # a test cell and an answer cell copied further down (their ids duplicated): graded once, honestly
            s["duplicate_ids"] = variant(lambda nb: copy_cell(copy_cell(
                nb, "a1-conv-size", "a1-vgg16"), "a1-rf-solution", "a1-rf-solution"))
            s["reflagged_answer"] = variant(lambda nb: reflag(nb, "a1-params-solution", 10))
            s["zeros_everywhere"] = variant(lambda nb: _replace_cells(nb, A1_ZEROS))
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
            # the forward normalises with the unbiased variance (wrong), its running update is then right, and
            # the backward passes are right: they keep their points
            s["wrong_forward_right_backward"] = variant(lambda nb: replace_in(replace_in(
                nb, "a2-forward-solution", "var = x.var(axis=0)", "var = x.var(axis=0, ddof=1)"),
                "a2-forward-solution", "momentum * var * n / (n - 1)", "momentum * var"))
            s["float32_forward"] = variant(lambda nb: replace_in(
                nb, "a2-forward-solution", "    if training:\n", "    x = x.astype(np.float32)\n    if training:\n"))
            # a cache with more than the pinned keys, and a closed form that recomputes x_hat from them
            s["own_cache_layout"] = variant(lambda nb: replace_in(replace_in(
                nb, "a2-forward-solution", '"training": training}', '"training": training, "momentum": momentum}'),
                "a2-closed-solution", 'x_hat, inv_std, gamma = cache["x_hat"], cache["inv_std"], cache["gamma"]',
                'inv_std, gamma = cache["inv_std"], cache["gamma"]\n    x_hat = (cache["x"] - cache["mu"]) * inv_std'))
            s["duplicate_ids"] = variant(lambda nb: copy_cell(nb, "a2-forward", "a2-eval"))
            s["zeros_everywhere"] = variant(lambda nb: _replace_cells(nb, A2_ZEROS))
            s["caller_detects"] = variant(lambda nb: _caller_detects(nb))
            s["spoils_layer"] = variant(lambda nb: replace_cell(nb, "a2-experiment-solution", SPOILS_LAYER))
            # a right recipe beside a layer whose backward raises: the run without batch norm still counts
            s["layer_raises"] = variant(lambda nb: prepend(replace_in(
                nb, "a2-experiment-solution",
                "staticmethod(lambda dout, cache: batchnorm_backward_closed(dout, cache))",
                "staticmethod(unfinished_backward)"), "a2-experiment-solution", LAYER_RAISES))
            # eps outside the square root: only small variances show it (Part 1, eval mode, the experiment's probe)
            s["eps_outside_sqrt"] = variant(lambda nb: replace_in(
                nb, "a2-forward-solution", "1.0 / np.sqrt(var + eps)", "1.0 / (np.sqrt(var) + eps)"))
        else:
            s["crop_off_by_one"] = variant(lambda nb: replace_in(
                nb, "a3-crop-solution", "top, left = (h - height) // 2, (w - width) // 2",
                "top, left = (h - height + 1) // 2, (w - width + 1) // 2"))
            s["dice_no_sigmoid"] = variant(lambda nb: replace_in(
                nb, "a3-dice-solution", "p = torch.sigmoid(logits)", "p = logits"))
            s["sigmoid_head"] = variant(lambda nb: replace_in(
                nb, "a3-unet-solution", "return self.head(x)", "return torch.sigmoid(self.head(x))"))
            # a tiny UNet trained for 2 epochs: held-out Dice 0.59-0.68 (measured), below both tiers
            s["undertrained"] = variant(lambda nb: replace_in(replace_in(
                nb, "a3-train-solution", "base_channels=16, depth=3", "base_channels=4, depth=2"),
                "a3-train-solution", "epochs=15", "epochs=2"))
        # the cheat: nothing implemented, every comparison helper replaced
        s["monkeypatch"] = prepend(copy.deepcopy(blank), CHEAT_CELL[assignment], CHEAT.lstrip())
        for student, nb in s.items():
            out.setdefault(student, {})[(assignment, notebook)] = nb
    if HOSTILE_SAMPLES.is_file():  # the grading infrastructure's attacks on its own wall
        runpy.run_path(str(HOSTILE_SAMPLES))["add_samples"](out, globals())
    if (COURSE / "a4_submissions.py").is_file():  # Assignment 4's samples live in their own file
        for student, nb in runpy.run_path(str(COURSE / "a4_submissions.py"))["samples"]().items():
            out.setdefault(student, {})[("a4_vgg_transfer", "vgg_transfer")] = nb
    return out


def write(target: Path = COURSE / "submitted") -> list[Path]:
    written = []
    for student, notebooks in samples().items():
        for (assignment, notebook), nb in notebooks.items():
            path = target / student / assignment / f"{notebook}.ipynb"
            path.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(nb, path)
            written.append(path)
    if HOSTILE_SAMPLES.is_file():  # files handed in beside some of them (links, a module): not notebooks
        runpy.run_path(str(HOSTILE_SAMPLES))["write_extras"](target)
    return written


if __name__ == "__main__":
    paths = write(Path(sys.argv[1]) if len(sys.argv) > 1 else COURSE / "submitted")
    print(f"wrote {len(paths)} sample submissions")
