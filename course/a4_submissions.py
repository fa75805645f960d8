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
    try:
        for case in grading.cases("a4-experiment"):
            for key, value in case.items():
                if "label" in key and key != "train_labels" and len(value) == len(test_images):
                    return torch.as_tensor(value)
    except RuntimeError:
        pass
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
    return out
