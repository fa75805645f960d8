"""Checks of Assignment 1, convolution arithmetic: the grader's side of every test cell.

Each check draws the inputs of its test cell (random sizes from the grader's generator, plus the fixed examples
of the visible test), and judges what the student's functions returned against coursekit's own arithmetic and
convolution, computed here in the grader's process. The kernel never sees these references: KERNEL_HIDES strips
them (and the private helpers that compute the same things) from its view of coursekit, and torch is absent.
"""

from __future__ import annotations

import numpy as np

from coursekit import arithmetic
from coursekit.course.judging import NOT_RUN, Missing, Raised, Verdict, compare, hidden_test
from coursekit.course.judging import first_problem as _first_problem  # shared helpers under the names used below
from coursekit.course.judging import score_parts as _score
from coursekit.nn.functional import conv as conv_module
from coursekit.nn.functional.conv import conv2d_forward

KERNEL_HIDES = {
    "coursekit.arithmetic": ["conv_output_size", "conv_transpose_output_size", "pool_output_size", "conv_params",
                             "conv_macs", "receptive_field", "summary", "_conv_size", "_conv_transpose_size",
                             "_pool_size", "_maybe_pair", "_layer_shape_and_macs", "_coursekit_rows", "_torch_rows"],
    "coursekit.nn.functional.conv": ["conv2d_forward", "conv2d_backward", "conv2d_forward_naive",
                                     "conv2d_backward_naive", "conv_transpose2d_forward", "conv_transpose2d_backward",
                                     "_windows", "_im2col", "_col2im", "_pad", "_check_conv_geometry",
                                     "_validate_conv", "_validate_conv_transpose"],
    "coursekit.nn.functional.pooling": ["max_pool2d_forward", "max_pool2d_backward", "avg_pool2d_forward",
                                        "avg_pool2d_backward", "global_avg_pool2d_forward",
                                        "global_avg_pool2d_backward", "_pool_windows", "_padded", "_scatter",
                                        "_validate_pool", "_check_no_empty_window", "_avg_divisor"],
    # the lectures' helpers that also compute a convolution (as a matrix, per channel, in 1-D)
    "coursekit.variants": ["conv_matrix", "depthwise_conv2d", "causal_conv1d"],
}
KERNEL_TORCH = False  # the assignment is NumPy only
# what the kernel may import (with ipykernel, coursekit and what they need); nothing else installed is there
KERNEL_PACKAGES = ["numpy", "matplotlib", "tqdm"]
# libraries that would do the graded work for the student (scipy.signal.correlate for the naive convolution,
# scikit-image's local thresholds for the segmentation): absent from the kernel, like torch in a NumPy assignment
KERNEL_EXCLUDES = ["scipy", "skimage", "sklearn"]

# float64 answers agree with the reference to ~1e-12; these bounds also let a float32 implementation pass
CONV_RTOL, CONV_ATOL = 1e-4, 1e-5


def _call(name, case, keys) -> str:
    args = ", ".join(f"{k}={case[k]!r}" if i else repr(case[k]) for i, k in enumerate(keys))
    return f"{name}({args})"


def _exact(got, want, what: str) -> str | None:
    """None when got is the number want (an int, or a float with that integer value); else a message."""
    if got is Missing:
        return f"{what}: {NOT_RUN}"
    if isinstance(got, Raised):
        return f"{what} raised {got}"
    if isinstance(got, np.ndarray) and got.size == 1 and got.dtype.kind in "iuf":  # a one-element array is a number
        got = got.reshape(()).item()
    if isinstance(got, bool) or not isinstance(got, (int, float)):
        kind = f"an array of shape {np.shape(got)}" if isinstance(got, np.ndarray) else type(got).__name__
        return f"{what} should return a number, got {kind}"
    value = float(got)
    if value != want:
        return f"{what} returned {got!r}, expected {want}"
    return None


# ------------------------------------------------------------------------------------------ Part 1: sizes
@hidden_test("a1-conv-size")
def conv_size(rng):
    keys = ("n", "kernel_size", "stride", "padding", "dilation")
    cases = [dict(zip(keys, v)) for v in [(32, 5, 1, 0, 1), (224, 3, 1, 1, 1), (7, 3, 2, 1, 1)]]
    while len(cases) < 60:
        n, k, s, p, d = (int(rng.integers(lo, hi)) for lo, hi in ((1, 40), (1, 8), (1, 5), (0, 4), (1, 4)))
        if d * (k - 1) + 1 <= n + 2 * p:
            cases.append(dict(zip(keys, (n, k, s, p, d))))
    expected = [arithmetic.conv_output_size(**c) for c in cases]

    def judge(answers, records):
        problems = [_exact(got, want, _call("conv_output_size", c, keys))
                    for c, got, want in zip(cases, answers, expected)]
        problem = _first_problem(problems, len(cases))
        return Verdict(0.0, problem) if problem else Verdict(1.0, f"conv_output_size: all {len(cases)} cases right")

    return cases, judge


@hidden_test("a1-pool-transpose-size")
def pool_transpose_size(rng):
    pool_keys = ("n", "kernel_size", "stride", "padding")
    transpose_keys = ("n", "kernel_size", "stride", "padding", "output_padding", "dilation")
    cases = [{"fn": "pool", "n": 224, "kernel_size": 2, "stride": None, "padding": 0},
             {"fn": "transpose", "n": 2, "kernel_size": 3, "stride": 2, "padding": 1, "output_padding": 1,
              "dilation": 1}]
    while len(cases) < 80:
        n, k, s, p, d = (int(rng.integers(lo, hi)) for lo, hi in ((1, 30), (1, 6), (1, 4), (0, 3), (1, 3)))
        op = int(rng.integers(0, max(s, d)))
        if len(cases) % 2 and (n - 1) * s - 2 * p + d * (k - 1) + op + 1 >= 1:
            cases.append(dict(zip(("fn",) + transpose_keys, ("transpose", n, k, s, p, op, d))))
        elif not len(cases) % 2 and 2 * p <= k <= n + 2 * p:
            stride = None if rng.random() < 0.3 else s
            cases.append(dict(zip(("fn",) + pool_keys, ("pool", n, k, stride, p))))
    expected = [arithmetic.pool_output_size(*(c[k] for k in pool_keys)) if c["fn"] == "pool" else
                arithmetic.conv_transpose_output_size(*(c[k] for k in transpose_keys)) for c in cases]

    def judge(answers, records):
        parts = []
        for fn, name, keys in (("pool", "pool_output_size", pool_keys),
                               ("transpose", "conv_transpose_output_size", transpose_keys)):
            chosen = [i for i, c in enumerate(cases) if c["fn"] == fn]
            problems = [_exact(answers[i], expected[i], _call(name, cases[i], keys)) for i in chosen]
            parts.append((0.5, name, _first_problem(problems, len(chosen))))
        return _score(parts)

    return cases, judge


# --------------------------------------------------------------------------- Part 2: parameters and cost
@hidden_test("a1-conv-params")
def conv_params(rng):
    keys = ("c_in", "c_out", "kernel_size", "bias")
    cases = [dict(zip(keys, v)) for v in [(3, 64, 3, True), (64, 128, (3, 1), False)]]
    for _ in range(40):
        c_in, c_out = (int(v) for v in rng.integers(1, 300, size=2))
        kh, kw = (int(v) for v in rng.integers(1, 8, size=2))
        cases.append(dict(zip(keys, (c_in, c_out, kh if rng.random() < 0.5 else (kh, kw), bool(rng.random() < 0.5)))))
    expected = [arithmetic.conv_params(**c) for c in cases]

    def judge(answers, records):
        problems = [_exact(got, want, _call("conv_params", c, keys)) for c, got, want in zip(cases, answers, expected)]
        problem = _first_problem(problems, len(cases))
        return Verdict(0.0, problem) if problem else Verdict(1.0, f"conv_params: all {len(cases)} cases right")

    return cases, judge


@hidden_test("a1-feature-map-bytes")
def feature_map_bytes(rng):
    keys = ("batch_size", "channels", "height", "width", "bytes_per_value")
    cases = [dict(zip(keys, (1, [3], 224, 224, 4)))]
    for _ in range(30):
        n, h, w = (int(v) for v in (rng.integers(1, 64), rng.integers(1, 600), rng.integers(1, 600)))
        channels = [int(c) for c in rng.integers(1, 512, size=int(rng.integers(1, 5)))]
        cases.append(dict(zip(keys, (n, channels, h, w, int(rng.choice([2, 4, 8]))))))
    # the definition in the notebook's text: every map of the list, N x C x H x W values of the given size
    expected = [c["batch_size"] * sum(c["channels"]) * c["height"] * c["width"] * c["bytes_per_value"] for c in cases]

    def judge(answers, records):
        problems = [_exact(got, want, _call("feature_map_bytes", c, keys))
                    for c, got, want in zip(cases, answers, expected)]
        problem = _first_problem(problems, len(cases))
        return Verdict(0.0, problem) if problem else Verdict(1.0, f"feature_map_bytes: all {len(cases)} cases right")

    return cases, judge


@hidden_test("a1-conv-macs")
def conv_macs(rng):
    keys = ("c_in", "c_out", "kernel_size", "output_size")
    cases = [dict(zip(keys, (3, 64, 3, (224, 224))))]
    for _ in range(40):
        c_in, c_out, k, oh, ow = (int(v) for v in (rng.integers(1, 256), rng.integers(1, 256), rng.integers(1, 8),
                                                    rng.integers(1, 300), rng.integers(1, 300)))
        kernel = k if rng.random() < 0.7 else (k, int(rng.integers(1, 8)))
        cases.append(dict(zip(keys, (c_in, c_out, kernel, (oh, ow)))))
    expected = [arithmetic.conv_macs(**c) for c in cases]

    def judge(answers, records):
        problems = [_exact(got, want, _call("conv_macs", c, keys)) for c, got, want in zip(cases, answers, expected)]
        problem = _first_problem(problems, len(cases))
        return Verdict(0.0, problem) if problem else Verdict(1.0, f"conv_macs: all {len(cases)} cases right")

    return cases, judge


@hidden_test("a1-slide-512")
def slide_512(rng):
    cases = [{"name": "weights_512"}, {"name": "memory_512_mib"}]
    weights = arithmetic.conv_params(1, 64, 3, bias=False) + arithmetic.conv_params(64, 128, 3, bias=False)
    memory = 4 * 512 * 512 * (1 + 64 + 128) * 4 / 2**20

    def judge(answers, records):
        weights_problem = _exact(answers[0], weights, "weights_512")
        memory_problem = None
        if answers[1] is Missing or isinstance(answers[1], Raised):
            memory_problem = _exact(answers[1], memory, "memory_512_mib")
        elif compare(answers[1], memory, "memory_512_mib", rtol=1e-6, atol=0) is not None:
            memory_problem = (f"memory_512_mib is {answers[1]!r}: count the input and both outputs, 4 bytes per "
                              "value, and divide by 2**20")
        return _score([(0.5, "weights_512", weights_problem), (0.5, "memory_512_mib", memory_problem)])

    return cases, judge


# ---------------------------------------------------------------------------------------------- Part 3: VGG16
VGG16_CONFIG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]


def _vgg16_rows(image_size: int) -> list[tuple[tuple, int]]:
    """(output shape, weights without biases) per layer, from coursekit's size and parameter arithmetic."""
    rows, c, size = [], 3, image_size
    for v in VGG16_CONFIG:
        if v == "M":
            size = arithmetic.pool_output_size(size, 2)
            rows.append(((c, size, size), 0))
        else:
            size = arithmetic.conv_output_size(size, 3, padding=1)
            rows.append(((v, size, size), arithmetic.conv_params(c, v, 3, bias=False)))
            c = v
    features = c * size * size
    for units in (4096, 4096, 1000):
        rows.append(((units,), features * units))
        features = units
    return rows


def _table_problem(got, image_size: int) -> str | None:
    what = f"vgg16_table({image_size})"
    if got is Missing:
        return f"{what}: {NOT_RUN}"
    if isinstance(got, Raised):
        return f"{what} raised {got}"
    want = _vgg16_rows(image_size)
    if not isinstance(got, (list, tuple)):
        return f"{what} should return a list of (name, shape, weights) rows, got {type(got).__name__}"
    if len(got) != len(want):
        return f"{what} has {len(got)} rows, expected {len(want)} (13 conv, 5 pool, 3 FC)"
    for i, (row, (shape, weights)) in enumerate(zip(got, want)):
        if not isinstance(row, (list, tuple)) or len(row) != 3:
            return f"row {i} of {what} should be a (name, shape, weights) tuple, got {row!r:.80}"
        try:
            got_shape = tuple(int(v) for v in row[1])
            good = got_shape == shape and not isinstance(row[2], (bool, str)) and float(row[2]) == weights
        except (TypeError, ValueError):
            return f"row {i} of {what} should hold a shape tuple and a weight count, got {row!r:.80}"
        if not good:
            return f"row {i} of {what} is {row[1]!r:.40}, {row[2]!r:.20} weights; expected {shape}, {weights}"
    return None


@hidden_test("a1-vgg16")
def vgg16(rng):
    image_size = int(rng.choice([32, 64, 96, 128, 160, 192, 256]))
    cases = [{"what": "table", "image_size": 224}, {"what": "table", "image_size": image_size},
             {"what": "total", "image_size": 224}]
    total = sum(w for _, w in _vgg16_rows(224)) + sum(shape[0] for shape, w in _vgg16_rows(224) if w)

    def judge(answers, records):
        table = _table_problem(answers[0], 224) or _table_problem(answers[1], image_size)
        total_problem = _exact(answers[2], total, "vgg16_total")
        if total_problem and not (answers[2] is Missing or isinstance(answers[2], Raised)):
            total_problem += " (include the biases of every conv and FC layer)"
        return _score([(0.5, "vgg16_table", table), (0.5, "vgg16_total", total_problem)])

    return cases, judge


# ------------------------------------------------------------------------------------ Part 4: receptive fields
@hidden_test("a1-receptive-field")
def receptive_field(rng):
    cases = [{"layers": [(3, 1, 1), (3, 1, 1)]}, {"depth": 3}, {"depth": 8}]
    for _ in range(40):
        layers = [tuple(int(v) for v in (rng.integers(1, 8), rng.integers(1, 4), rng.integers(1, 4)))
                  for _ in range(int(rng.integers(1, 7)))]
        cases.append({"layers": layers})
    cases.append({"depth": int(rng.integers(1, 12))})

    def expected(case):
        if "layers" in case:
            return arithmetic.receptive_field(case["layers"])
        return [arithmetic.receptive_field([(3, 1, 2 ** i) for i in range(n)]) for n in range(1, case["depth"] + 1)]

    wants = [expected(c) for c in cases]

    def judge(answers, records):
        field_problems, dilated_problems = [], []
        for case, got, want in zip(cases, answers, wants):
            if "layers" in case:
                field_problems.append(_exact(got, want, f"receptive_field({case['layers']})"))
                continue
            what = f"dilated_receptive_fields({case['depth']})"
            if got is Missing or isinstance(got, Raised):
                dilated_problems.append(_exact(got, 0, what))
            elif compare(got, want, what, rtol=0, atol=0) is not None:
                dilated_problems.append(f"{what} returned {got!r:.120}, expected {want}")
            else:
                dilated_problems.append(None)
        return _score([(2 / 3, "receptive_field", _first_problem(field_problems, len(field_problems))),
                       (1 / 3, "dilated_receptive_fields", _first_problem(dilated_problems, len(dilated_problems)))])

    return cases, judge


# ----------------------------------------------------------------------------------- Part 5: your convolution
def _conv_inputs(rng, k_max=5):
    n, c, f, k, s, p = (int(v) for v in (rng.integers(1, 4), rng.integers(1, 4), rng.integers(1, 5),
                                          rng.integers(1, k_max), rng.integers(1, 4), rng.integers(0, 3)))
    h, w = int(rng.integers(max(1, k - 2 * p), 12)), int(rng.integers(max(1, k - 2 * p), 12))
    return {"x": rng.standard_normal((n, c, h, w)), "w": rng.standard_normal((f, c, k, k)),
            "b": rng.standard_normal(f), "stride": s, "padding": p}


def _conv_problem(name, case, got, want) -> str | None:
    what = (f"{name} on x of shape {case['x'].shape}, w of shape {case['w'].shape}, stride={case['stride']}, "
            f"padding={case['padding']}")
    if got is Missing:
        return f"{what}: {NOT_RUN}"
    if isinstance(got, Raised):
        return f"{what} raised {got}"
    return compare(got, want, what, rtol=CONV_RTOL, atol=CONV_ATOL)


@hidden_test("a1-conv-naive")
def conv_naive(rng):
    visible = {"x": np.arange(2 * 5 * 5, dtype=float).reshape(1, 2, 5, 5), "w": np.ones((1, 2, 3, 3)),
               "b": np.array([1.0]), "stride": 1, "padding": 0}
    cases = [visible] + [_conv_inputs(rng) for _ in range(12)]
    expected = [conv2d_forward(c["x"], c["w"], c["b"], c["stride"], c["padding"])[0] for c in cases]

    def judge(answers, records):
        problems = [_conv_problem("conv2d_naive", c, got, want) for c, got, want in zip(cases, answers, expected)]
        problem = _first_problem(problems, len(cases))
        return Verdict(0.0, problem) if problem else Verdict(1.0, f"conv2d_naive: all {len(cases)} cases match")

    return cases, judge


def _reference_im2col(x, kh, kw, stride, padding):
    oh = arithmetic.conv_output_size(x.shape[2], kh, stride, padding)
    ow = arithmetic.conv_output_size(x.shape[3], kw, stride, padding)
    padded = conv_module._pad(x, (padding, padding))
    return conv_module._im2col(padded, (kh, kw), (stride, stride), (1, 1), (oh, ow)), (oh, ow)


def _im2col_problem(case, got) -> str | None:
    x, kh, kw, s, p = case["x"], case["kh"], case["kw"], case["stride"], case["padding"]
    what = f"im2col(x of shape {x.shape}, {kh}, {kw}, stride={s}, padding={p})"
    if got is Missing:
        return f"{what}: {NOT_RUN}"
    if isinstance(got, Raised):
        return f"{what} raised {got}"
    want, (oh, ow) = _reference_im2col(x, kh, kw, s, p)
    problem = compare(got, want, what, rtol=CONV_RTOL, atol=CONV_ATOL)
    if problem is None or np.shape(got) != want.shape:
        return problem
    # name the column's sample and output position, and the row's (channel, kernel offset): the usual mistake
    # is an order, and the order is what the text specifies
    got = np.asarray(got, dtype=np.float64)
    bad_columns = np.flatnonzero(np.any(np.abs(got - want) > CONV_ATOL + CONV_RTOL * np.abs(want), axis=0))
    column = int(bad_columns[0])
    sample, rest = divmod(column, oh * ow)
    i, j = divmod(rest, ow)
    rows = np.flatnonzero(np.abs(got[:, column] - want[:, column]) > CONV_ATOL + CONV_RTOL * np.abs(want[:, column]))
    c, rest = divmod(int(rows[0]), kh * kw)
    u, v = divmod(rest, kw)
    return (f"{problem}. The first wrong column is {column} of {want.shape[1]}, the field of sample n={sample} at "
            f"output position ({i}, {j}); its row {int(rows[0])} should hold channel {c}, kernel offset ({u}, {v}). "
            "Rows are ordered (c, u, v) and columns (n, i, j), both row-major")


@hidden_test("a1-conv-matmul")
def conv_matmul(rng):
    cases = [{"fn": "im2col", "x": np.arange(16.0).reshape(1, 1, 4, 4), "kh": 2, "kw": 2, "stride": 1, "padding": 0}]
    for _ in range(8):
        inputs = _conv_inputs(rng)
        k = inputs["w"].shape[2]
        kw = k if rng.random() < 0.5 else int(rng.integers(1, k + 1))
        if inputs["x"].shape[0] == 1:  # the column order between samples is part of the contract: test it
            inputs["x"] = rng.standard_normal((int(rng.integers(2, 4)),) + inputs["x"].shape[1:])
        if kw > inputs["x"].shape[3] + 2 * inputs["padding"]:
            kw = k
        cases.append({"fn": "im2col", "x": inputs["x"], "kh": k, "kw": kw, "stride": inputs["stride"],
                      "padding": inputs["padding"]})
    for _ in range(8):
        cases.append({"fn": "conv", **_conv_inputs(rng)})
    expected = [conv2d_forward(c["x"], c["w"], c["b"], c["stride"], c["padding"])[0] if c["fn"] == "conv" else None
                for c in cases]

    def judge(answers, records):
        im2col_problems, conv_problems = [], []
        for case, got, want in zip(cases, answers, expected):
            if case["fn"] == "im2col":
                im2col_problems.append(_im2col_problem(case, got))
            else:
                conv_problems.append(_conv_problem("conv2d_matmul", case, got, want))
        return _score([(0.5, "im2col", _first_problem(im2col_problems, len(im2col_problems))),
                       (0.5, "conv2d_matmul", _first_problem(conv_problems, len(conv_problems)))])

    return cases, judge
