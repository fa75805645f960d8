"""Credit only for work the grader can attribute: Assignments 1 and 2 judged as whole notebooks (tests/judge_harness.py:
every cell drawn in notebook order, every judge reading every cell's sealed answers), without a kernel.

- A function that does nothing (zeros, its input, ones, None) earns nothing, in any part of any check.
- A function that answers differently depending on who calls it earns no more than its worst behaviour: Part 5's
  cells are given the very inputs Parts 1-3 judged, and both cells judge the worse answer.
- Consistency credit ("right given your 1-D function") only where that function was tested on its own inputs and
  its answers there are a mistake the grader recognises; a part a do-nothing function satisfies ("x left unchanged",
  "running statistics left unchanged") only beside work that shows it.
- The experiment: made-up numbers earn nothing; a right recipe beside a layer that raises earns the part without
  batch norm; a layer the grader cannot rebuild makes the other part "could not be judged", never "your recipe is
  wrong".
"""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import pytest

pytest.importorskip("nbformat")

from judge_harness import Drawn, grade_notebook, score, student  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
A1, A2 = "a1_conv_arithmetic", "a2_batchnorm"
SEEDS = range(5)
SAMPLES = runpy.run_path(str(ROOT / "course" / "make_submissions.py"))


def _total(assignment, answer, seeds=SEEDS) -> dict:
    return {seed: Drawn(assignment, seed).grade(answer) for seed in seeds}


# ------------------------------------------------------------------------------------------- doing nothing
NOTHING = {  # kind -> what every function returns: built from an example of its input
    "its input": "lambda like: like",
    "ones": "lambda like: np.ones_like(np.asarray(like, dtype=float))",
    "None": "lambda like: None",
}
A1_NOTHING = {
    "a1-sizes-solution": """
def conv_output_size(n, kernel_size, stride=1, padding=0, dilation=1):
    return NOTHING(n)


def pool_output_size(n, kernel_size, stride=None, padding=0):
    return NOTHING(n)


def conv_transpose_output_size(n, kernel_size, stride=1, padding=0, output_padding=0, dilation=1):
    return NOTHING(n)
""",
    "a1-params-solution": """
def conv_params(c_in, c_out, kernel_size, bias=True):
    return NOTHING(c_in)


def feature_map_bytes(batch_size, channels, height, width, bytes_per_value=4):
    return NOTHING(batch_size)


def conv_macs(c_in, c_out, kernel_size, output_size):
    return NOTHING(c_in)


weights_512 = NOTHING(1)
memory_512_mib = NOTHING(1.0)
""",
    "a1-vgg-solution": """
def vgg16_table(image_size=224):
    return [("conv", (NOTHING(image_size),) * 3, NOTHING(image_size))] * 21


vgg16_total = NOTHING(1)
""",
    "a1-rf-solution": """
def receptive_field(layers):
    return NOTHING(len(layers))


def dilated_receptive_fields(depth):
    return [NOTHING(depth)] * depth
""",
    "a1-conv-solution": """
def conv2d_naive(x, w, b, stride=1, padding=0):
    return NOTHING(x)


def im2col(x, kh, kw, stride=1, padding=0):
    return NOTHING(x)


def conv2d_matmul(x, w, b, stride=1, padding=0):
    return NOTHING(x)
""",
}
A2_NOTHING = {
    "a2-forward-solution": """
def batchnorm_forward(x, gamma, beta, running_mean, running_var, training=True, momentum=0.1, eps=1e-5):
    return NOTHING(x), {"x": x, "mu": NOTHING(x[0]), "var": NOTHING(x[0]), "eps": eps, "x_hat": NOTHING(x),
                        "inv_std": NOTHING(x[0]), "gamma": gamma, "training": training}
""",
    "a2-graph-solution": """
def batchnorm_backward_graph(dout, cache):
    return NOTHING(dout), NOTHING(dout[0]), NOTHING(dout[0])
""",
    "a2-closed-solution": """
def batchnorm_backward_closed(dout, cache):
    return NOTHING(dout), NOTHING(dout[0]), NOTHING(dout[0])
""",
    "a2-numgrad-solution": """
def numerical_gradient(f, x, dout, h=1e-5):
    return NOTHING(x)
""",
    "a2-spatial-solution": """
def batchnorm2d_forward(x, gamma, beta, running_mean, running_var, training=True, momentum=0.1, eps=1e-5):
    return NOTHING(x), (None, x.shape)


def batchnorm2d_backward(dout, cache):
    return NOTHING(dout), NOTHING(dout[0, :, 0, 0]), NOTHING(dout[0, :, 0, 0])
""",
    "a2-experiment-solution": SAMPLES["A2_EXPERIMENT_HEAD"] + """

def gradient_norms(use_batchnorm, depth=12, width=64, seed=0):
    return list(NOTHING(np.arange(1.0, depth + 1)))
""",
}


def _doing_nothing(assignment, kind):
    if kind == "zeros":  # the sample's own: zeros of the right shapes, a cache of the pinned keys
        sources = SAMPLES["A1_ZEROS"] if assignment == A1 else SAMPLES["A2_ZEROS"]
        return student(assignment, [(cell, None, source) for cell, source in sources.items()])
    sources = A1_NOTHING if assignment == A1 else A2_NOTHING
    setup = "a1-setup" if assignment == A1 else "a2-setup"
    edits = [(setup, "from coursekit import grading", f"from coursekit import grading\nNOTHING = {NOTHING[kind]}")]
    return student(assignment, edits + [(cell, None, source) for cell, source in sources.items()])


@pytest.mark.parametrize("assignment", [A1, A2])
@pytest.mark.parametrize("kind", ["zeros", "its input", "ones", "None"])
def test_a_function_that_does_nothing_earns_nothing(assignment, kind):
    answer = _doing_nothing(assignment, kind)
    for seed, verdicts in _total(assignment, answer).items():
        earned = {g: v.message for g, v in verdicts.items() if v.score > 0}
        assert not earned, (kind, seed, earned)


# ---------------------------------------------------------------------------------- who is calling
def _caller_detects(part5_answer="zeros"):
    """Right everywhere except when a hidden test of Part 5 calls (seen up the stack): the sample's student, or
    one answering Part 5 with a mistake the grader would recognise (eps outside the square root)."""
    forward_head = "def batchnorm_forward(x, gamma, beta, running_mean, running_var, training=True, momentum=0.1, " \
                   "eps=1e-5):\n"
    forward_body = SAMPLES["CALLER_DETECTS_FORWARD"].lstrip("\n")
    if part5_answer == "a known mistake":
        forward_body = ("    if _called_by_part5():\n"
                        "        inv = 1.0 / (np.sqrt(x.var(axis=0)) + eps)  # eps outside the square root\n"
                        "        x_hat = (x - x.mean(axis=0)) * inv\n"
                        "        return gamma * x_hat + beta, {\"x\": x, \"mu\": x.mean(axis=0), "
                        "\"var\": x.var(axis=0), "
                        "\"eps\": eps, \"x_hat\": x_hat, \"inv_std\": inv, \"gamma\": gamma, \"training\": training}\n")
    edits = [("a2-forward-solution", forward_head, SAMPLES["CALLER_DETECTS"].lstrip() + forward_head + forward_body)]
    for cell, name in (("a2-graph-solution", "batchnorm_backward_graph"),
                       ("a2-closed-solution", "batchnorm_backward_closed")):
        head = f"def {name}(dout, cache):\n"
        edits.append((cell, head, head + SAMPLES["CALLER_DETECTS_BACKWARD"].lstrip("\n")))
    return student(A2, edits)


@pytest.mark.parametrize("part5_answer", ["zeros", "a known mistake"])
def test_a_function_that_answers_by_its_caller_earns_its_worst(part5_answer):
    """Right in Parts 1-3, wrong (and consistent with the spatial functions built on it) when Part 5 calls: both
    cells judge the worse answer, and Part 5 has nothing to attribute its values to. 18 - 2 - 1 - 3 - 3 - 2 = 7."""
    for seed, verdicts in _total(A2, _caller_detects(part5_answer)).items():
        for grade_id in ("a2-forward", "a2-graph", "a2-closed", "a2-spatial-forward", "a2-spatial-backward"):
            assert verdicts[grade_id].score == 0.0, (seed, grade_id, verdicts[grade_id].message)
        for grade_id in ("a2-forward", "a2-graph", "a2-closed"):
            assert "for the same input" in verdicts[grade_id].message, verdicts[grade_id].message
        assert score(A2, verdicts) == 7, {g: v.message for g, v in verdicts.items() if v.score < 1}


def test_the_planted_inputs_are_exactly_the_earlier_cells():
    """Part 5's cases hold Parts 1-3's inputs unchanged (the 'rows' a reshaping of its maps), so the same function
    meets the same input twice; drawn alone, Part 5 draws its own."""
    import numpy as np

    drawn = Drawn(A2, 3)
    forward_inputs = {c["x"].tobytes() for c in drawn.cases["a2-forward"]}
    rows = [c for c in drawn.cases["a2-spatial-forward"] if c["fn"] == "rows"]
    assert sum(c["x"].tobytes() in forward_inputs for c in rows) == len(rows) - 1  # all but the visible pair
    for maps, row in zip(drawn.cases["a2-spatial-forward"][0::2], drawn.cases["a2-spatial-forward"][1::2]):
        np.testing.assert_array_equal(maps["x"].transpose(0, 2, 3, 1).reshape(-1, maps["x"].shape[1]), row["x"])
    backward_inputs = {c["dout"].tobytes() for g in ("a2-graph", "a2-closed") for c in drawn.cases[g]}
    closed = [c for c in drawn.cases["a2-spatial-backward"] if c["fn"] == "closed"]
    assert sum(c["dout"].tobytes() in backward_inputs for c in closed) == len(closed) - 1


# ------------------------------------------------------------------------------- consistency credit
NO_MEAN_TERM = ("a2-closed-solution", "(n * dout - dbeta - x_hat * dgamma)", "(n * dout - x_hat * dgamma)")
UNBIASED = ("a2-forward-solution", "var = x.var(axis=0)", "var = x.var(axis=0, ddof=1)")


def test_spatial_credit_follows_a_recognised_mistake_of_the_1d_function():
    for edits, cell, name in (([NO_MEAN_TERM], "a2-spatial-backward", "no mean term"),
                              ([UNBIASED], "a2-spatial-forward", "the unbiased variance in the normalisation")):
        for seed, verdicts in _total(A2, student(A2, edits)).items():
            assert verdicts[cell].score == 1.0 and name in verdicts[cell].message, (seed, verdicts[cell].message)


def test_no_spatial_credit_beside_a_mistake_nobody_can_name():
    """A 1-D forward off by a factor the grader does not recognise: its spatial wrapper may be right, but nothing
    shows it (the values could be anything); the 1-D mistake is charged in Part 1, the wrapper is judged on its own."""
    edits = [("a2-forward-solution", "out = gamma * x_hat + beta", "out = 1.5 * gamma * x_hat + beta")]
    for seed, verdicts in _total(A2, student(A2, edits)).items():
        assert verdicts["a2-forward"].score == 0 and verdicts["a2-spatial-forward"].score == 0, seed


def test_running_statistics_left_unchanged_only_beside_work():
    cases = {
        # right in eval mode, but training mode never touches the statistics either: the property is free there
        "no update in training": ([("a2-forward-solution", SAMPLES_BN_RUNNING, "pass")], 0.5, "not credited"),
        # eval mode normalises with the batch (a recognised mistake) and leaves the statistics alone: credited
        "batch statistics in eval": ([("a2-forward-solution", "        mu, var = running_mean, running_var",
                                       "        mu, var = x.mean(axis=0), (x.var(axis=0) if len(x) > 1 else "
                                       "np.ones(x.shape[1]))")], 0.5, "left unchanged: correct"),
        # eval mode's output an unknown mistake: nothing shows it uses the statistics it leaves alone
        "unknown eval mistake": ([("a2-forward-solution", "        mu, var = running_mean, running_var",
                                   "        mu, var = running_mean, 3 * running_var")], 0.0, "not credited"),
    }
    for what, (edits, want, said) in cases.items():
        for seed, verdicts in _total(A2, student(A2, edits), seeds=range(3)).items():
            verdict = verdicts["a2-eval"]
            assert verdict.score == want and said in verdict.message, (what, seed, verdict.message)


SAMPLES_BN_RUNNING = ("running_mean *= 1 - momentum\n        running_mean += momentum * mu\n        running_var *= 1 - "
                      "momentum\n        running_var += momentum * var * n / (n - 1)")


def test_x_left_unchanged_only_beside_a_gradient_that_shifted_it():
    cases = {"elementwise (recognised)": ("np.sum((plus - minus) * dout)", "(plus - minus)[idx] * dout[idx]", 0.25),
             "three times the gradient (unknown)": ("/ (2 * h)", "* 1.5 / h", 0.0)}
    for what, (old, new, want) in cases.items():
        for seed, verdicts in _total(A2, student(A2, [("a2-numgrad-solution", old, new)]), seeds=range(3)).items():
            assert verdicts["a2-numgrad"].score == want, (what, seed, verdicts["a2-numgrad"].message)


# ----------------------------------------------------------------------------------------- the experiment
def test_experiment_made_up_or_unjudgeable():
    experiment = {
        "made-up numbers beside a spoiled layer": ([("a2-experiment-solution", None, SAMPLES["SPOILS_LAYER"])], 0.0),
        "a right recipe beside a layer that raises": (
            [("a2-experiment-solution", "staticmethod(lambda dout, cache: batchnorm_backward_closed(dout, cache))",
              "staticmethod(unfinished_backward)"),
             ("a2-experiment-solution", "import coursekit.nn as nn\n", "import coursekit.nn as nn\n"
              + SAMPLES["LAYER_RAISES"])], 0.5),
        # the layer alone computes eps outside the square root; Parts 1 and 3 are right: nothing to rebuild it from
        "a layer of its own with a mistake": (
            [("a2-experiment-solution", "_forward = staticmethod(lambda *args: batchnorm_forward(*args))",
              "_forward = staticmethod(lambda x, g, b, rm, rv, t, m, e: (lambda mu, v: (g * (x - mu) / (np.sqrt(v) + e)"
              " + b, {'x': x, 'mu': mu, 'var': v, 'eps': e, 'x_hat': (x - mu) / (np.sqrt(v) + e), 'inv_std': 1 / "
              "(np.sqrt(v) + e), 'gamma': g, 'training': t}))(x.mean(axis=0), x.var(axis=0)))")], 0.5),
    }
    for what, (edits, want) in experiment.items():
        for seed, verdicts in _total(A2, student(A2, edits), seeds=range(3)).items():
            verdict = verdicts["a2-experiment"]
            bn = next(line for line in verdict.message.splitlines() if line.startswith("with batch norm:"))
            assert verdict.score == want, (what, seed, verdict.message)
            assert "could not be judged" in bn and "Part 6 describes" not in bn, (what, bn)


def test_experiment_never_blames_the_recipe_for_the_layer():
    """Every mistake of the forward or the closed backward (tests/test_check_mutants.py), beside the right recipe:
    the experiment either judges the recipe with that layer (right on the probes, or a mistake it recognises and
    rebuilds) or says it could not judge, and the run without batch norm keeps its points."""
    from test_check_mutants import MUTANTS

    for check, _, mistake, edits in MUTANTS:
        if check not in ("a2-forward", "a2-closed"):
            continue
        for seed, verdicts in _total(A2, student(A2, edits), seeds=range(2)).items():
            message = verdicts["a2-experiment"].message
            assert "the recipe without batch norm: correct" in message, (mistake, message)
            bn = next(line for line in message.splitlines() if line.startswith("with batch norm:"))
            # correct: a mistake the layer does not make (gamma is 1 there), or one the grader rebuilt
            assert bn == "with batch norm: correct" or "could not be judged" in bn, (mistake, seed, message)


def test_experiment_rebuilds_a_recognised_layer():
    for seed, verdicts in _total(A2, student(A2, [("a2-forward-solution", "1.0 / np.sqrt(var + eps)",
                                                   "1.0 / (np.sqrt(var) + eps)")])).items():
        verdict = verdicts["a2-experiment"]
        assert verdict.score == 1.0 and "eps outside the square root" in verdict.message, verdict.message
        assert verdicts["a2-forward"].score == 0.0 and verdicts["a2-eval"].score == 0.5, seed


# ----------------------------------------------------------------------- the samples, judged here (fast)
NEW_SAMPLES = {A1: ["zeros_everywhere"],
               A2: ["zeros_everywhere", "caller_detects", "spoils_layer", "layer_raises", "eps_outside_sqrt",
                    "no_mean_term", "wrong_forward_right_backward"]}


@pytest.fixture(scope="module")
def sample_notebooks():
    return SAMPLES["samples"]()


@pytest.mark.parametrize("assignment,name", [(a, n) for a, names in NEW_SAMPLES.items() for n in names])
def test_samples_score_what_course_expected_scores_says(assignment, name, sample_notebooks):
    """The notebooks `make course` grades through the real pipeline, run here cell by cell: the same scores."""
    expected = json.loads((ROOT / "course" / "expected_scores.json").read_text())[assignment][name]
    notebook = next(nb for (a, _), nb in sample_notebooks[name].items() if a == assignment)
    for seed in (0, 1):
        verdicts = grade_notebook(notebook, assignment, seed)
        assert score(assignment, verdicts) == expected, {g: v.message for g, v in verdicts.items() if v.score < 1}
