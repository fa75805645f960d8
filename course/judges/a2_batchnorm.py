"""Checks of Assignment 2, batch norm: the grader's side of every test cell.

Expected values come from coursekit's batch norm, run here in the grader's process. A backward pass is graded on
a cache the grader builds in the format the notebook pins (a dict of x, mu, var, eps, x_hat, inv_std, gamma,
training), so a correct backward keeps its points after a wrong forward.

Credit only for work the grader can attribute:

- A mistake is charged once where the grader can say whose it is. Spatial batch norm built on a wrong 1-D function
  keeps its points only where that function was tested on independent inputs in its own cell (Part 1 or 3) and
  its answers there are a mistake the grader recognises (``FORWARD_MISTAKES``, ``BACKWARD_MISTAKES``): the spatial
  answers must then be exactly that mistake's, reshaped. A function that does nothing (zeros, its input, None)
  matches no mistake and earns nothing, here or in a part that such a function satisfies by itself ("running
  statistics left unchanged", "x left unchanged").
- A function is graded by the worse of its answers to one input. The spatial cells are given, among their cases,
  exactly the inputs that Parts 1-3 drew (``_planted``): where a function answers the same input differently in two
  cells (it looked at who called it), both cells judge the worse answer.
- The experiment (Part 6) is recomputed here from its recipe. Without batch norm the student's numbers must be the
  recipe's; with batch norm they can only be judged when the student's layer is right on the grader's batches, or
  wrong in a way the grader can rebuild (the mistakes of Parts 1 and 3), and the message says "could not be judged"
  otherwise instead of blaming the recipe.
"""

from __future__ import annotations

import numpy as np

from coursekit.course.judging import Missing, Raised, Verdict, compare, hidden_test
from coursekit.course.judging import first_problem as _first
from coursekit.course.judging import score_parts as _score
from coursekit.course.judging import unusable as _unusable  # shared helpers under the names used below
from coursekit.nn.functional.batchnorm import batchnorm_backward, batchnorm_forward

KERNEL_HIDES = {
    "coursekit.nn.functional.batchnorm": ["batchnorm_forward", "batchnorm_backward", "batchnorm_backward_graph",
                                          "batchnorm2d_forward", "batchnorm2d_backward", "batchnorm2d_backward_graph",
                                          "_validate", "_check_dout", "_to_rows", "_from_rows"],
    "coursekit.gradcheck": ["numerical_gradient", "check_gradient", "check_layer_gradients"],
    "coursekit.gradlab": ["make_stack", "gradient_norms", "activation_stds"],
    # group norm with one group per feature is batch norm's training normalisation on transposed input
    "coursekit.variants": ["group_norm"],
}
KERNEL_TORCH = False  # the assignment is NumPy only (coursekit.nn included)
# what the kernel may import (with ipykernel, coursekit and what they need); nothing else installed is there
KERNEL_PACKAGES = ["numpy", "matplotlib", "tqdm"]
# libraries that would do the graded work for the student (scipy.signal.correlate for the naive convolution,
# scikit-image's local thresholds for the segmentation): absent from the kernel, like torch in a NumPy assignment
KERNEL_EXCLUDES = ["scipy", "skimage", "sklearn"]

EPS = 1e-5
# float64 answers agree to ~1e-12; these also let a float32 implementation pass, and still catch a forgotten or
# misplaced eps (the small-variance cases make it a relative error of 1e-2 and more)
RTOL, ATOL = 1e-4, 1e-5
OUT_ATOL = 1e-4  # normalised outputs are O(1); float32 inputs far from zero resolve them to about 1e-5
CACHE_KEYS = ("x", "mu", "var", "eps", "x_hat", "inv_std", "gamma", "training")
SMALL = 0.01  # the spread of the small-variance batches: var 1e-4, where eps = 1e-5 is a 5% change


# ------------------------------------------------------------------- what one notebook's hidden tests drew
# Each hidden test draws its cases from its own secret stream, so no cell's generator can redraw another's. To hold
# a function to its behaviour on the same input in two cells, a later cell's generator plants inputs an earlier cell
# drew. The grader loads this module afresh for every notebook it grades and draws every cell's cases in notebook
# order before the kernel starts (coursekit.course.execute), so Part 5's generators find what Parts 1-3 drew here;
# drawn on its own (a test of one cell), a generator finds nothing and draws inputs of its own.
_DRAWN: dict = {}    # grade_id -> {"cases": the list its judge holds, "shapes": {index: (N, H, W) of its rows}}
_PLANTED: dict = {}  # grade_id it came from -> [(the cell that planted it, the source's cases, {there: here})]


def _drawn(grade_id: str, cases: list, shapes: dict) -> None:
    _DRAWN[grade_id] = {"cases": cases, "shapes": shapes}
    _PLANTED.pop(grade_id, None)  # plants of an earlier draw of this cell are not of these cases


def _plant(target: str, source: str, source_cases: list, mapping: dict) -> None:
    _PLANTED.setdefault(source, []).append((target, source_cases, dict(mapping)))


def _repeats(grade_id: str, cases: list, cells) -> dict:
    """{index of a case here: [(cell, its answer to the same input)]} for the inputs another cell was given again."""
    found: dict = {}
    if not cells:
        return found
    for target, source_cases, mapping in _PLANTED.get(grade_id, []):
        if source_cases is not cases or target not in cells:
            continue
        answers = cells[target].answers
        for there, here in mapping.items():
            if there < len(answers) and answers[there] is not Missing:
                found.setdefault(here, []).append((target, answers[there]))
    return found


def _cell_answers(cells, grade_id: str, n: int) -> list | None:
    if not cells or grade_id not in cells:
        return None
    answers = list(cells[grade_id].answers)
    return answers if len(answers) == n else None


def _worse(problem, repeats, judge_one, name: str):
    """The problem of a case judged on its own answer and on every repeat of its input in another cell."""
    if problem:
        return problem
    for cell, answer in repeats:
        other = judge_one(answer)
        if other:
            return (f"{other} -- in {cell}, for the same input; here {name} answered it right, and a function is "
                    "graded by the worse of its answers to one input")
    return None


# -------------------------------------------------------------------------------------- shared helpers
def _triple(got, what: str):
    """(dx, dgamma, dbeta) from an answer, or (None, problem)."""
    problem = _unusable(got, what)
    if problem:
        return None, problem
    if not isinstance(got, (tuple, list)) or len(got) != 3:
        return None, f"{what} should return (dx, dgamma, dbeta), got {type(got).__name__}"
    return list(got), None


def _matches(got, want, rtol=RTOL, atol=ATOL) -> bool:
    if got is Missing or isinstance(got, Raised) or got is None:
        return False
    try:
        return compare(got, want, "", rtol=rtol, atol=atol) is None
    except (TypeError, ValueError):
        return False


def _batch(rng, n, d):
    spread = float(rng.uniform(0.1, 10))
    return rng.standard_normal((n, d)) * spread + float(rng.normal(0, 5))


def _rows_shape(rng, rich: bool):
    """(N, H, W) with N*H*W >= 2 rows; rich: N >= 2 and H*W >= 2, the shapes that tell a reshaping apart."""
    while True:
        n, h, w = int(rng.integers(1, 5)), int(rng.integers(1, 6)), int(rng.integers(1, 6))
        if n * h * w >= 2 and (not rich or (n >= 2 and h * w >= 2)):
            return n, h, w


def pinned_cache(x, gamma, running_mean, running_var, training):
    """The cache of the notebook's batchnorm_forward, in the format its text pins, built by the grader."""
    _, (x_hat, _, inv_std, _, _) = batchnorm_forward(x, gamma, None, running_mean.copy(), running_var.copy(),
                                                     training)
    mu, var = (x.mean(axis=0), x.var(axis=0)) if training else (running_mean, running_var)
    return {"x": x, "mu": mu, "var": var, "eps": EPS, "x_hat": x_hat, "inv_std": inv_std, "gamma": gamma,
            "training": bool(training)}


def _rows(x):
    return x.transpose(0, 2, 3, 1).reshape(-1, x.shape[1])


def _from_rows(rows, shape):
    n, c, h, w = shape
    return np.asarray(rows, dtype=np.float64).reshape(n, h, w, c).transpose(0, 3, 1, 2)


# ------------------------------------------------------------------ mistakes the grader recognises
# Each is a realistic mistake, written as the notebook's function would make it (same arguments, the pinned cache
# format). They serve attribution only: a wrong answer that is one of them, in the cell that tests that function on
# its own inputs, is a mistake the grader can name and rebuild (Parts 5 and 6 build on it); the tests hold every
# check to catching them (tests/test_check_mutants.py keeps an independent list).
def forward_variant(mistake: str | None = None):
    """The notebook's batchnorm_forward with one mistake (None: the right one); returns (out, cache)."""
    def forward(x, gamma, beta, running_mean, running_var, training=True, momentum=0.1, eps=EPS):
        x = np.asarray(x, dtype=np.float64)
        if training:
            n = x.shape[0]
            axis = 1 if mistake == "statistics over the features (axis 1) instead of the batch" else 0
            mu = x.mean(axis=axis, keepdims=True)
            var = x.var(axis=axis, keepdims=True, ddof=1 if mistake == "the unbiased variance in the normalisation"
                        else 0)
            if running_mean is not None and axis == 0:
                unbiased = var[0] if mistake == "the unbiased variance in the normalisation" else var[0] * n / (n - 1)
                running_mean *= 1 - momentum
                running_mean += momentum * mu[0]
                running_var *= 1 - momentum
                running_var += momentum * unbiased
            mu, var = (mu[0], var[0]) if axis == 0 else (mu, var)
        elif mistake == "batch statistics in eval mode":
            mu, var = x.mean(axis=0), x.var(axis=0)
        else:
            mu, var = running_mean, running_var
        if mistake == "no eps":
            inv_std = 1.0 / np.sqrt(var)
        elif mistake == "eps outside the square root":
            inv_std = 1.0 / (np.sqrt(var) + eps)
        elif mistake == "the standard deviation in place of the variance":
            inv_std = 1.0 / np.sqrt(np.sqrt(var) + eps)
        else:
            inv_std = 1.0 / np.sqrt(var + eps)
        x_hat = (x if mistake == "not centred (x scaled, its mean kept)" else x - mu) * inv_std
        out = x_hat * (1.0 if mistake == "gamma left out" else np.asarray(gamma))
        out = out + (0.0 if mistake == "beta left out" else np.asarray(beta))
        cache = {"x": x, "mu": mu, "var": var, "eps": eps, "x_hat": x_hat, "inv_std": inv_std, "gamma": gamma,
                 "training": bool(training)}
        return out, cache

    return forward


FORWARD_MISTAKES = ["no eps", "eps outside the square root", "the standard deviation in place of the variance",
                    "the unbiased variance in the normalisation", "gamma left out", "beta left out",
                    "statistics over the features (axis 1) instead of the batch",
                    "not centred (x scaled, its mean kept)"]
EVAL_MISTAKES = ["batch statistics in eval mode", "no eps", "eps outside the square root",
                 "the standard deviation in place of the variance", "gamma left out", "beta left out",
                 "not centred (x scaled, its mean kept)"]


def backward_variant(mistake: str | None = None):
    """The notebook's closed-form backward with one mistake (None: the right one); returns (dx, dgamma, dbeta)."""
    def backward(dout, cache):
        dout = np.asarray(dout, dtype=np.float64)
        x_hat, inv_std, gamma = cache["x_hat"], cache["inv_std"], np.asarray(cache["gamma"], dtype=np.float64)
        dbeta = dout.sum(axis=0)
        dgamma = (dout * x_hat).sum(axis=0)
        scale = inv_std if mistake == "gamma left out of dx" else gamma * inv_std
        if not cache["training"] or mistake == "the statistics treated as constants in training mode":
            dx = dout * scale
        else:
            n = dout.shape[0]
            mean_term = 0 if mistake == "no mean term" else dbeta
            xhat_term = 0 if mistake == "no x_hat term (the variance's path left out)" else x_hat * dgamma
            dx = scale / n * (n * dout - mean_term - xhat_term)
        if mistake == "dgamma from x instead of x_hat":
            dgamma = (dout * cache["x"]).sum(axis=0)
        elif mistake == "dgamma and dbeta swapped":
            dgamma, dbeta = dbeta, dgamma
        elif mistake == "dbeta as a mean instead of a sum":
            dbeta = dout.mean(axis=0)
        return dx, dgamma, dbeta

    return backward


BACKWARD_MISTAKES = ["no mean term", "no x_hat term (the variance's path left out)", "gamma left out of dx",
                     "the statistics treated as constants in training mode", "dgamma from x instead of x_hat",
                     "dgamma and dbeta swapped", "dbeta as a mean instead of a sum"]


def _forward_case(case, mistake=None, training=True):
    return forward_variant(mistake)(case["x"], case["gamma"], case["beta"], np.array(case["running_mean"], float),
                                    np.array(case["running_var"], float), training)[0]


def _classify(cases, answers, candidates, expected, rtol=RTOL, atol=ATOL):
    """The first of ``candidates`` (None: right, else a mistake's name) whose answers, expected(case, candidate), match
    every answer; "unknown" when none does (a mistake the grader cannot name, or no work at all)."""
    if answers is None or not cases:
        return "unknown"
    for candidate in [None] + list(candidates):
        try:
            if all(_matches(got, expected(case, candidate), rtol, atol) for case, got in zip(cases, answers)):
                return candidate
        except (TypeError, ValueError, ZeroDivisionError, FloatingPointError):
            continue
    return "unknown"


def _forward_model(source, answers) -> str | None:
    """What the 1-D forward is, judged on Part 1's own inputs: None (right), a known mistake, or "unknown"."""
    if source is None:
        return "unknown"
    return _classify(source["cases"], answers, FORWARD_MISTAKES, lambda c, m: _forward_case(c, m), RTOL, OUT_ATOL)


def _backward_model(source, answers, component: int) -> str | None:
    """What one component of a 1-D backward is, judged on the training-mode cases of its own cell."""
    if source is None or answers is None:
        return "unknown"
    chosen = [i for i, c in enumerate(source["cases"]) if c["cache"]["training"]]
    parts = []
    for i in chosen:
        grads, problem = _triple(answers[i], "")
        if problem:
            return "unknown"
        parts.append(grads[component])
    return _classify([source["cases"][i] for i in chosen], parts, BACKWARD_MISTAKES,
                     lambda c, m: backward_variant(m)(c["dout"], c["cache"])[component])


# -------------------------------------------------------------------------------------- Part 1: the forward
def _forward_batches(rng, count=10):
    """Batches for the training-mode forward, each (x, gamma, beta, (N, H, W)) with x of N*H*W rows: Part 5 reshapes
    them into feature maps. The first two have small variances (centred, so that float32 still resolves them): a
    forgotten or misplaced eps shows there. Two have shapes that tell a reshaping apart."""
    batches = []
    for i in range(count):
        shape = _rows_shape(rng, rich=i in (1, 2))
        n, d = int(np.prod(shape)), int(rng.integers(2 if i in (1, 2) else 1, 12))
        x = rng.standard_normal((n, d)) * SMALL if i < 2 else _batch(rng, n, d)
        batches.append((x, rng.standard_normal(d), rng.standard_normal(d), shape))
    return batches


def _forward_case_dict(x, gamma, beta):
    d = x.shape[1]
    return {"x": x, "gamma": gamma, "beta": beta, "running_mean": np.zeros(d), "running_var": np.ones(d)}


@hidden_test("a2-forward")
def forward(rng):
    cases = [_forward_case_dict(np.array([[1.0, 2.0], [3.0, 6.0], [5.0, 10.0]]), np.ones(2), np.zeros(2))]
    shapes = {}
    for x, gamma, beta, shape in _forward_batches(rng):
        shapes[len(cases)] = shape
        cases.append(_forward_case_dict(x, gamma, beta))
    expected = [batchnorm_forward(c["x"], c["gamma"], c["beta"], None, None, True)[0] for c in cases]
    _drawn("a2-forward", cases, shapes)

    def judge(answers, records, cells=None):
        repeats = _repeats("a2-forward", cases, cells)
        problems = []
        for i, (case, got, want) in enumerate(zip(cases, answers, expected)):
            what = f"training-mode output for x of shape {case['x'].shape}"

            def one(answer, what=what, want=want):
                return _unusable(answer, what) or compare(answer, want, what, rtol=RTOL, atol=OUT_ATOL)

            problems.append(_worse(one(got), repeats.get(i, []), one, "batchnorm_forward"))
        problem = _first(problems)
        return Verdict(0.0, problem) if problem else Verdict(1.0, f"all {len(cases)} training-mode outputs match")

    return cases, judge


@hidden_test("a2-running-stats")
def running_stats(rng):
    d = 2
    cases = [{"x": np.array([[1.0, 2.0], [3.0, 6.0], [5.0, 10.0]]), "running_mean": np.zeros(d),
              "running_var": np.ones(d), "momentum": 0.1}]
    for _ in range(8):
        d = int(rng.integers(1, 8))
        cases.append({"x": rng.standard_normal((int(rng.integers(2, 30)), d)) * 3 + 1,
                      "running_mean": rng.standard_normal(d), "running_var": rng.uniform(0.5, 3, d),
                      "momentum": float(rng.uniform(0.05, 0.9))})
    for case in cases:
        d = case["x"].shape[1]
        case.update(gamma=np.ones(d), beta=np.zeros(d))
    expected = []
    for c in cases:
        mean, var = c["running_mean"].copy(), c["running_var"].copy()
        batchnorm_forward(c["x"], None, None, mean, var, True, c["momentum"])
        expected.append((mean, var))
    _drawn("a2-running-stats", cases, {})

    def judge(answers, records):
        mean_problems, var_problems = [], []
        for case, got, (mean, var) in zip(cases, answers, expected):
            what = f"after one training step on x of shape {case['x'].shape} with momentum {case['momentum']:.3g}"
            problem = _unusable(got, f"batchnorm_forward {what}")
            if problem is None and (not isinstance(got, (tuple, list)) or len(got) != 2):
                problem = "the test could not read running_mean and running_var"
            if problem:
                mean_problems.append(problem)
                var_problems.append(problem)
                continue
            problem = compare(got[0], mean, f"running_mean {what}", rtol=RTOL, atol=ATOL)
            mean_problems.append(problem and problem + " (update it in place: running_mean *= 1 - momentum, then "
                                 "+= momentum * mu)")
            problem = compare(got[1], var, f"running_var {what}", rtol=RTOL, atol=ATOL)
            var_problems.append(problem and problem + " (the running variance uses the unbiased estimate "
                                "var * N / (N - 1), updated in place like the mean)")
        return _score([(0.5, "running_mean", _first(mean_problems)), (0.5, "running_var", _first(var_problems))])

    return cases, judge


def _updates_running_stats(source, answers) -> bool:
    """Whether the forward changed the running statistics in training mode, on every case of a2-running-stats."""
    if source is None or answers is None:
        return False
    for case, got in zip(source["cases"], answers):
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            return False
        if _matches(got[0], case["running_mean"], 0, 0) and _matches(got[1], case["running_var"], 0, 0):
            return False
    return True


@hidden_test("a2-eval")
def eval_mode(rng):
    cases = [{"x": np.array([[1.0], [3.0]]), "gamma": np.array([2.0]), "beta": np.array([1.0]),
              "running_mean": np.array([1.0]), "running_var": np.array([4.0])}]
    for i in range(6):
        n, d = int(rng.integers(2 if i < 2 else 1, 20)), int(rng.integers(1, 8))
        if i < 2:  # small running variances, x around the running mean: a misplaced or forgotten eps shows here
            mean = rng.normal(0, SMALL, d)
            var = rng.uniform(0.5, 2, d) * SMALL ** 2
            x = mean + rng.standard_normal((n, d)) * np.sqrt(var)
        else:
            mean, var = rng.standard_normal(d), rng.uniform(0.05, 3, d)
            x = rng.standard_normal((n, d))
        cases.append({"x": x, "gamma": rng.standard_normal(d), "beta": rng.standard_normal(d),
                      "running_mean": mean, "running_var": var})
    expected = [batchnorm_forward(c["x"], c["gamma"], c["beta"], c["running_mean"].copy(), c["running_var"].copy(),
                                  False)[0] for c in cases]
    running = _DRAWN.get("a2-running-stats")

    def judge(answers, records, cells=None):
        out_problems, kept_problems, outputs = [], [], []
        for case, got, want in zip(cases, answers, expected):
            what = f"eval-mode output for x of shape {case['x'].shape}"
            problem = _unusable(got, what)
            if problem is None and (not isinstance(got, (tuple, list)) or len(got) != 3):
                problem = "the test could not read the output and the running statistics"
            if problem:
                out_problems.append(problem)
                kept_problems.append(problem)
                outputs.append(None)
                continue
            outputs.append(got[0])
            out_problems.append(compare(got[0], want, what, rtol=RTOL, atol=ATOL))
            kept_problems.append(compare(got[1], case["running_mean"], "running_mean (eval mode must not change it)",
                                         rtol=0, atol=0)
                                 or compare(got[2], case["running_var"], "running_var (eval mode must not change it)",
                                            rtol=0, atol=0))
        kept = _first(kept_problems)
        if kept is None:
            # leaving the statistics alone is work only beside a normalisation that uses them, in a function that
            # does update them in training mode: a function that does nothing leaves them unchanged too
            model = _classify(cases, outputs, EVAL_MISTAKES, lambda c, m: _forward_case(c, m, training=False))
            updates = _updates_running_stats(running, _cell_answers(cells, "a2-running-stats",
                                                                    len(running["cases"]) if running else 0))
            if model == "unknown":
                kept = ("not credited: your eval-mode output is neither right nor a mistake the grader recognises, "
                        "so nothing shows that it normalises with the running statistics it leaves unchanged")
            elif not updates:
                kept = ("not credited: your batchnorm_forward did not change the running statistics in training mode "
                        "either (a2-running-stats), so leaving them unchanged here is no work of its own")
        return _score([(0.5, "eval-mode output", _first(out_problems)),
                       (0.5, "running statistics left unchanged", kept)])

    return cases, judge


# ----------------------------------------------------------------------------- Parts 2 and 3: the backwards
def _backward_cases(rng, include_visible: bool):
    """Cases of a backward (dout, pinned cache), and {index: (N, H, W)} of the training-mode ones: Part 5 reshapes
    them into feature maps. Small variances in one of them: the cache's inv_std is then large."""
    cases, shapes = [], {}
    if include_visible:
        x = np.array([[1.0, 2.0], [3.0, 6.0], [5.0, 10.0]])
        cases.append({"dout": np.ones_like(x), "cache": pinned_cache(x, np.ones(2), np.zeros(2), np.ones(2), True)})
    for i, training in enumerate((True, True, True, True, False, False)):
        if training:
            shape = _rows_shape(rng, rich=i < 2)
            n = int(np.prod(shape))
        else:
            n = int(rng.integers(2, 30))
        d = int(rng.integers(2 if i < 2 else 1, 10))
        x, gamma = rng.standard_normal((n, d)) * (SMALL if i == 3 else 2) + (0 if i == 3 else 1), \
            rng.standard_normal(d)
        running_mean, running_var = rng.standard_normal(d), rng.uniform(0.5, 2, d)
        if training:
            shapes[len(cases)] = shape
        cases.append({"dout": rng.standard_normal((n, d)),
                      "cache": pinned_cache(x, gamma, running_mean, running_var, training)})
    return cases, shapes


def _reference_backward(case):
    cache = case["cache"]
    inner = (cache["x_hat"], cache["gamma"], cache["inv_std"], cache["training"], True)
    return batchnorm_backward(case["dout"], inner)


def _judge_backward(grade_id, name, cases, expected):
    def judge(answers, records, cells=None):
        repeats = _repeats(grade_id, cases, cells)
        problems = {"dx": [], "dgamma": [], "dbeta": []}
        for index, (case, got, want) in enumerate(zip(cases, answers, expected)):
            mode = "training" if case["cache"]["training"] else "eval"
            what = f"{name} ({mode} mode, x of shape {case['dout'].shape})"
            for i, key in enumerate(("dx", "dgamma", "dbeta")):
                def one(answer, i=i, key=key, what=what, want=want):
                    grads, problem = _triple(answer, what)
                    return problem or compare(grads[i], want[i], f"{key} of {what}", rtol=RTOL, atol=ATOL)

                problems[key].append(_worse(one(got), repeats.get(index, []), one, name))
        return _score([(2 / 3, "dx", _first(problems["dx"])), (1 / 6, "dgamma", _first(problems["dgamma"])),
                       (1 / 6, "dbeta", _first(problems["dbeta"]))])

    return judge


@hidden_test("a2-graph")
def backward_graph(rng):
    cases, shapes = _backward_cases(rng, include_visible=True)
    _drawn("a2-graph", cases, shapes)
    return cases, _judge_backward("a2-graph", "batchnorm_backward_graph", cases,
                                  [_reference_backward(c) for c in cases])


@hidden_test("a2-closed")
def backward_closed(rng):
    cases, shapes = _backward_cases(rng, include_visible=True)
    _drawn("a2-closed", cases, shapes)
    return cases, _judge_backward("a2-closed", "batchnorm_backward_closed", cases,
                                  [_reference_backward(c) for c in cases])


# ---------------------------------------------------------------------------------- Part 4: numerical gradient
NUMGRAD_F = {  # the same names and functions as the dict in the test cell
    "sin": np.sin,
    "cube_tanh": lambda v: v ** 3 + np.tanh(v),
    "cumsum_square": lambda v: np.cumsum(v ** 2, axis=1),
}
FUNCTIONS = {  # their gradients: of sum(f(x) * dout)
    "sin": lambda x, dout: np.cos(x) * dout,
    "cube_tanh": lambda x, dout: (3 * x ** 2 + 1 - np.tanh(x) ** 2) * dout,
    # not elementwise: x[i, j] reaches every output to its right, so the sum over dout must be complete
    "cumsum_square": lambda x, dout: 2 * x * np.cumsum(dout[:, ::-1], axis=1)[:, ::-1],
}


def _numgrad_variant(case, mistake, h=1e-5):
    """A realistic numerical gradient of the case with one mistake, computed as the student's loop would."""
    f, dout = NUMGRAD_F[case["f"]], case["dout"]
    if mistake == "the difference divided by h, not 2h":
        return 2 * FUNCTIONS[case["f"]](case["x"], dout)
    if mistake == "dout ignored (the gradient of sum(f(x)))":
        return FUNCTIONS[case["f"]](case["x"], np.ones_like(dout))
    if mistake == "sign flipped (f(x - h) - f(x + h))":
        return -FUNCTIONS[case["f"]](case["x"], dout)
    x = np.array(case["x"], dtype=np.float64)
    grad = np.zeros_like(x)
    for idx in np.ndindex(*x.shape):
        old = x[idx]
        x[idx] = old + h
        plus = f(x)
        x[idx] = old - h if mistake != "a forward difference" else old
        minus = f(x)
        x[idx] = old
        step = h if mistake == "a forward difference" else 2 * h
        grad[idx] = ((plus[idx] - minus[idx]) * dout[idx] if mistake == "each difference weighted by its own dout only"
                     else np.sum((plus - minus) * dout)) / step
    return grad


NUMGRAD_MISTAKES = ["each difference weighted by its own dout only", "a forward difference",
                    "the difference divided by h, not 2h", "dout ignored (the gradient of sum(f(x)))",
                    "sign flipped (f(x - h) - f(x + h))"]


@hidden_test("a2-numgrad")
def numgrad(rng):
    x = np.array([[0.5, -1.0], [2.0, 0.1]])
    cases = [{"f": "sin", "x": x, "dout": np.ones_like(x)}]
    for f in ("cube_tanh", "cumsum_square", "cube_tanh", "cumsum_square"):
        shape = (int(rng.integers(2, 6)), int(rng.integers(2, 6)))
        cases.append({"f": f, "x": rng.standard_normal(shape), "dout": rng.standard_normal(shape)})
    expected = [FUNCTIONS[c["f"]](c["x"], c["dout"]) for c in cases]

    def judge(answers, records):
        grad_problems, restored_problems, gradients = [], [], []
        for case, got, want in zip(cases, answers, expected):
            what = f"numerical gradient of {case['f']} at x of shape {case['x'].shape}"
            problem = _unusable(got, what)
            if problem is None and (not isinstance(got, (tuple, list)) or len(got) != 2):
                problem = "the test could not read the gradient and x"
            if problem:
                grad_problems.append(problem)
                restored_problems.append(problem)
                gradients.append(None)
                continue
            gradients.append(got[0])
            grad_problems.append(compare(got[0], want, what, rtol=1e-6, atol=1e-8))
            restored_problems.append(compare(got[1], case["x"], "x after numerical_gradient (restore every entry "
                                             "you shift)", rtol=1e-12, atol=1e-14))
        restored = _first(restored_problems)
        if restored is None and _first(grad_problems) is not None:
            # x is unchanged by a function that never shifts it, too: the gradient must show that it did
            if _classify(cases, gradients, NUMGRAD_MISTAKES, _numgrad_variant, rtol=1e-4, atol=1e-6) == "unknown":
                restored = ("not credited: your gradient is neither right nor a mistake the grader recognises, so "
                            "nothing shows that the function shifted x and put it back")
        return _score([(0.75, "gradient", _first(grad_problems)), (0.25, "x left unchanged", restored)])

    return cases, judge


# -------------------------------------------------------------------------------------- Part 5: spatial
def _spatial_sources(grade_ids):
    """The training-mode cases Parts 1-3 drew, to plant here: [(grade_id, its drawn cases, index, (N, H, W))]."""
    found = []
    for grade_id in grade_ids:
        source = _DRAWN.get(grade_id)
        if source is not None:
            found += [(grade_id, source, index, shape) for index, shape in sorted(source["shapes"].items())]
    return found


@hidden_test("a2-spatial-forward")
def spatial_forward(rng):
    """Pairs of cases: batchnorm2d_forward on feature maps ("2d"), and the student's own 1-D batchnorm_forward on the
    same data as rows ("rows"). The maps are Part 1's own batches reshaped (drawn alike when Part 1 is not drawn):
    each "rows" case is then exactly an input Part 1 judged, and each spatial answer can be traced to it."""
    visible = np.arange(2 * 3 * 2 * 2, dtype=float).reshape(2, 3, 2, 2)
    pairs = [(visible, np.ones(3), np.zeros(3), None)]
    planted = _spatial_sources(["a2-forward"])
    if planted:
        for _, source, index, (n, h, w) in planted:
            case = source["cases"][index]
            d = case["x"].shape[1]
            pairs.append((_from_rows(case["x"], (n, d, h, w)), case["gamma"].copy(), case["beta"].copy(), index))
    else:
        for x, gamma, beta, (n, h, w) in _forward_batches(rng):
            pairs.append((_from_rows(x, (n, x.shape[1], h, w)), gamma, beta, None))
    cases, mapping, sources = [], {}, []
    for x, gamma, beta, index in pairs:
        common = {"gamma": gamma, "beta": beta, "running_mean": np.zeros(x.shape[1]),
                  "running_var": np.ones(x.shape[1])}
        cases.append({"fn": "2d", "x": x, **common})
        if index is not None:
            mapping[len(cases)] = index
        sources.append(index)
        cases.append({"fn": "rows", "x": _rows(x), **common})  # the student's own 1-D forward on the same data
    expected = [_from_rows(batchnorm_forward(rows["x"], rows["gamma"], rows["beta"], None, None, True)[0],
                           maps["x"].shape) for maps, rows in zip(cases[0::2], cases[1::2])]
    source = _DRAWN.get("a2-forward") if planted else None
    if source is not None:
        _plant("a2-spatial-forward", "a2-forward", source["cases"], mapping)

    def judge(answers, records, cells=None):
        part1 = _cell_answers(cells, "a2-forward", len(source["cases"])) if source else None
        model = _forward_model(source, part1) if part1 is not None else "unknown"
        problems, traced = [], 0
        for k, want in enumerate(expected):
            case, got, own = cases[2 * k], answers[2 * k], answers[2 * k + 1]
            what = f"batchnorm2d_forward on x of shape {case['x'].shape}"
            problem = _unusable(got, what) or compare(got, want, what, rtol=RTOL, atol=ATOL)
            index = sources[k]
            if problem and model not in (None, "unknown"):
                # the wrapper may be right around a wrong 1-D forward: only where that forward makes here the
                # mistake the grader recognised in Part 1, and answers an input Part 1 judged as it did there
                mine = _forward_case(cases[2 * k + 1], model)
                same = _matches(own, mine, RTOL, OUT_ATOL) and (
                    index is None or _matches(own, part1[index], RTOL, OUT_ATOL))
                if not same:
                    problem += ("; your batchnorm_forward answered these rows differently here and in Part 1 "
                                "(a2-forward), so this output is judged against batch norm itself")
                elif _matches(got, _from_rows(mine, want.shape), RTOL, ATOL):
                    problem, traced = None, traced + 1
            problems.append(problem)
        problem = _first(problems)
        if problem:
            return Verdict(0.0, problem)
        if traced:
            return Verdict(1.0, f"the reshaping is right: where your values differ from batch norm's, they are "
                                f"exactly your batchnorm_forward's on the same rows, whose mistake ({model}) Part 1 "
                                "grades")
        return Verdict(1.0, f"all {len(expected)} spatial outputs match")

    return cases, judge


@hidden_test("a2-spatial-backward")
def spatial_backward(rng):
    """Triples of cases: batchnorm2d_backward on a map's gradient ("2d") and the student's two 1-D backwards on the
    same rows ("closed", "graph"). The maps are the training-mode inputs of Parts 2 and 3 reshaped."""
    x = np.random.default_rng(0).standard_normal((2, 3, 2, 2))
    visible = {"dout": _rows(np.ones_like(x)),
               "cache": pinned_cache(_rows(x), np.ones(3), np.zeros(3), np.ones(3), True)}
    entries = [(visible, x.shape, None, None)]
    planted = _spatial_sources(["a2-graph", "a2-closed"])
    if planted:
        for grade_id, source, index, (n, h, w) in planted:
            case = source["cases"][index]
            entries.append((case, (n, case["dout"].shape[1], h, w), grade_id, index))
    else:  # drawn alone: inputs like those of Parts 2 and 3, of their own
        for _ in range(2):
            drawn, shapes = _backward_cases(rng, include_visible=False)
            for index, (n, h, w) in sorted(shapes.items()):
                entries.append((drawn[index], (n, drawn[index]["dout"].shape[1], h, w), None, None))
    cases, expected, origins = [], [], []
    mappings = {"a2-graph": {}, "a2-closed": {}}
    for entry, shape, grade_id, index in entries:
        dout, cache = np.array(entry["dout"]), dict(entry["cache"])
        cases.append({"fn": "2d", "dout": _from_rows(dout, shape), "cache": cache, "shape": tuple(shape)})
        # the student's own 1-D backwards on the same rows: the spatial one may call either
        cases.append({"fn": "closed", "dout": dout, "cache": cache})
        cases.append({"fn": "graph", "dout": dout, "cache": cache})
        if grade_id is not None:
            mappings[grade_id][len(cases) - (2 if grade_id == "a2-closed" else 1)] = index
        dx, dgamma, dbeta = _reference_backward({"dout": dout, "cache": cache})
        expected.append((_from_rows(dx, shape), dgamma, dbeta))
        origins.append((grade_id, index))
    sources = {g: _DRAWN[g] for g in mappings if planted and g in _DRAWN}
    for grade_id, source in sources.items():
        _plant("a2-spatial-backward", grade_id, source["cases"], mappings[grade_id])

    def judge(answers, records, cells=None):
        own_cells = {}
        for grade_id, fn in (("a2-closed", 1), ("a2-graph", 2)):
            source = sources.get(grade_id)
            earlier = _cell_answers(cells, grade_id, len(source["cases"])) if source else None
            own_cells[fn] = (grade_id, source, earlier,
                             [_backward_model(source, earlier, i) if earlier is not None else "unknown"
                              for i in range(3)])
        problems = {"dx": [], "dgamma": [], "dbeta": []}
        traced, names, differed = 0, set(), False
        for k, want in enumerate(expected):
            case, got = cases[3 * k], answers[3 * k]
            what = f"batchnorm2d_backward on dout of shape {case['shape']}"
            grads, problem = _triple(got, what)
            for i, key in enumerate(("dx", "dgamma", "dbeta")):
                if problem:
                    problems[key].append(problem)
                    continue
                found = compare(grads[i], want[i], f"{key} of {what}", rtol=RTOL, atol=ATOL)
                if found:
                    for fn, (grade_id, _, earlier, models) in own_cells.items():
                        model = models[i]
                        mine, _ = _triple(answers[3 * k + fn], "")
                        if model in (None, "unknown") or mine is None:
                            continue
                        rows_case = cases[3 * k + fn]
                        rebuilt = backward_variant(model)(rows_case["dout"], rows_case["cache"])[i]
                        same = _matches(mine[i], rebuilt)
                        if same and origins[k][0] == grade_id:  # this very input was judged in that cell
                            theirs, _ = _triple(earlier[origins[k][1]], "")
                            same = theirs is not None and _matches(mine[i], theirs[i])
                        if not same:
                            differed = True
                            continue
                        try:
                            reshaped = _from_rows(rebuilt, case["shape"]) if i == 0 else rebuilt
                        except (TypeError, ValueError):
                            continue
                        if _matches(grads[i], reshaped):
                            found, traced = None, traced + 1
                            names.add(f"{model}, graded in {grade_id}")
                            break
                problems[key].append(found)
        verdict = _score([(0.5, "dx", _first(problems["dx"])), (0.25, "dgamma", _first(problems["dgamma"])),
                          (0.25, "dbeta", _first(problems["dbeta"]))])
        if traced:
            verdict = Verdict(verdict.score, verdict.message + "\nwhere the values differ from the true gradient, "
                              "they are exactly your 1-D backward's on the reshaped rows, whose mistake ("
                              + "; ".join(sorted(names)) + ") is graded there, so the reshaping earns its points")
        elif differed and verdict.score < 1:
            verdict = Verdict(verdict.score, verdict.message + "\nyour 1-D backward answered these rows unlike it did "
                              "in its own cell, so the spatial gradient is judged against batch norm itself")
        return verdict

    return cases, judge


# ------------------------------------------------------------------------------------ Part 6: the experiment
def _layer_class(forward_mistake=None, backward_mistake=None):
    """coursekit's BatchNorm1d computed by the notebook's functions with the given mistakes (None: right ones), as
    the notebook's own BatchNorm1d is computed by the student's."""
    import coursekit.nn as nn

    forward_fn, backward_fn = forward_variant(forward_mistake), backward_variant(backward_mistake)

    class Layer(nn.BatchNorm1d):
        _forward = staticmethod(lambda *args: forward_fn(*args))
        _backward = staticmethod(lambda dout, cache: backward_fn(dout, cache))

    return Layer


def _reference_gradient_norms(use_batchnorm: bool, seed: int, depth: int = 12, width: int = 64,
                              layer=None) -> np.ndarray:
    """The notebook's recipe, run here with coursekit's own layers (or the given BatchNorm1d class): the norms an
    honest answer must reproduce."""
    import coursekit.nn as nn
    from coursekit.nn.functional import softmax_cross_entropy

    layer = nn.BatchNorm1d if layer is None else layer
    rng = np.random.default_rng(seed)
    layers, hidden = [], []
    with np.errstate(all="ignore"):
        for _ in range(depth):
            linear = nn.Linear(width, width)
            linear.weight.data = rng.normal(0, 1 / np.sqrt(width), (width, width))
            linear.bias.data = np.zeros(width)
            hidden.append(linear)
            layers += [linear] + ([layer(width)] if use_batchnorm else []) + [nn.Sigmoid()]
        head = nn.Linear(width, 10)
        head.weight.data = rng.normal(0, 1 / np.sqrt(width), (10, width))
        head.bias.data = np.zeros(10)
        model = nn.Sequential(*layers, head)
        x, y = rng.standard_normal((128, width)), rng.integers(0, 10, 128)
        _, dscores = softmax_cross_entropy(model(x), y)
        model.backward(dscores)
    return np.array([np.linalg.norm(layer.weight.grad) for layer in hidden])


def _probe_layer(layer_class, probe):
    layer = layer_class(probe["x"].shape[1])
    with np.errstate(all="ignore"):
        return layer(probe["x"]), layer.backward(probe["dout"])


def _layer_problem(got, want, what) -> str | None:
    """None when the layer's (out, dx) on a probe match want's; else what differs."""
    problem = _unusable(got, what)
    if problem:
        return problem
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        return f"{what} should be the layer's (out, dx), got {type(got).__name__}"
    return (compare(got[0], want[0], f"the output of {what}", rtol=RTOL, atol=OUT_ATOL)
            or compare(got[1], want[1], f"dx of {what}", rtol=RTOL, atol=ATOL))


SEEDS_PER_RUN = 3


@hidden_test("a2-experiment")
def experiment(rng):
    """The experiment's numbers are recomputed here from the pinned recipe: numbers the kernel merely reports are
    never trusted for what they show (made-up norms with the right story would pass any test of their shape).

    Two parts. Without batch norm the network uses nothing of Parts 1-5: its norms must be the recipe's. With batch
    norm it runs the student's layer, probed first on the grader's batches (one of variance 9, one of variance 1e-4
    where an eps mistake shows, one of five samples). A right layer: the norms must be the recipe's. A layer whose
    mistakes are the ones Parts 1 and 3 recognised in the student's functions: the recipe is rebuilt here with that
    layer, and the norms must be its. Any other layer: the recipe cannot be judged, and the message says so.
    """
    import coursekit.nn as nn

    seeds = [0, int(rng.integers(1, 1000)), int(rng.integers(1000, 2000))]
    probes = [{"x": rng.standard_normal((32, 16)) * 3 + 1, "dout": rng.standard_normal((32, 16))},
              {"x": rng.standard_normal((32, 16)) * SMALL, "dout": rng.standard_normal((32, 16))},
              {"x": rng.standard_normal((5, 8)) * 2 - 1, "dout": rng.standard_normal((5, 8))}]
    cases = [{"seed": seed, "use_batchnorm": use} for seed in seeds for use in (False, True)] + probes
    expected = {(seed, use): _reference_gradient_norms(use, seed) for seed in seeds for use in (False, True)}
    layer_expected = [_probe_layer(nn.BatchNorm1d, probe) for probe in probes]
    part1, part3 = _DRAWN.get("a2-forward"), _DRAWN.get("a2-closed")

    def norms_problem(got, what):
        problem = _unusable(got, what)
        if problem:
            return None, problem
        try:
            norms = np.asarray(got, dtype=np.float64)
        except (TypeError, ValueError):
            return None, f"{what} should return a list of numbers"
        if norms.shape != (12,):
            return None, f"{what} should return 12 norms (one per hidden layer), got shape {norms.shape}"
        return norms, None

    def against(got_norms, wanted, label):
        for (seed, use), got in got_norms.items():
            what = f"gradient_norms({use}, seed={seed})"
            norms, problem = norms_problem(got, what)
            if problem:
                return problem
            problem = compare(norms, wanted[seed], f"{what} {label}", rtol=1e-4, atol=1e-12)
            if problem:
                return problem + (" (build the network exactly as Part 6 describes: the weights, then the head's, "
                                  "then the inputs and labels, all from one np.random.default_rng(seed))")
        return None

    def judge(answers, records, cells=None):
        by_run = {(c["seed"], c["use_batchnorm"]): got for c, got in zip(cases, answers) if "seed" in c}
        plain = {k: v for k, v in by_run.items() if not k[1]}
        normalised = {k: v for k, v in by_run.items() if k[1]}
        plain_problem = against(plain, {s: expected[(s, False)] for s in seeds}, "without batch norm")
        probe_answers = answers[len(cases) - len(probes):]
        layer_problem = _first([_layer_problem(got, want, f"your BatchNorm1d layer on the grader's batch of shape "
                                                           f"{probe['x'].shape}")
                                for probe, got, want in zip(probes, probe_answers, layer_expected)])
        note = None
        if layer_problem is None:
            bn_problem = against(normalised, {s: expected[(s, True)] for s in seeds}, "with batch norm")
        else:
            forward_model = _forward_model(part1, _cell_answers(cells, "a2-forward", len(part1["cases"]))
                                           if part1 else None)
            backward_model = _backward_model(part3, _cell_answers(cells, "a2-closed", len(part3["cases"]))
                                             if part3 else None, 0)
            layer = None
            if "unknown" not in (forward_model, backward_model):
                candidate = _layer_class(forward_model, backward_model)
                if all(_layer_problem(got, _probe_layer(candidate, probe), "") is None
                       for probe, got in zip(probes, probe_answers)):
                    layer = candidate
            if layer is None:
                bn_problem = (f"could not be judged: {layer_problem}. Your norms with batch norm come from your "
                              "layer, and the grader cannot rebuild the numbers your recipe should give with it: it "
                              "is neither right nor made of the mistakes Parts 1 and 3 recognised in your "
                              "batchnorm_forward and batchnorm_backward_closed (so nothing is said about your recipe "
                              "with batch norm)")
            else:
                mistakes = ", ".join(f"{what}: {m}" for what, m in (("forward", forward_model),
                                                                     ("closed backward", backward_model)) if m)
                bn_problem = against(normalised, {s: _reference_gradient_norms(True, s, layer=layer) for s in seeds},
                                     "with batch norm (rebuilt with your layer's mistakes)")
                note = (f"your layer has the mistakes graded in Parts 1 and 3 ({mistakes}); the grader rebuilt the "
                        "recipe with that layer")
        verdict = _score([(0.5, "the recipe without batch norm", plain_problem),
                          (0.5, "with batch norm", bn_problem)])
        if note:
            verdict = Verdict(verdict.score, verdict.message + "\n" + note)
        return verdict

    return cases, judge
