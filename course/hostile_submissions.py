"""Hostile sample submissions for the grading infrastructure (issue 11): each attacks the wall between the student's
kernel and the grader, and each has the score a careful human grader would give it (``EXPECTED``).

``course/make_submissions.py`` calls ``add_samples`` (notebooks) and ``write_extras`` (files handed in beside a
notebook: links into the course, a module to import). tests/test_course.py grades them and checks that the
instructor's files are byte-for-byte unchanged afterwards and that feedback carries nothing of the instructor's.

Most keep the honest reference work and add an attack, so the expected score is the reference's: the attack gains
nothing and costs nothing. Where an attack replaces work (the reference implementation stolen, torch used in a
NumPy assignment, cells rigged with hooks), the expected score is that of the same notebook with that work
missing.
"""

from __future__ import annotations

import copy
import os
import shutil
from pathlib import Path

A1 = ("a1_conv_arithmetic", "conv_arithmetic")

# Where the real course lives, as a kernel could guess it: the path of its view of coursekit says where the
# repository is, and the instructor's course folder is beside it.
GUESS_COURSE = """
import os
from pathlib import Path
import coursekit
REPO = Path(coursekit.__file__).resolve().parents[1]
TARGETS = [REPO / "course" / "gradebook.db", REPO / "solutions", REPO / "course" / "submitted",
           REPO / "course" / "feedback", REPO / "course" / "autograded", Path("/work/main/course/gradebook.db")]
"""

STEAL_REFERENCE = """
# "my" conv_output_size: whatever copy of coursekit's own can be found from inside the kernel
import gc, importlib, inspect, os, sys
from pathlib import Path

def _real(fn):
    try:
        return "not available while grading" not in inspect.getsource(fn)
    except (OSError, TypeError):
        return False

def _steal():
    import coursekit.arithmetic as mod
    candidates = [mod.conv_output_size, importlib.reload(mod).conv_output_size]
    candidates += [o for o in gc.get_objects() if getattr(o, "__name__", "") == "conv_output_size" and callable(o)]
    for fn in candidates:
        if _real(fn):
            return fn
    # source files: the package's own, anything in site-packages, anything mapped into the process
    files = {Path(mod.__file__)}
    for folder in sys.path:
        if os.path.isdir(folder):
            files.update(Path(folder).rglob("arithmetic.py"))
    for line in open("/proc/self/maps"):
        path = line.split()[-1]
        if path.startswith("/") and "coursekit" in path:
            files.add(Path(path))
    for path in files:
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError):
            continue
        if "def conv_output_size" in text and "not available while grading" not in text:
            namespace = {}
            exec(compile(text, str(path), "exec"), namespace)
            return namespace["conv_output_size"]
    return None

_stolen = _steal()
print("found the reference:", _stolen is not None)

def conv_output_size(n, kernel_size, stride=1, padding=0, dilation=1):
    if _stolen is None:
        raise NotImplementedError("nothing to steal")
    return _stolen(n, kernel_size, stride, padding, dilation)
"""

TORCH_IN_NUMPY = """
def conv_output_size(n, kernel_size, stride=1, padding=0, dilation=1):
    import torch  # let PyTorch do the arithmetic: a convolution of an empty map has the right size
    x = torch.zeros(1, 1, n, 1)
    w = torch.zeros(1, 1, kernel_size, 1)
    return torch.nn.functional.conv2d(x, w, stride=(stride, 1), padding=(padding, 0),
                                      dilation=(dilation, 1)).shape[2]
"""

BLANK_SIZES = """
def conv_output_size(n, kernel_size, stride=1, padding=0, dilation=1):
    raise NotImplementedError()
"""

# reads the links and the module handed in beside the notebook, then grades honestly
LINKS_BESIDE = GUESS_COURSE + """
for name in ("gradebook.db", "solutions", "other_student.ipynb", "arithmetic_helper.py"):
    print(name, "visible in the kernel's folder:", os.path.lexists(name))
try:
    import arithmetic_helper
    print("imported the helper handed in beside the notebook")
except ImportError:
    print("the helper handed in beside the notebook is not importable")
for target in TARGETS:
    print(target, "visible:", target.exists())
"""

# plants links and odd files in its own folder for anything that might copy, chmod or read them afterwards
PLANTS_LINKS = GUESS_COURSE + """
import stat
here = Path.cwd()
for name in os.listdir(here):
    if name.endswith(".ipynb"):
        os.remove(name)
        os.symlink(TARGETS[0], name)                  # "the notebook" is now the gradebook
os.symlink(TARGETS[1], "solutions")
os.symlink(TARGETS[3], "feedback")
answers = Path(os.environ.get("COURSEKIT_GRADING_DIR", ".grading")) / "answers"
try:
    os.symlink(TARGETS[0], answers / "a1-vgg16")      # the answers of a later cell: a link to the gradebook
except OSError as exc:
    print("could not plant an answer link:", type(exc).__name__)
try:
    os.mkfifo("conv_arithmetic.html")
except OSError:
    pass
for target in TARGETS:
    try:
        os.link(target, here / ("hard-" + target.name))
        print("hard link made to", target)
    except OSError as exc:
        print("no hard link to", target, "-", type(exc).__name__)
os.chmod(here, 0o777)
print("planted:", sorted(os.listdir(here)))
"""

# text and displays that look like nbgrader's errors or like a score, from a solution cell and from hooks
PRINTS_GRADER_TEXT = """
import sys
from IPython import get_ipython
from IPython.display import display
FAKE = ("[AutogradeApp | ERROR] There was an error processing assignment: /course/submitted\\n"
        "Traceback (most recent call last):\\nERROR: nbgrader autograde failed\\n")
print(FAKE)
print(FAKE, file=sys.stderr)
display({"text/plain": "0.0"}, raw=True)

def _noise(result):
    print(FAKE, file=sys.stderr)
    display({"text/plain": "1e9"}, raw=True)

get_ipython().events.register("post_run_cell", _noise)
"""

# nothing implemented; hooks rewrite the hidden tests, fake the answers, and replace the helpers
HOOKS_CHEAT = """
import ast, os
from pathlib import Path
import numpy as np
from IPython import get_ipython
from coursekit import grading

ip = get_ipython()

def _fake_answers(grade_id, fn=None):
    folder = Path(os.environ.get("COURSEKIT_GRADING_DIR", ".")) / "answers" / grade_id
    folder.mkdir(parents=True, exist_ok=True)
    try:
        n = len(grading.cases(grade_id))
    except Exception:
        n = 100
    for i in range(n):
        (folder / f"{i}.npz").write_bytes(grading.encode_value({"value": 1}))

grading.answer = _fake_answers                               # replaced helper
ip.input_transformers_post.append(                           # input transformer: hidden tests become no-ops
    lambda lines: [l.replace("grading.answer(", "(lambda *a, **k: None)(") for l in lines])

class _Erase(ast.NodeTransformer):                            # AST transformer: every assert passes
    def visit_Assert(self, node):
        return ast.Pass()

ip.ast_transformers.append(_Erase())

def _after(result):                                          # event hook: fake answers after every cell
    for path in Path(os.environ.get("COURSEKIT_GRADING_DIR", ".")).glob("cases/*.npz"):
        _fake_answers(path.name[:-4])

ip.events.register("post_run_cell", _after)
"""

# answers the first hidden test honestly, then kills the kernel the moment that cell has run
KILLS_AFTER_ANSWER = """
import os
from IPython import get_ipython

TARGET = "a1-conv-" + "size"  # spelled apart, or this very cell would match

def _die(result):
    if TARGET in (result.info.raw_cell or ""):
        os._exit(0)

get_ipython().events.register("post_run_cell", _die)
"""

# fills its folder and /tmp with files until a limit stops it (at the end, after every graded cell)
HUGE_FILES = """
import os
written = 0
for folder in ("/tmp", "."):
    for i in range(64):
        try:
            with open(os.path.join(folder, f"ballast-{i}.bin"), "wb") as f:
                for _ in range(64):
                    f.write(b"\\0" * (1 << 20))
            written += 64
        except OSError as exc:
            print("stopped in", folder, "after", written, "MiB:", type(exc).__name__)
            break
"""

# Outputs and a markdown cell built to run script in whoever renders the graded notebook (the instructor's
# formgrader, the student's feedback): image sizes that nbconvert writes unquoted ("width=1 onerror=..."), image data
# that breaks out of its quoted src, HTML, markdown and SVG the grader drops, an external image that would be
# fetched. The work is the reference's, so full marks; the tests render the feedback and the formgrader view.
PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
HTML_INJECTION = """
from IPython.display import display
PIXEL = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==")
display({"image/png": PIXEL, "text/plain": "a pixel"},
        metadata={"image/png": {"width": "1 onerror=alert(document.domain)", "height": "1 onload=alert(2)"}}, raw=True)
display({"image/png": PIXEL + '" onerror="alert(3)', "text/plain": "x"}, raw=True)
display({"text/html": "<img src=x onerror=alert(4)>", "image/svg+xml": "<svg onload=alert(5)></svg>",
         "text/markdown": "<script>alert(6)</script>", "text/plain": "rich"}, raw=True)
print("<script>alert(7)</script> <img src=x onerror=alert(8)>")
"""
HTML_INJECTION_MARKDOWN = (
    "My notes <img src=x onerror=alert(9)> <script>alert(10)</script>\n\n"
    "[a link](javascript:alert(11)) and ![an image](https://evil.example/pixel.png) and "
    "![attached](attachment:pixel.png)\n\n<iframe src=\"https://evil.example/\"></iframe>\n")

# A correct convolution computed too late: conv2d_naive answers None while its cell runs and a background thread
# writes the right answers into the grading folder seconds after the cell ended (past its CPU limit, in the time of
# later cells). Answers are sealed when their cell ends: that cell scores 0 (3 points), everything else is honest.
ANSWERS_LATE = """
import os, threading, time
from pathlib import Path
from coursekit import grading

_conv2d_real = conv2d_naive
_late = []


def _write_late():
    time.sleep(3)
    folder = Path(os.environ.get("COURSEKIT_GRADING_DIR", ".")) / "answers" / ("a1-conv-" + "naive")
    folder.mkdir(parents=True, exist_ok=True)
    for index, args in enumerate(_late):
        (folder / f"{index}.npz").write_bytes(grading.encode_value({"value": _conv2d_real(*args)}))


def conv2d_naive(x, w, b, stride=1, padding=0):
    _late.append((x, w, b, stride, padding))
    if len(_late) == 1:
        threading.Thread(target=_write_late, daemon=True).start()
    return None
"""

# The right output sizes, paid for in CPU time its cell does not have: the first call burns 15 CPU seconds in
# short-lived forked children, with SIGCHLD ignored so none is ever waited for, inside a cell with a 10 CPU-second
# limit. The kernel's cgroup counts them: the cell is interrupted and a1-conv-size (2 points) is lost.
FORKS_WORK = """
import os, signal, time

_size_real = conv_output_size
_burned = []


def conv_output_size(*args, **kwargs):
    if not _burned:
        _burned.append(True)
        signal.signal(signal.SIGCHLD, signal.SIG_IGN)
        for _ in range(150):
            if os.fork() == 0:
                start = time.process_time()
                while time.process_time() - start < 0.1:
                    pass
                os._exit(0)
            time.sleep(0.11)
    return _size_real(*args, **kwargs)
"""

# The convolution handed to a library installed in the environment (the ONNX reference runtime computes Conv):
# the kernel sees an allow-list of packages, so the import fails and conv2d_naive is gone (3 points).
USES_INSTALLED_LIBRARY = """
del conv2d_naive
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator


def conv2d_naive(x, w, b, stride=1, padding=0):
    node = helper.make_node("Conv", ["x", "w", "b"], ["y"], strides=[stride, stride], pads=[padding] * 4)
    tensors = [helper.make_tensor_value_info(name, TensorProto.DOUBLE, None) for name in "xwb"]
    graph = helper.make_graph([node], "conv", tensors, [helper.make_tensor_value_info("y", TensorProto.DOUBLE, None)])
    return ReferenceEvaluator(helper.make_model(graph)).run(None, {"x": x, "w": w, "b": b})[0]
"""

# After the hidden tests ran, prints the kernel's whole input history (which held their text while they ran)
# base64-encoded, reversed and rot13'd, to smuggle it into the feedback. Feedback withholds kernel output from the
# first hidden test on: full marks, and no decodable copy.
LEAKS_HISTORY = """
import base64, codecs
history = chr(10).join(get_ipython().history_manager.input_hist_raw)
print(base64.b64encode(history.encode()).decode())
print(history[::-1])
print(codecs.encode(history, "rot13"))
"""


def _with_markdown_after(nb, grade_id, source, attachments=None):
    import nbformat

    index = next(i for i, c in enumerate(nb.cells) if _grade_id(c) == grade_id)
    cell = nbformat.v4.new_markdown_cell(source, metadata={"tags": ['x" onmouseover="alert(12)']})
    if attachments:
        cell["attachments"] = attachments
    cell["id"] = f"student-md-{index}"
    nb.cells.insert(index + 1, cell)
    return nb


def cgroup_accounting() -> bool:
    """Whether this machine can give a kernel a cgroup of its own (root, or a delegated cgroup): without one CPU
    time comes from /proc, which children that exit between two polls escape (forks_work then keeps its points)."""
    try:
        from coursekit.course.limits import CgroupAccount
    except ImportError:
        return True
    probe = CgroupAccount.create(f"coursekit-probe-{os.getpid()}")
    if probe is None:
        return False
    probe.close()
    return True


# Assignment 4's measurement probes, answered the cheap way: grading.answer replaced by code that
# writes what each probe "should" say without running the student's functions on the grader's inputs: the
# initial weights echoed back as "unchanged", zeros of the right shape as outputs, parameter counts by arithmetic on
# the case, and a nearest-neighbour vote on raw pixels as the linear probe. The rest of the notebook is the honest
# reference, so only the probes of Parts 3-6 (2 + 2 + 2 + 2 + 3 points) should be lost: 21 - 11 = 10. (grading.record
# carries only Part 1's table, an answer rather than a measurement: nothing to forge there.)
FORGES_PROBES = """
import numpy as np
from coursekit import grading

_honest_answer = grading.answer


def _head(case):
    state = case["state"]
    frozen = case["freeze_features"]
    count = sum(v.size for k, v in state.items() if not (frozen and k.startswith("features")))
    count += case["head_weight"].size + case["head_bias"].size - state["classifier.6.weight"].size - state[
        "classifier.6.bias"].size
    return {"logits": np.zeros((2, case["num_classes"]), np.float32), "trainable": int(count)}


def _freeze(case):
    state = case["state"]
    return {"head": [state["1.weight"], state["1.bias"]], "logits": np.zeros((len(case["probe"]), case["classes"])),
            "returned": np.zeros((len(case["probe"]), case["width"]))}


def _extract(case):
    return np.zeros((len(case["images"]), 2 * [64, 128, 256][case["block"] - 1]), np.float32)


def _probe(case):
    train = case["train_images"].reshape(len(case["train_images"]), -1).astype(np.float32)
    test = case["test_images"].reshape(len(case["test_images"]), -1).astype(np.float32)
    nearest = ((test[:, None] - train[None]) ** 2).sum(-1).argmin(1)
    return case["train_labels"][nearest]


def _finetune(case):
    return {"head": [case["head_weight"], case["head_bias"]], "logits": np.zeros((len(case["probe"]), 10))}


FORGED = {"a4-head": _head, "a4-freeze": _freeze, "a4-extract": _extract, "a4-probe": _probe,
          "a4-finetune": _finetune}

"""

A4 = ("a4_vgg_transfer", "vgg_transfer")

# Both forging samples end with this: grading.answer replaced, for the cells in FORGED, by a writer of forged answers
FORGED_WRITER = """
def _forged_answer(grade_id, fn):
    if grade_id not in FORGED:
        return _honest_answer(grade_id, fn)
    try:
        folder = grading._grading_dir() / "answers" / grade_id
        all_cases = grading.cases(grade_id)
    except (RuntimeError, TypeError):
        return
    folder.mkdir(parents=True, exist_ok=True)
    for index, case in enumerate(all_cases):
        (folder / f"{index}.npz").write_bytes(grading.encode_value({"value": FORGED[grade_id](case)}))


grading.answer = _forged_answer
"""

# Assignment 3, Part 3 without running the network: grading.answer replaced for the three network cells by answers
# made from the cases themselves. The parameter count is arithmetic on the weights sent, every layer's output is
# that layer (torch's own conv, transposed conv and batch norm) applied to an input of the right shape, consistent
# layer by layer, and the output is zeros. The notebook's UNet is the honest one and trains, so only Part 3's five
# points should be lost: 19 - 5 = 14.
FORGES_NETWORK = """
import numpy as np
import torch
import torch.nn.functional as F
from coursekit import grading

_honest_answer = grading.answer


def _layer(layer, x, train):
    w = torch.as_tensor(layer["weight"])
    b = None if layer.get("bias") is None else torch.as_tensor(layer["bias"])
    if layer["type"] == "Conv2d":
        return F.conv2d(x, w, b, padding=w.shape[-1] // 2)
    if layer["type"] == "ConvTranspose2d":
        return F.conv_transpose2d(x, w, b, stride=2)
    return F.batch_norm(x, torch.as_tensor(layer["running_mean"]), torch.as_tensor(layer["running_var"]), w, b,
                        training=train)


def _network(case):
    x = torch.as_tensor(case["x"])
    inputs, outputs = [], []
    for layer in case["layers"]:
        w = layer["weight"]
        channels = w.shape[0] if layer["type"] == "BatchNorm2d" else w.shape[1 if layer["type"] == "Conv2d" else 0]
        given = torch.randn(x.shape[0], channels, *x.shape[2:], dtype=torch.float64)
        inputs.append(given)
        outputs.append(_layer(layer, given, case["train"]))
    count = sum(np.size(layer[k]) for layer in case["layers"] for k in ("weight", "bias") if layer.get(k) is not None)
    out = torch.zeros(x.shape[0], case["out_channels"], *x.shape[2:], dtype=torch.float64)
    answer = {"parameters": int(count), "inputs": inputs, "outputs": outputs, "out": out}
    if "grad_output" in case:
        answer["grad_x"] = torch.zeros_like(x)
        answer["grads"] = [[np.zeros_like(layer[k]) for k in ("weight", "bias") if layer.get(k) is not None]
                           for layer in case["layers"]]
    return answer


FORGED = {"a3-params": _network, "a3-valid": _network, "a3-same": _network}
"""
A3 = ("a3_unet", "unet_segmentation")

EXPECTED = {
    "a1_conv_arithmetic": {
        # plants_links: its link where a later cell's answers go is removed before that cell runs (the attack
        # costs nothing, as it gains nothing)
        "steals_reference": 17, "torch_in_numpy": 17, "links_beside": 20, "plants_links": 20,
        "prints_grader_text": 20, "hooks_cheat": 0, "kills_after_answer": 2, "huge_files": 20,
        "normalised": 20, "html_injection": 20, "answers_late": 17, "forks_work": 18 if cgroup_accounting() else 20,
        "uses_installed_library": 17, "leaks_history": 20,
    },
    A3[0]: {"forges_network": 14},
    A4[0]: {"forges_probes": 10},
}


def _grade_id(cell):
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def _normalised_variant(nb):
    """What Jupyter and a hurried student do to a notebook: a copied solution cell (Jupyter keeps its id), a
    duplicated test cell, points and flags edited, an answer cell re-marked as graded, a read-only and a test
    cell deleted. Every change is undone by the grader; the work is intact, so full marks."""
    import nbformat

    cells = nb.cells
    sizes = next(c for c in cells if _grade_id(c) == "a1-sizes-solution")
    copy_of_sizes = copy.deepcopy(sizes)
    copy_of_sizes["id"] = "student-copy-1"
    copy_of_sizes.source = "# my scratch copy\n" + copy_of_sizes.source
    cells.insert(cells.index(sizes) + 1, copy_of_sizes)
    test = next(c for c in cells if _grade_id(c) == "a1-conv-params")
    copy_of_test = copy.deepcopy(test)
    copy_of_test["id"] = "student-copy-2"
    cells.insert(cells.index(test) + 1, copy_of_test)
    test.metadata["nbgrader"]["points"] = 100
    next(c for c in cells if _grade_id(c) == "a1-rf-solution").metadata["nbgrader"].update(grade=True, points=50)
    unknown = nbformat.v4.new_code_cell("x_unknown = 1\n")
    unknown.metadata["nbgrader"] = {"grade": True, "solution": False, "locked": True, "points": 5,
                                    "grade_id": "not-in-the-release", "schema_version": 3}
    unknown["id"] = "student-unknown"
    cells.insert(3, unknown)
    nb.cells = [c for c in cells if _grade_id(c) not in ("a1-setup", "a1-vgg16")]
    return nb


def add_samples(out: dict, helpers: dict) -> None:
    """Add the hostile samples to make_submissions' {student: {(assignment, notebook): nb}}."""
    import nbformat

    solved, insert_after, replace_cell = helpers["solved"], helpers["insert_after"], _replace_cell
    reference = solved(*A1)

    def variant(fn):
        return fn(copy.deepcopy(reference))

    samples = {
        "steals_reference": variant(lambda nb: replace_cell(nb, "a1-sizes-solution", STEAL_REFERENCE,
                                                            keep="def conv_transpose_output_size")),
        "torch_in_numpy": variant(lambda nb: replace_cell(nb, "a1-sizes-solution", TORCH_IN_NUMPY,
                                                          keep="def conv_transpose_output_size")),
        "links_beside": variant(lambda nb: insert_after(nb, "a1-setup", LINKS_BESIDE)),
        "plants_links": variant(lambda nb: insert_after(nb, "a1-setup", PLANTS_LINKS)),
        "prints_grader_text": variant(lambda nb: insert_after(nb, "a1-setup", PRINTS_GRADER_TEXT)),
        "hooks_cheat": insert_after(nbformat.read(helpers["ROOT"] / "assignments" / A1[0] / f"{A1[1]}.ipynb",
                                                  as_version=4), "a1-setup", HOOKS_CHEAT),
        "kills_after_answer": variant(lambda nb: insert_after(nb, "a1-setup", KILLS_AFTER_ANSWER)),
        "huge_files": variant(lambda nb: insert_after(nb, "a1-conv-matmul", HUGE_FILES)),
        "normalised": variant(_normalised_variant),
        "html_injection": variant(lambda nb: _with_markdown_after(
            insert_after(nb, "a1-setup", HTML_INJECTION), "a1-setup", HTML_INJECTION_MARKDOWN,
            {"pixel.png": {"image/png": PIXEL},
             'x" onerror="alert(13).png': {"image/png": "AAAA"}})),
        "answers_late": variant(lambda nb: insert_after(nb, "a1-conv-solution", ANSWERS_LATE)),
        "forks_work": variant(lambda nb: insert_after(nb, "a1-sizes-solution", FORKS_WORK)),
        "uses_installed_library": variant(lambda nb: insert_after(nb, "a1-conv-solution", USES_INSTALLED_LIBRARY)),
        "leaks_history": variant(lambda nb: insert_after(nb, "a1-conv-matmul", LEAKS_HISTORY)),
    }
    for student, nb in samples.items():
        out.setdefault(student, {})[A1] = nb
    if (helpers["ROOT"] / "assignments" / A3[0]).is_dir():
        out.setdefault("forges_network", {})[A3] = insert_after(solved(*A3), "a3-setup", FORGES_NETWORK + FORGED_WRITER)
    if (helpers["ROOT"] / "assignments" / A4[0]).is_dir():
        out.setdefault("forges_probes", {})[A4] = insert_after(solved(*A4), "a4-setup", FORGES_PROBES + FORGED_WRITER)


def _replace_cell(nb, grade_id, code, keep):
    """Replace the part of a solution cell before ``keep`` (one function's answer) with code."""
    cell = next(c for c in nb.cells if _grade_id(c) == grade_id)
    if keep not in cell.source:
        raise ValueError(f"{keep!r} not found in cell {grade_id}")
    cell.source = code.strip() + "\n\n\n" + cell.source[cell.source.index(keep):]
    return nb


def write_extras(target: Path) -> list[Path]:
    """Files handed in beside the notebook of ``links_beside``: links into the course and to another student's
    notebook, and a module that would replace the student's functions if it were importable."""
    folder = Path(target) / "links_beside" / A1[0]
    folder.mkdir(parents=True, exist_ok=True)
    links = {"gradebook.db": "../../../gradebook.db", "solutions": "../../../../solutions",
             "other_student.ipynb": f"../../reference/{A1[0]}/{A1[1]}.ipynb"}
    written = []
    for name, points_to in links.items():
        path = folder / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.is_symlink() or path.exists():
            path.unlink()
        os.symlink(points_to, path)
        written.append(path)
    helper = folder / "arithmetic_helper.py"
    helper.write_text("import coursekit.arithmetic as _a\n_a.conv_output_size = lambda *a, **k: 0  # cheat\n")
    written.append(helper)
    return written
