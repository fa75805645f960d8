"""Checks of Assignment 2, batch norm: the grader's side of every test cell.

Expected values come from coursekit's batch norm, run here in the grader's process. A backward pass is graded on
a cache the grader builds in the format the notebook pins (a dict of x, mu, var, eps, x_hat, inv_std, gamma,
training), so a correct backward keeps its points after a wrong forward. Spatial batch norm is built from the
student's own 1-D functions: where those are wrong, the spatial version still earns its points when it is exactly
their reshaping (the 1-D mistake is graded once, where it is made).
"""

from __future__ import annotations

import numpy as np

from coursekit.course.judging import Missing, Raised, Verdict, compare, hidden_test
from coursekit.course.judging import first_problem as _first
from coursekit.course.judging import score_parts as _score
from coursekit.course.judging import unusable as _unusable  # shared helpers under the names used below
from coursekit.nn.functional.batchnorm import (
    batchnorm2d_backward,
    batchnorm2d_forward,
    batchnorm_backward,
    batchnorm_forward,
)

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
# float64 answers agree to ~1e-12; these also let a float32 implementation pass, and still catch a forgotten eps
# (the small-variance cases make it a relative error of 1e-2 and more)
RTOL, ATOL = 1e-4, 1e-5
OUT_ATOL = 1e-4  # normalised outputs are O(1); float32 inputs far from zero resolve them to about 1e-5
CACHE_KEYS = ("x", "mu", "var", "eps", "x_hat", "inv_std", "gamma", "training")


def _triple(got, what: str):
    """(dx, dgamma, dbeta) from an answer, or (None, problem)."""
    problem = _unusable(got, what)
    if problem:
        return None, problem
    if not isinstance(got, (tuple, list)) or len(got) != 3:
        return None, f"{what} should return (dx, dgamma, dbeta), got {type(got).__name__}"
    return list(got), None


def _batch(rng, n, d):
    spread = float(rng.uniform(0.1, 10))
    return rng.standard_normal((n, d)) * spread + float(rng.normal(0, 5))


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


# -------------------------------------------------------------------------------------- Part 1: the forward
@hidden_test("a2-forward")
def forward(rng):
    cases = [{"x": np.array([[1.0, 2.0], [3.0, 6.0], [5.0, 10.0]]), "gamma": np.ones(2), "beta": np.zeros(2)}]
    for i in range(10):
        n, d = int(rng.integers(2, 40)), int(rng.integers(1, 12))
        # small variances (centred, so that float32 still resolves them) make a forgotten eps visible
        x = rng.standard_normal((n, d)) * 0.01 if i < 2 else _batch(rng, n, d)
        cases.append({"x": x, "gamma": rng.standard_normal(d), "beta": rng.standard_normal(d)})
    for case in cases:
        d = case["x"].shape[1]
        case.update(running_mean=np.zeros(d), running_var=np.ones(d))
    expected = [batchnorm_forward(c["x"], c["gamma"], c["beta"], None, None, True)[0] for c in cases]

    def judge(answers, records):
        problems = []
        for case, got, want in zip(cases, answers, expected):
            what = f"training-mode output for x of shape {case['x'].shape}"
            problems.append(_unusable(got, what) or compare(got, want, what, rtol=RTOL, atol=OUT_ATOL))
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
            mean_problems.append(problem and problem + " (update it in place: running_mean *= ..., += ...)")
            problem = compare(got[1], var, f"running_var {what}", rtol=RTOL, atol=ATOL)
            var_problems.append(problem and problem + " (the running variance uses the unbiased estimate "
                                "var * N / (N - 1), updated in place)")
        return _score([(0.5, "running_mean", _first(mean_problems)), (0.5, "running_var", _first(var_problems))])

    return cases, judge


@hidden_test("a2-eval")
def eval_mode(rng):
    cases = [{"x": np.array([[1.0], [3.0]]), "gamma": np.array([2.0]), "beta": np.array([1.0]),
              "running_mean": np.array([1.0]), "running_var": np.array([4.0])}]
    for _ in range(5):
        n, d = int(rng.integers(1, 20)), int(rng.integers(1, 8))
        cases.append({"x": rng.standard_normal((n, d)), "gamma": rng.standard_normal(d),
                      "beta": rng.standard_normal(d), "running_mean": rng.standard_normal(d),
                      "running_var": rng.uniform(0.05, 3, d)})
    expected = [batchnorm_forward(c["x"], c["gamma"], c["beta"], c["running_mean"].copy(), c["running_var"].copy(),
                                  False)[0] for c in cases]

    def judge(answers, records):
        out_problems, kept_problems = [], []
        for case, got, want in zip(cases, answers, expected):
            what = f"eval-mode output for x of shape {case['x'].shape}"
            problem = _unusable(got, what)
            if problem is None and (not isinstance(got, (tuple, list)) or len(got) != 3):
                problem = "the test could not read the output and the running statistics"
            if problem:
                out_problems.append(problem)
                kept_problems.append(problem)
                continue
            out_problems.append(compare(got[0], want, what, rtol=RTOL, atol=ATOL))
            kept_problems.append(compare(got[1], case["running_mean"], "running_mean (eval mode must not change it)",
                                         rtol=0, atol=0)
                                 or compare(got[2], case["running_var"], "running_var (eval mode must not change it)",
                                            rtol=0, atol=0))
        return _score([(0.5, "eval-mode output", _first(out_problems)),
                       (0.5, "running statistics left unchanged", _first(kept_problems))])

    return cases, judge


# ----------------------------------------------------------------------------- Parts 2 and 3: the backwards
def _backward_cases(rng, include_visible: bool):
    cases = []
    if include_visible:
        x = np.array([[1.0, 2.0], [3.0, 6.0], [5.0, 10.0]])
        cases.append({"dout": np.ones_like(x), "cache": pinned_cache(x, np.ones(2), np.zeros(2), np.ones(2), True)})
    for training in (True, True, True, True, False, False):
        n, d = int(rng.integers(2, 30)), int(rng.integers(1, 10))
        x, gamma = rng.standard_normal((n, d)) * 2 + 1, rng.standard_normal(d)
        running_mean, running_var = rng.standard_normal(d), rng.uniform(0.5, 2, d)
        cases.append({"dout": rng.standard_normal((n, d)),
                      "cache": pinned_cache(x, gamma, running_mean, running_var, training)})
    return cases


def _reference_backward(case):
    cache = case["cache"]
    inner = (cache["x_hat"], cache["gamma"], cache["inv_std"], cache["training"], True)
    return batchnorm_backward(case["dout"], inner)


def _judge_backward(name, cases, expected):
    def judge(answers, records):
        problems = {"dx": [], "dgamma": [], "dbeta": []}
        for case, got, want in zip(cases, answers, expected):
            mode = "training" if case["cache"]["training"] else "eval"
            what = f"{name} ({mode} mode, x of shape {case['dout'].shape})"
            grads, problem = _triple(got, what)
            for i, key in enumerate(("dx", "dgamma", "dbeta")):
                problems[key].append(problem or compare(grads[i], want[i], f"{key} of {what}", rtol=RTOL, atol=ATOL))
        return _score([(2 / 3, "dx", _first(problems["dx"])), (1 / 6, "dgamma", _first(problems["dgamma"])),
                       (1 / 6, "dbeta", _first(problems["dbeta"]))])

    return judge


@hidden_test("a2-graph")
def backward_graph(rng):
    cases = _backward_cases(rng, include_visible=True)
    return cases, _judge_backward("batchnorm_backward_graph", cases, [_reference_backward(c) for c in cases])


@hidden_test("a2-closed")
def backward_closed(rng):
    cases = _backward_cases(rng, include_visible=True)
    return cases, _judge_backward("batchnorm_backward_closed", cases, [_reference_backward(c) for c in cases])


# ---------------------------------------------------------------------------------- Part 4: numerical gradient
FUNCTIONS = {  # the same names as the dict in the test cell; gradients of sum(f(x) * dout)
    "sin": lambda x, dout: np.cos(x) * dout,
    "cube_tanh": lambda x, dout: (3 * x ** 2 + 1 - np.tanh(x) ** 2) * dout,
    # not elementwise: x[i, j] reaches every output to its right, so the sum over dout must be complete
    "cumsum_square": lambda x, dout: 2 * x * np.cumsum(dout[:, ::-1], axis=1)[:, ::-1],
}


@hidden_test("a2-numgrad")
def numgrad(rng):
    x = np.array([[0.5, -1.0], [2.0, 0.1]])
    cases = [{"f": "sin", "x": x, "dout": np.ones_like(x)}]
    for f in ("cube_tanh", "cumsum_square", "cube_tanh", "cumsum_square"):
        shape = (int(rng.integers(2, 6)), int(rng.integers(2, 6)))
        cases.append({"f": f, "x": rng.standard_normal(shape), "dout": rng.standard_normal(shape)})
    expected = [FUNCTIONS[c["f"]](c["x"], c["dout"]) for c in cases]

    def judge(answers, records):
        grad_problems, restored_problems = [], []
        for case, got, want in zip(cases, answers, expected):
            what = f"numerical gradient of {case['f']} at x of shape {case['x'].shape}"
            problem = _unusable(got, what)
            if problem is None and (not isinstance(got, (tuple, list)) or len(got) != 2):
                problem = "the test could not read the gradient and x"
            if problem:
                grad_problems.append(problem)
                restored_problems.append(problem)
                continue
            grad_problems.append(compare(got[0], want, what, rtol=1e-6, atol=1e-8))
            restored_problems.append(compare(got[1], case["x"], "x after numerical_gradient (restore every entry "
                                             "you shift)", rtol=1e-12, atol=1e-14))
        return _score([(0.75, "gradient", _first(grad_problems)),
                       (0.25, "x left unchanged", _first(restored_problems))])

    return cases, judge


# -------------------------------------------------------------------------------------- Part 5: spatial
def _spatial_inputs(rng):
    while True:
        shape = tuple(int(v) for v in (rng.integers(1, 5), rng.integers(1, 5), rng.integers(1, 6), rng.integers(1, 6)))
        if shape[0] * shape[2] * shape[3] >= 2:
            gamma, beta = rng.standard_normal(shape[1]), rng.standard_normal(shape[1])
            return shape, rng.standard_normal(shape) * 2 + 1, gamma, beta


@hidden_test("a2-spatial-forward")
def spatial_forward(rng):
    visible = np.arange(2 * 3 * 2 * 2, dtype=float).reshape(2, 3, 2, 2)
    inputs = [(visible.shape, visible, np.ones(3), np.zeros(3))] + [_spatial_inputs(rng) for _ in range(5)]
    cases = []
    for shape, x, gamma, beta in inputs:
        common = {"gamma": gamma, "beta": beta, "running_mean": np.zeros(shape[1]), "running_var": np.ones(shape[1])}
        cases.append({"fn": "2d", "x": x, **common})
        cases.append({"fn": "rows", "x": _rows(x), **common})  # the student's own 1-D forward on the same data
    expected = [batchnorm2d_forward(c["x"], c["gamma"], c["beta"], None, None, True)[0] for c in cases[::2]]

    def judge(answers, records):
        problems, reshaped_only = [], 0
        for case, got, own, want in zip(cases[::2], answers[::2], answers[1::2], expected):
            what = f"batchnorm2d_forward on x of shape {case['x'].shape}"
            problem = _unusable(got, what) or compare(got, want, what, rtol=RTOL, atol=ATOL)
            if problem and _unusable(own, "") is None and np.size(own) == want.size:
                own_problem = compare(own, _rows(want), "", rtol=RTOL, atol=ATOL)
                try:
                    own_2d = _from_rows(own, want.shape)
                except (TypeError, ValueError):
                    own_2d = None
                if own_problem and own_2d is not None and compare(got, own_2d, "", rtol=RTOL, atol=ATOL) is None:
                    problem, reshaped_only = None, reshaped_only + 1
            problems.append(problem)
        problem = _first(problems)
        if problem:
            return Verdict(0.0, problem)
        if reshaped_only:
            return Verdict(1.0, "the reshaping is right; the values differ only because your batchnorm_forward "
                                "does (graded in Part 1)")
        return Verdict(1.0, f"all {len(expected)} spatial outputs match")

    return cases, judge


@hidden_test("a2-spatial-backward")
def spatial_backward(rng):
    x = np.random.default_rng(0).standard_normal((2, 3, 2, 2))
    inputs = [(x.shape, x, np.ones(3), np.zeros(3), np.ones_like(x))]
    for _ in range(5):
        shape, x, gamma, beta = _spatial_inputs(rng)
        inputs.append((shape, x, gamma, beta, rng.standard_normal(shape)))
    cases, expected = [], []
    for shape, x, gamma, beta, dout in inputs:
        cache = pinned_cache(_rows(x), gamma, np.zeros(shape[1]), np.ones(shape[1]), True)
        cases.append({"fn": "2d", "dout": dout, "cache": cache, "shape": tuple(shape)})
        # the student's own 1-D backwards on the same rows: the spatial one may call either
        cases.append({"fn": "closed", "dout": _rows(dout), "cache": cache})
        cases.append({"fn": "graph", "dout": _rows(dout), "cache": cache})
        expected.append(batchnorm2d_backward(dout, batchnorm2d_forward(x, gamma, beta, None, None, True)[1]))

    def judge(answers, records):
        problems = {"dx": [], "dgamma": [], "dbeta": []}
        reshaped_only = 0
        for k, want in enumerate(expected):
            case, got = cases[3 * k], answers[3 * k]
            what = f"batchnorm2d_backward on dout of shape {case['shape']}"
            grads, problem = _triple(got, what)
            own = [_triple(answers[3 * k + j], "")[0] for j in (1, 2)]
            for i, key in enumerate(("dx", "dgamma", "dbeta")):
                if problem:
                    problems[key].append(problem)
                    continue
                found = compare(grads[i], want[i], f"{key} of {what}", rtol=RTOL, atol=ATOL)
                if found:
                    for mine in own:
                        if mine is None:
                            continue
                        try:
                            mine_i = _from_rows(mine[i], case["shape"]) if i == 0 else mine[i]
                        except (TypeError, ValueError):
                            continue
                        want_i = _rows(want[0]) if i == 0 else want[i]
                        if (compare(mine[i], want_i, "", rtol=RTOL, atol=ATOL)
                                and compare(grads[i], mine_i, "", rtol=RTOL, atol=ATOL) is None):
                            found, reshaped_only = None, reshaped_only + 1
                            break
                problems[key].append(found)
        verdict = _score([(0.5, "dx", _first(problems["dx"])), (0.25, "dgamma", _first(problems["dgamma"])),
                          (0.25, "dbeta", _first(problems["dbeta"]))])
        if reshaped_only:
            verdict = Verdict(verdict.score, verdict.message + "\nwhere the values differ from the true gradient, "
                              "they are exactly your 1-D backward's on the reshaped rows (graded in Part 3), so "
                              "the reshaping earns its points")
        return verdict

    return cases, judge


# ------------------------------------------------------------------------------------ Part 6: the experiment
def _reference_gradient_norms(use_batchnorm: bool, seed: int, depth: int = 12, width: int = 64) -> np.ndarray:
    """The notebook's recipe, run here with coursekit's own layers: the norms an honest answer must reproduce."""
    import coursekit.nn as nn
    from coursekit.nn.functional import softmax_cross_entropy

    rng = np.random.default_rng(seed)
    layers, hidden = [], []
    for _ in range(depth):
        linear = nn.Linear(width, width)
        linear.weight.data = rng.normal(0, 1 / np.sqrt(width), (width, width))
        linear.bias.data = np.zeros(width)
        hidden.append(linear)
        layers += [linear] + ([nn.BatchNorm1d(width)] if use_batchnorm else []) + [nn.Sigmoid()]
    head = nn.Linear(width, 10)
    head.weight.data = rng.normal(0, 1 / np.sqrt(width), (10, width))
    head.bias.data = np.zeros(10)
    model = nn.Sequential(*layers, head)
    x, y = rng.standard_normal((128, width)), rng.integers(0, 10, 128)
    _, dscores = softmax_cross_entropy(model(x), y)
    model.backward(dscores)
    return np.array([np.linalg.norm(layer.weight.grad) for layer in hidden])


@hidden_test("a2-experiment")
def experiment(rng):
    """The experiment's numbers are recomputed here from the pinned recipe: numbers the kernel merely reports are
    never trusted for what they show (made-up norms with the right story would pass any test of their shape).

    A mistake is charged once: when the student's own batch-norm layer is wrong (probed on the grader's batch; its
    forward and closed backward lose their points in Parts 1 and 3), their norms cannot match the recipe's, and
    the experiment is judged on what it shows (vanishing without batch norm, steady with it) instead.
    """
    import coursekit.nn as nn

    seeds = [0, int(rng.integers(1, 1000)), int(rng.integers(1000, 2000))]
    probe = {"x": rng.standard_normal((32, 16)) * 3 + 1, "dout": rng.standard_normal((32, 16))}
    cases = [{"seed": seed} for seed in seeds] + [probe]
    expected = [(_reference_gradient_norms(False, seed), _reference_gradient_norms(True, seed)) for seed in seeds]
    layer = nn.BatchNorm1d(16)
    layer_out = layer(probe["x"])
    layer_dx = layer.backward(probe["dout"])

    def own_layer(got) -> str:
        """'right', 'wrong' (it ran and returned arrays of the right shapes, with a mistake) or 'unusable'."""
        if got is Missing or isinstance(got, Raised) or not isinstance(got, (tuple, list)) or len(got) != 2:
            return "unusable"
        try:
            out, dx = (np.asarray(v, dtype=np.float64) for v in got)
        except (TypeError, ValueError):
            return "unusable"
        if out.shape != layer_out.shape or dx.shape != layer_dx.shape:
            return "unusable"
        right = (compare(out, layer_out, "out", rtol=RTOL, atol=OUT_ATOL) is None
                 and compare(dx, layer_dx, "dx", rtol=RTOL, atol=ATOL) is None)
        return "right" if right else "wrong"

    def judge(answers, records):
        state = own_layer(answers[-1])
        if state == "unusable":
            return Verdict(0.0, "your BatchNorm1d layer (your batchnorm_forward and batchnorm_backward_closed) did not "
                                "run on the grader's batch, so the experiment cannot be checked")
        exact = state == "right"
        for seed, got, (want_plain, want_normalised) in zip(seeds, answers, expected):
            what = f"gradient_norms(..., seed={seed})"
            problem = _unusable(got, what)
            if problem:
                return Verdict(0.0, problem)
            try:
                plain, normalised = (np.asarray(v, dtype=np.float64) for v in got)
            except (TypeError, ValueError):
                return Verdict(0.0, f"{what} should return a list of numbers")
            if plain.shape != (12,) or normalised.shape != (12,):
                return Verdict(0.0, f"{what} should return 12 norms (one per hidden layer), got shapes "
                                    f"{plain.shape} and {normalised.shape}")
            if exact:
                for label, mine, want in (("without batch norm", plain, want_plain),
                                          ("with batch norm", normalised, want_normalised)):
                    problem = compare(mine, want, f"{what} {label}", rtol=1e-4, atol=1e-12)
                    if problem:
                        return Verdict(0.0, problem + " (build the network exactly as Part 6 describes: the "
                                                      "weights, then the head's, then the inputs and labels, all "
                                                      "from one np.random.default_rng(seed))")
                continue
            if not (np.all(np.isfinite(plain)) and np.all(np.isfinite(normalised)) and np.all(plain > 0)
                    and np.all(normalised > 0)):
                return Verdict(0.0, f"{what}: every norm should be a positive finite number")
            if not (plain[0] / plain[-1] < 1e-3 and normalised[0] / normalised[-1] > 0.05):
                return Verdict(0.0, f"{what}: the norms should vanish towards the first layer without batch norm "
                                    f"and keep their size with it (first/last ratios {plain[0] / plain[-1]:.2g} "
                                    f"and {normalised[0] / normalised[-1]:.2g})")
        if exact:
            return Verdict(1.0, "your gradient norms match the recipe's for every seed: they vanish without batch "
                                "norm and keep their size with it")
        # half: the numbers cannot be checked against the recipe, only their story (the mistake itself is charged
        # in Parts 1 and 3)
        return Verdict(0.5, "your batch norm has a mistake (charged in its own part), so your norms cannot match the "
                            "recipe's and only what they show is checked: vanishing without batch norm, steady with "
                            "it")

    return cases, judge
