"""The grader's checks of Assignments 1-3 (course/judges/), judged in this process without a kernel.

For every check: coursekit's own implementation, applied to the check's cases, earns full marks; realistic bugs
(an off-by-one, a missing term, a wrong column order, a forgotten sigmoid ...) earn less; answers that raised or
never came (Raised, Missing), object arrays and wrong shapes score 0 with a message instead of crashing the judge.
Answers travel through the real wire encoding (coursekit.grading), as they do from a kernel.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

nbformat = pytest.importorskip("nbformat")

from coursekit import arithmetic  # noqa: E402
from coursekit.course.judging import Missing, Raised, Verdict, load_judges  # noqa: E402
from coursekit.grading import decode_value, encode_value  # noqa: E402
from coursekit.nn.functional import batchnorm as bn  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
COURSE = ROOT / "course"
NOTEBOOKS = {"a1_conv_arithmetic": "conv_arithmetic", "a2_batchnorm": "batchnorm", "a3_unet": "unet_segmentation"}


def _module(assignment):
    return load_judges(assignment, COURSE)


def _test_cells(assignment):
    nb = nbformat.read(ROOT / "solutions" / assignment / f"{NOTEBOOKS[assignment]}.ipynb", as_version=4)
    return [c.metadata["nbgrader"]["grade_id"] for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]


def _wire(value):
    return decode_value(encode_value(value))


def grade(assignment, grade_id, answer, seed=0, records=None) -> tuple[Verdict, list]:
    """Run one check: its cases through the wire, answer(case) for each (exceptions become Raised), the judge.

    Assignment 2's judges read the other cells' answers (a part credited only beside work shown elsewhere, a function
    held to its answers to the same input in another cell): there the whole notebook is drawn and judged as the
    grader does (tests/judge_harness.py), every other cell answered by the reference."""
    if assignment in WHOLE_NOTEBOOK:
        from judge_harness import grade_answers_with_cases

        verdicts, cases = grade_answers_with_cases(assignment, lambda g, c: (
            answer if g == grade_id else REFERENCE[assignment][g])(c), seed, lambda s, g: np.random.default_rng(s))
        return verdicts[grade_id], cases[grade_id]
    cases, judge = _module(assignment).tests[grade_id](np.random.default_rng(seed))
    cases = _wire(cases)
    answers = []
    for case in cases:
        try:
            answers.append(_wire(answer(case)))
        except Exception as exc:  # noqa: BLE001 - what grading.answer records
            answers.append(Raised(type(exc).__name__, str(exc)))
    verdict = judge(answers, records or {})
    assert isinstance(verdict, Verdict)
    return verdict, cases


WHOLE_NOTEBOOK = {"a2_batchnorm"}


# ------------------------------------------------------------------------------ reference answers and bugs
def _pool_size(c):
    return arithmetic.pool_output_size(c["n"], c["kernel_size"], c["stride"], c["padding"])


def _transpose_size(c):
    return arithmetic.conv_transpose_output_size(c["n"], c["kernel_size"], c["stride"], c["padding"],
                                                 c["output_padding"], c["dilation"])


def _vgg16_table(image_size):
    """coursekit's VGG16 (torchvision's layout) on the meta device: shapes from torch, weights from the layers."""
    torch = pytest.importorskip("torch")
    from coursekit.models import vgg16

    with torch.device("meta"):
        model = vgg16()
        x = torch.empty(1, 3, image_size, image_size)
        rows = []
        for layer in model.features:
            x = layer(x)
            if isinstance(layer, torch.nn.Conv2d):
                rows.append(("conv", tuple(x.shape[1:]), layer.weight.numel()))
            elif isinstance(layer, torch.nn.MaxPool2d):
                rows.append(("pool", tuple(x.shape[1:]), 0))
        features = x.numel()
    for units in (4096, 4096, 1000):  # the notebook's FC layers read the flattened features directly
        rows.append(("fc", (units,), features * units))
        features = units
    return rows


def _vgg16_total():
    from coursekit.models import vgg16

    return sum(p.numel() for p in vgg16().parameters())


def _im2col_loops(x, kh, kw, stride, padding):
    """An independent im2col: one column per (n, i, j), rows (c, u, v), both row-major."""
    n, c, h, w = x.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    oh, ow = (h + 2 * padding - kh) // stride + 1, (w + 2 * padding - kw) // stride + 1
    cols = [xp[s, :, i * stride: i * stride + kh, j * stride: j * stride + kw].ravel()
            for s in range(n) for i in range(oh) for j in range(ow)]
    return np.stack(cols, axis=1)


def _conv(c):
    from coursekit.nn.functional import conv2d_forward_naive

    return conv2d_forward_naive(c["x"], c["w"], c["b"], c["stride"], c["padding"])[0]


def _bn_inner(cache):
    return cache["x_hat"], cache["gamma"], cache["inv_std"], cache["training"], True


def _running_after(c, unbiased=True):
    mean, var = c["running_mean"].copy(), c["running_var"].copy()
    if unbiased:
        bn.batchnorm_forward(c["x"], c["gamma"], c["beta"], mean, var, True, c["momentum"])
    else:
        batch_var = c["x"].var(axis=0)
        mean = (1 - c["momentum"]) * mean + c["momentum"] * c["x"].mean(axis=0)
        var = (1 - c["momentum"]) * var + c["momentum"] * batch_var
    return mean, var


def _rows(x):
    return x.transpose(0, 2, 3, 1).reshape(-1, x.shape[1])


def _forward_no_eps(x, gamma, beta):
    return gamma * (x - x.mean(axis=0)) / x.std(axis=0) + beta


def _closed_no_mean_term(dout, cache):
    x_hat, gamma, inv_std = cache["x_hat"], cache["gamma"], cache["inv_std"]
    dbeta, dgamma = dout.sum(axis=0), (dout * x_hat).sum(axis=0)
    if not cache["training"]:
        return dout * gamma * inv_std, dgamma, dbeta
    n = dout.shape[0]
    return gamma * inv_std / n * (n * dout - x_hat * dgamma), dgamma, dbeta


NUMGRAD_FUNCTIONS = {"sin": np.sin, "cube_tanh": lambda v: v ** 3 + np.tanh(v),
                     "cumsum_square": lambda v: np.cumsum(v ** 2, axis=1)}


def _numgrad_elementwise(f, x, dout, h=1e-5):
    """A common bug: each entry's difference is weighted by its own dout only (right for elementwise f only)."""
    grad = np.zeros_like(x)
    for idx in np.ndindex(*x.shape):
        old = x[idx]
        x[idx] = old + h
        plus = f(x)[idx]
        x[idx] = old - h
        minus = f(x)[idx]
        x[idx] = old
        grad[idx] = (plus - minus) * dout[idx] / (2 * h)
    return grad


def _gradient_norms(use_batchnorm, seed, batch_norm_layer=None):
    import coursekit.nn as nn
    from coursekit.nn.functional import softmax_cross_entropy

    rng = np.random.default_rng(seed)
    layers, hidden = [], []
    for _ in range(12):
        linear = nn.Linear(64, 64)
        linear.weight.data = rng.normal(0, 1 / 8, (64, 64))
        linear.bias.data = np.zeros(64)
        hidden.append(linear)
        layers += [linear] + ([nn.BatchNorm1d(64)] if use_batchnorm else []) + [nn.Sigmoid()]
    head = nn.Linear(64, 10)
    head.weight.data = rng.normal(0, 1 / 8, (10, 64))
    head.bias.data = np.zeros(10)
    model = nn.Sequential(*layers, head)
    x, y = rng.standard_normal((128, 64)), rng.integers(0, 10, 128)
    _, dscores = softmax_cross_entropy(model(x), y)
    model.backward(dscores)
    return [float(np.linalg.norm(layer.weight.grad)) for layer in hidden]


def _batchnorm_layer(c):
    import coursekit.nn as nn

    layer = nn.BatchNorm1d(c["x"].shape[1])
    return layer(c["x"]), layer.backward(c["dout"])


def _torch():
    return pytest.importorskip("torch")


def _center_crop(c):
    from coursekit.nn.functional.skip import center_crop

    return center_crop(c["x"], (c["height"], c["width"]))


def _crop_off_by_one(c):
    x, h, w = c["x"], c["height"], c["width"]
    if h > x.shape[2] or w > x.shape[3]:
        raise ValueError("too small")
    top, left = (x.shape[2] - h + 1) // 2, (x.shape[3] - w + 1) // 2
    return x[:, :, top: top + h, left: left + w]


def _concat(c, skip_first=True):
    from coursekit.nn.functional.skip import crop_and_concat_forward

    if c["fn"] == "crop":
        return _center_crop(c)
    out = crop_and_concat_forward(c["skip"], c["x"])[0]
    if skip_first:
        return out
    cs = c["skip"].shape[1]
    return np.concatenate([out[:, cs:], out[:, :cs]], axis=1)


def _unet_size(c, raise_errors=True):
    from coursekit.models import UNet

    size = UNet(depth=c["depth"], padding="valid", base_channels=1).output_size(c["n"])
    if size < 1 and raise_errors:
        raise ValueError(f"no output for n={c['n']}")
    return size


def _student_unet(c, **mistakes):
    """A UNet written as a student would (its own attribute names, created shallowest-first), with mistakes."""
    torch = _torch()
    nn = torch.nn
    padding, batch_norm = c["padding"], c["batch_norm"] and not mistakes.get("batch_norm_ignored")
    pad = 1 if (padding == "same" or mistakes.get("padded_valid")) else 0

    def double_conv(c_in, c_out):
        layers = []
        for k, ch in enumerate((c_in, c_out)):
            layers.append(nn.Conv2d(ch, c_out, 3, padding=pad, bias=not batch_norm or mistakes.get("bias_with_bn")))
            if batch_norm:
                layers.append(nn.BatchNorm2d(c_out))
            if not (k == 0 and mistakes.get("no_inner_relu")):
                layers.append(nn.ReLU())
        return nn.Sequential(*layers)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            widths = [c["base_channels"] * 2 ** i for i in range(c["depth"] + 1)]
            self.enc = nn.ModuleList([double_conv(i, o) for i, o in zip([c["in_channels"]] + widths[:-2],
                                                                          widths[:-1])])
            self.mid = double_conv(widths[-2], widths[-1])
            # registered shallowest-first, used deepest-first: only the call order lines up with the specification
            self.ups = nn.ModuleList([nn.ConvTranspose2d(widths[i + 1], widths[i], 2, stride=2)
                                      for i in range(c["depth"])])
            self.decs = nn.ModuleList([double_conv(widths[i + 1], widths[i]) for i in range(c["depth"])])
            self.out = nn.Conv2d(widths[0], c["out_channels"], 1)

        def forward(self, x):
            skips = []
            for block in self.enc:
                x = block(x)
                skips.append(x)
                x = nn.functional.max_pool2d(x, 2)
            x = self.mid(x)
            for i in reversed(range(c["depth"])):
                x = self.ups[i](x)
                skip = skips[i]
                top, left = (skip.shape[-2] - x.shape[-2]) // 2, (skip.shape[-1] - x.shape[-1]) // 2
                skip = skip[..., top: top + x.shape[-2], left: left + x.shape[-1]]
                skip = skip.detach() if mistakes.get("detached_skips") else skip
                x = self.decs[i](torch.cat([x, skip] if mistakes.get("x_first") else [skip, x], dim=1))
            # the head's weights applied functionally: the layer object is never called
            x = (nn.functional.conv2d(x, self.out.weight, self.out.bias) if mistakes.get("functional_head")
                 else self.out(x))
            return torch.sigmoid(x) if mistakes.get("sigmoid_head") else x

    return Net()


def _network(c, **mistakes):
    from coursekit import grading

    model = _student_unet(c, **mistakes)
    return grading.run_with_weights(model, c["x"], c["layers"], train=c["train"], grad_output=c.get("grad_output"))


def _dice(c, sigmoid=True):
    torch = _torch()
    from coursekit.nn.functional.losses import dice_loss

    if not sigmoid:  # forgot the sigmoid: the probabilities are the logits themselves
        logits = torch.tensor(c["logits"], requires_grad=True)
        target = torch.tensor(c["target"])
        if logits.shape != target.shape:
            raise ValueError("shapes differ")
        loss = 1 - (2 * (logits * target).sum() + c["eps"]) / (logits.sum() + target.sum() + c["eps"])
        loss.backward()
        return loss, logits.grad
    return dice_loss(c["logits"], c["target"], c["eps"])


REFERENCE = {
    "a1_conv_arithmetic": {
        "a1-conv-size": lambda c: arithmetic.conv_output_size(c["n"], c["kernel_size"], c["stride"], c["padding"],
                                                              c["dilation"]),
        "a1-pool-transpose-size": lambda c: _pool_size(c) if c["fn"] == "pool" else _transpose_size(c),
        "a1-conv-params": lambda c: arithmetic.conv_params(c["c_in"], c["c_out"], c["kernel_size"], c["bias"]),
        "a1-feature-map-bytes": lambda c: (c["batch_size"] * sum(c["channels"]) * c["height"] * c["width"]
                                           * c["bytes_per_value"]),
        "a1-conv-macs": lambda c: arithmetic.conv_macs(c["c_in"], c["c_out"], c["kernel_size"], c["output_size"]),
        "a1-slide-512": lambda c: (arithmetic.conv_params(1, 64, 3, False) + arithmetic.conv_params(64, 128, 3, False)
                                   if c["name"] == "weights_512" else 4 * 512 * 512 * 193 * 4 / 2**20),
        "a1-vgg16": lambda c: _vgg16_table(c["image_size"]) if c["what"] == "table" else _vgg16_total(),
        "a1-receptive-field": lambda c: (arithmetic.receptive_field(c["layers"]) if "layers" in c else
                                         [arithmetic.receptive_field([(3, 1, 2 ** i) for i in range(d)])
                                          for d in range(1, c["depth"] + 1)]),
        "a1-conv-naive": _conv,
        "a1-conv-matmul": lambda c: (_im2col_loops(c["x"], c["kh"], c["kw"], c["stride"], c["padding"])
                                     if c["fn"] == "im2col" else _conv(c)),
    },
    "a2_batchnorm": {
        "a2-forward": lambda c: bn.batchnorm_forward(c["x"], c["gamma"], c["beta"], c["running_mean"],
                                                     c["running_var"], True)[0],
        "a2-running-stats": _running_after,
        "a2-eval": lambda c: (bn.batchnorm_forward(c["x"], c["gamma"], c["beta"], c["running_mean"],
                                                   c["running_var"], False)[0], c["running_mean"], c["running_var"]),
        "a2-graph": lambda c: bn.batchnorm_backward_graph(c["dout"], _bn_inner(c["cache"])),
        "a2-closed": lambda c: bn.batchnorm_backward(c["dout"], _bn_inner(c["cache"])),
        "a2-numgrad": lambda c: (__import__("coursekit.gradcheck", fromlist=["x"]).numerical_gradient(
            NUMGRAD_FUNCTIONS[c["f"]], c["x"], c["dout"]), c["x"]),
        "a2-spatial-forward": lambda c: (bn.batchnorm2d_forward if c["fn"] == "2d" else bn.batchnorm_forward)(
            c["x"], c["gamma"], c["beta"], c["running_mean"], c["running_var"], True)[0],
        "a2-spatial-backward": lambda c: (
            bn.batchnorm2d_backward(c["dout"], (_bn_inner(c["cache"]), c["shape"])) if c["fn"] == "2d" else
            bn.batchnorm_backward(c["dout"], _bn_inner(c["cache"])) if c["fn"] == "closed" else
            bn.batchnorm_backward_graph(c["dout"], _bn_inner(c["cache"]))),
        "a2-experiment": lambda c: (_batchnorm_layer(c) if "dout" in c else
                                    _gradient_norms(c["use_batchnorm"], c["seed"])),
    },
    "a3_unet": {
        "a3-crop": _center_crop,
        "a3-concat": _concat,
        "a3-sizes": _unet_size,
        "a3-params": _network,
        "a3-valid": _network,
        "a3-same": _network,
        "a3-dice": _dice,
    },
}

BUGS = {  # grade_id -> (what the bug is, answer); each must cost points
    "a1-conv-size": ("the formula without the -1",
                     lambda c: (c["n"] + 2 * c["padding"] - c["dilation"] * (c["kernel_size"] - 1)) // c["stride"] + 1),
    "a1-pool-transpose-size": ("pooling with stride 1 when stride is None", lambda c: (
        arithmetic.pool_output_size(c["n"], c["kernel_size"], c["stride"] or 1, c["padding"]) if c["fn"] == "pool"
        else _transpose_size(c))),
    "a1-conv-params": ("forgot the bias",
                       lambda c: arithmetic.conv_params(c["c_in"], c["c_out"], c["kernel_size"], False)),
    "a1-feature-map-bytes": ("forgot the batch", lambda c: sum(c["channels"]) * c["height"] * c["width"]
                             * c["bytes_per_value"]),
    "a1-conv-macs": ("counted FLOPs (2 per MAC)", lambda c: 2 * arithmetic.conv_macs(
        c["c_in"], c["c_out"], c["kernel_size"], c["output_size"])),
    "a1-slide-512": ("memory of the outputs only", lambda c: (
        74_304 if c["name"] == "weights_512" else 4 * 512 * 512 * 192 * 4 / 2**20)),
    "a1-vgg16": ("total without biases", lambda c: (_vgg16_table(c["image_size"]) if c["what"] == "table"
                                                    else sum(w for _, _, w in _vgg16_table(224)))),
    "a1-receptive-field": ("strides ignored", lambda c: (
        1 + sum(d * (k - 1) for k, s, d in c["layers"]) if "layers" in c else
        [arithmetic.receptive_field([(3, 1, 2 ** i) for i in range(d)]) for d in range(1, c["depth"] + 1)])),
    "a1-conv-naive": ("forgot the bias", lambda c: _conv(c) - c["b"][None, :, None, None]),
    "a1-conv-matmul": ("columns ordered (i, j, n)", lambda c: (
        _im2col_loops(c["x"], c["kh"], c["kw"], c["stride"], c["padding"]).reshape(
            c["x"].shape[1] * c["kh"] * c["kw"], c["x"].shape[0], -1).transpose(0, 2, 1).reshape(
            c["x"].shape[1] * c["kh"] * c["kw"], -1) if c["fn"] == "im2col" else _conv(c))),
    "a2-forward": ("forgot eps", lambda c: _forward_no_eps(c["x"], c["gamma"], c["beta"])),
    "a2-running-stats": ("biased running variance", lambda c: _running_after(c, unbiased=False)),
    "a2-eval": ("batch statistics in eval mode", lambda c: (
        bn.batchnorm_forward(c["x"], c["gamma"], c["beta"], None, None, True)[0] if len(c["x"]) > 1 else c["x"],
        c["running_mean"], c["running_var"])),
    "a2-graph": ("no mean term", lambda c: _closed_no_mean_term(c["dout"], c["cache"])),
    "a2-closed": ("no mean term", lambda c: _closed_no_mean_term(c["dout"], c["cache"])),
    "a2-numgrad": ("difference weighted elementwise", lambda c: (
        _numgrad_elementwise(NUMGRAD_FUNCTIONS[c["f"]], c["x"], c["dout"]), c["x"])),
    "a2-spatial-forward": ("reshaped without the transpose", lambda c: (
        bn.batchnorm_forward(c["x"].reshape(-1, c["x"].shape[1]), c["gamma"], c["beta"], None, None, True)[0]
        .reshape(c["x"].shape) if c["fn"] == "2d" else
        bn.batchnorm_forward(c["x"], c["gamma"], c["beta"], None, None, True)[0])),
    "a2-spatial-backward": ("dgamma not summed over the spatial axes", lambda c: (
        (lambda g: (g[0], g[1] / (c["shape"][2] * c["shape"][3]), g[2]))(
            bn.batchnorm2d_backward(c["dout"], (_bn_inner(c["cache"]), c["shape"])))
        if c["fn"] == "2d" else bn.batchnorm_backward(c["dout"], _bn_inner(c["cache"])))),
    "a2-experiment": ("batch norm left out", lambda c: _batchnorm_layer(c) if "dout" in c else
                      _gradient_norms(False, c["seed"])),
    "a3-crop": ("crop start rounded up", _crop_off_by_one),
    "a3-concat": ("x before the skip", lambda c: _concat(c, skip_first=False)),
    "a3-sizes": ("no ValueError for an odd size", lambda c: _unet_size(c, raise_errors=False)),
    "a3-params": ("convolutions keep their bias with batch norm", lambda c: _network(c, bias_with_bn=True)),
    "a3-valid": ("padded convolutions (the output keeps the input's size)", lambda c: _network(c, padded_valid=True)),
    "a3-same": ("batch_norm ignored", lambda c: _network(c, batch_norm_ignored=True)),
    "a3-dice": ("forgot the sigmoid", lambda c: _dice(c, sigmoid=False)),
}

CHECKED = [(a, g) for a in NOTEBOOKS for g in _test_cells(a)]
NOT_TRAINING = [(a, g) for a, g in CHECKED if g not in ("a3-train-80", "a3-train-90")]


# -------------------------------------------------------------------------------------------------- tests
@pytest.mark.parametrize("assignment", list(NOTEBOOKS))
def test_every_test_cell_has_a_check(assignment):
    module = _module(assignment)
    assert set(module.checks) == set(_test_cells(assignment))
    assert module.kernel_torch == (assignment == "a3_unet")


@pytest.mark.parametrize("assignment", list(NOTEBOOKS))
def test_every_hidden_name_exists(assignment):
    """A misspelt name in KERNEL_HIDES would leave the reference visible: the view refuses it, so must this."""
    import importlib

    from coursekit.course.package_view import rewrite_source

    for module_name, names in _module(assignment).kernel_hides.items():
        path = Path(importlib.util.find_spec(module_name).origin)
        rewritten = rewrite_source(path.read_text(), module_name, names)
        for name in names:
            assert f"{module_name}.{name} is not available while grading" in rewritten


@pytest.mark.parametrize("assignment,grade_id", NOT_TRAINING)
def test_reference_scores_full_marks(assignment, grade_id):
    for seed in (0, 1):
        verdict, _ = grade(assignment, grade_id, REFERENCE[assignment][grade_id], seed=seed)
        assert verdict.score == 1.0, verdict.message


@pytest.mark.parametrize("assignment,grade_id", NOT_TRAINING)
def test_a_realistic_bug_loses_points(assignment, grade_id):
    what, buggy = BUGS[grade_id]
    verdict, _ = grade(assignment, grade_id, buggy)
    assert verdict.score < 1.0, f"{grade_id}: '{what}' kept every point: {verdict.message}"
    assert verdict.message


@pytest.mark.parametrize("assignment,grade_id", CHECKED)
def test_raised_missing_and_malformed_answers_score_zero(assignment, grade_id):
    cases, judge = _module(assignment).tests[grade_id](np.random.default_rng(0))
    for answers in ([Raised("RuntimeError", "not finished")] * len(cases), [Missing] * len(cases),
                    [np.array([object(), None], dtype=object)] * len(cases), [np.zeros((1, 7))] * len(cases),
                    [None] * len(cases), ["text"] * len(cases), [{"a": 1}] * len(cases)):
        verdict = judge(answers, {})
        kind = type(answers[0]).__name__
        if grade_id in ("a3-crop", "a3-sizes", "a3-dice") and isinstance(answers[0], Raised):
            # raising everywhere gets the "raises ValueError" share right only if it raised ValueError
            assert verdict.score == 0.0, (kind, verdict.message)
        assert verdict.score == 0.0, (grade_id, kind, verdict.message)
        assert verdict.message


def test_messages_name_the_input_and_the_worst_element():
    verdict, _ = grade("a1_conv_arithmetic", "a1-conv-naive", BUGS["a1-conv-naive"][1])
    assert "conv2d_naive on x of shape" in verdict.message and "relative error" in verdict.message
    verdict, _ = grade("a1_conv_arithmetic", "a1-conv-matmul", BUGS["a1-conv-matmul"][1])
    assert verdict.score == 0.5 and "sample n=" in verdict.message and "(n, i, j)" in verdict.message
    verdict, _ = grade("a1_conv_arithmetic", "a1-conv-size", BUGS["a1-conv-size"][1])
    assert "conv_output_size(32" in verdict.message and "expected 28" in verdict.message


def test_im2col_order_is_checked_beyond_the_first_and_last_columns():
    """Swapping two middle samples keeps the first and last columns right; the check still sees it."""
    def swapped(c):
        if c["fn"] != "im2col":
            return _conv(c)
        x = c["x"].copy()
        if len(x) >= 3:
            x[[0, 1]] = x[[1, 0]]
            cols = _im2col_loops(x, c["kh"], c["kw"], c["stride"], c["padding"])
            per_sample = cols.shape[1] // len(x)
            cols[:, :per_sample], cols[:, -per_sample:] = (
                _im2col_loops(c["x"], c["kh"], c["kw"], c["stride"], c["padding"])[:, :per_sample],
                _im2col_loops(c["x"], c["kh"], c["kw"], c["stride"], c["padding"])[:, -per_sample:])
            return cols
        return _im2col_loops(c["x"], c["kh"], c["kw"], c["stride"], c["padding"])

    scores = {grade("a1_conv_arithmetic", "a1-conv-matmul", swapped, seed=s)[0].score for s in range(6)}
    assert 0.5 in scores  # at least one draw has three samples, and the middle columns are compared


def test_answers_are_converted_to_plain_numbers_first():
    # float32, numpy integers, lists and one-element arrays are numbers; a float that is an exact size is fine
    verdict, _ = grade("a1_conv_arithmetic", "a1-conv-size", lambda c: np.array(
        [REFERENCE["a1_conv_arithmetic"]["a1-conv-size"](c)], dtype=np.int64))
    assert verdict.score == 1.0, verdict.message
    verdict, _ = grade("a1_conv_arithmetic", "a1-conv-naive", lambda c: _conv(c).astype(np.float32).tolist())
    assert verdict.score == 1.0, verdict.message
    verdict, _ = grade("a2_batchnorm", "a2-forward", lambda c: REFERENCE["a2_batchnorm"]["a2-forward"](
        {k: v.astype(np.float32) if isinstance(v, np.ndarray) else v for k, v in c.items()}))
    assert verdict.score == 1.0, verdict.message
    verdict, _ = grade("a1_conv_arithmetic", "a1-conv-size", lambda c: str(
        REFERENCE["a1_conv_arithmetic"]["a1-conv-size"](c)))
    assert verdict.score == 0.0 and "should return a number" in verdict.message


def test_backward_keeps_its_points_after_a_wrong_forward():
    """The backward checks hand in their own cache: a forward mistake never reaches them."""
    _, cases = grade("a2_batchnorm", "a2-graph", REFERENCE["a2_batchnorm"]["a2-graph"])
    for case in cases:
        cache = case["cache"]
        assert set(cache) == {"x", "mu", "var", "eps", "x_hat", "inv_std", "gamma", "training"}
        x = cache["x"]
        mu, var = (x.mean(axis=0), x.var(axis=0)) if cache["training"] else (cache["mu"], cache["var"])
        np.testing.assert_allclose(cache["inv_std"], 1 / np.sqrt(var + cache["eps"]), rtol=1e-12)
        np.testing.assert_allclose(cache["x_hat"], (x - mu) * cache["inv_std"], rtol=1e-9, atol=1e-12)
    # a backward that reads only x, gamma, mu, var and eps (recomputing the rest) is as right as one that reads
    # x_hat and inv_std: the cache format allows both
    def recomputing(c):
        cache = dict(c["cache"])
        inv_std = 1 / np.sqrt(cache["var"] + cache["eps"])
        cache.update(inv_std=inv_std, x_hat=(cache["x"] - cache["mu"]) * inv_std)
        return bn.batchnorm_backward(c["dout"], _bn_inner(cache))

    assert grade("a2_batchnorm", "a2-closed", recomputing)[0].score == 1.0


def test_partial_credit_follows_the_mistake():
    # the closed form without its mean term: dx is wrong, dgamma and dbeta are right
    verdict, _ = grade("a2_batchnorm", "a2-closed", BUGS["a2-closed"][1])
    assert verdict.score == pytest.approx(1 / 3), verdict.message
    # spatial batch norm built on that closed form reshapes correctly: it keeps its points
    def spatial_on_buggy_closed(c):
        if c["fn"] == "closed":
            return _closed_no_mean_term(c["dout"], c["cache"])
        if c["fn"] == "graph":
            raise NotImplementedError
        n, ch, h, w = c["shape"]
        dx, dgamma, dbeta = _closed_no_mean_term(_rows(c["dout"]), c["cache"])
        return dx.reshape(n, h, w, ch).transpose(0, 3, 1, 2), dgamma, dbeta

    # (graded with the whole notebook: the closed form makes the same mistake in its own cell, Part 3)
    from judge_harness import grade_answers

    def notebook(spatial):
        return lambda g, c: (spatial(c) if g == "a2-spatial-backward" else BUGS["a2-closed"][1](c)
                             if g == "a2-closed" else REFERENCE["a2_batchnorm"][g](c))

    verdict = grade_answers("a2_batchnorm", notebook(spatial_on_buggy_closed))["a2-spatial-backward"]
    assert verdict.score == 1.0 and "reshap" in verdict.message and "no mean term" in verdict.message, verdict.message
    # ... not when Part 3's closed form is right (it behaved differently there: nothing to attribute the values to)
    verdict, _ = grade("a2_batchnorm", "a2-spatial-backward", spatial_on_buggy_closed)
    assert verdict.score == 0.5, verdict.message
    # ... and a spatial backward that is wrong on its own does not hide behind a 1-D one that is wrong too
    verdict = grade_answers("a2_batchnorm", notebook(lambda c: (
        (lambda g: (g[0] * 2, g[1], g[2]))(spatial_on_buggy_closed(c)) if c["fn"] == "2d" else
        spatial_on_buggy_closed(c))))["a2-spatial-backward"]
    assert verdict.score == 0.5, verdict.message
    # the running variance alone wrong: half of that cell
    assert grade("a2_batchnorm", "a2-running-stats", BUGS["a2-running-stats"][1])[0].score == 0.5
    # a crop that starts one pixel off: the crop's share lost, the ValueError kept; crop_and_concat built on it
    # keeps its point
    assert grade("a3_unet", "a3-crop", _crop_off_by_one)[0].score == 0.25
    verdict, _ = grade("a3_unet", "a3-concat", lambda c: (
        _crop_off_by_one(c) if c["fn"] == "crop" else
        np.concatenate([_crop_off_by_one({"x": c["skip"], "height": c["x"].shape[2], "width": c["x"].shape[3]}),
                        c["x"]], axis=1)))
    assert verdict.score == 1.0, verdict.message
    # no sigmoid in the Dice loss: value and gradient wrong, the shape check right
    assert grade("a3_unet", "a3-dice", BUGS["a3-dice"][1])[0].score == pytest.approx(1 / 3)


def test_cases_are_plain_data_and_the_same_for_the_same_seed():
    for assignment, grade_id in NOT_TRAINING:
        check_fn = _module(assignment).tests[grade_id]
        first, second = (encode_value(check_fn(np.random.default_rng(7))[0]) for _ in range(2))
        assert first == second, grade_id


def _held_out_masks(seed):
    """The masks the training checks keep to themselves, redrawn here: their first draw is the held-out seed."""
    from coursekit.data import SyntheticMembraneSegmentation

    held_seed = int(np.random.default_rng(seed).integers(10, 2**31))
    data = SyntheticMembraneSegmentation(128, size=64, seed=held_seed)
    return np.stack([data.sample(i)[1] for i in range(128)])[:, None] > 0.5


def _best_threshold(images, masks):
    """The best single brightness threshold, chosen knowing the masks: what no learning at all can reach."""
    candidates = np.quantile(images, np.linspace(0.3, 0.99, 200))
    dice = [2 * np.sum((images > t) & masks) / (np.sum(images > t) + np.sum(masks)) for t in candidates]
    return images > candidates[int(np.argmax(dice))], max(dice)


@pytest.mark.parametrize("grade_id", ["a3-train-80", "a3-train-90"])
def test_training_tiers_are_above_a_brightness_threshold(grade_id):
    """The held-out masks stay in the judge; the true masks earn the tier, the best global brightness threshold
    (chosen knowing the masks) does not, and neither does a sigmoid head (every pixel above 0)."""
    pytest.importorskip("torch")
    seed = 3
    masks = _held_out_masks(seed)
    verdict, cases = grade("a3_unet", grade_id, lambda c: masks, seed=seed)
    assert verdict.score == 1.0, verdict.message
    assert set(cases[0]) == {"images"}  # images only: the masks never travel
    images = cases[0]["images"]
    thresholded, best = _best_threshold(images, masks)
    assert 0.4 < best < 0.6  # the measured 0.49-0.52, far below the lowest tier
    verdict, _ = grade("a3_unet", grade_id, lambda c: thresholded, seed=seed)
    assert verdict.score == 0.0 and "Dice on 128 held-out images" in verdict.message, verdict.message
    verdict, _ = grade("a3_unet", grade_id, lambda c: np.ones_like(masks), seed=seed)
    assert verdict.score == 0.0, verdict.message
    verdict, _ = grade("a3_unet", grade_id, lambda c: masks[:, 0], seed=seed)
    assert verdict.score == 0.0 and "shape" in verdict.message


def test_training_tiers_are_above_a_pipeline_that_does_not_learn():
    """The strongest non-learning segmentation we built in torch ops (course/judges/a3_unet.py's
    non_learning_baseline: 0.63-0.67 on held-out draws) earns neither tier, at least 0.15 below the lowest on every
    draw."""
    import runpy

    pytest.importorskip("torch")
    a3 = runpy.run_path(str(COURSE / "judges" / "a3_unet.py"))
    lowest = min(a3["TIERS"].values())
    for seed in (11, 12345, 777777):
        images, masks = a3["held_out"](seed)
        dice = a3["dice_score"](a3["non_learning_baseline"](images), masks)
        assert 0.6 < dice < lowest - 0.15, (seed, dice)  # it works (far above a threshold's 0.5), and stays far below
        for grade_id in a3["TIERS"]:
            verdict, _ = grade("a3_unet", grade_id, lambda c: a3["non_learning_baseline"](c["images"]), seed=seed)
            assert verdict.score == 0.0, verdict.message


NUMPY_ONLY = ["a1_conv_arithmetic", "a2_batchnorm"]
WITHOUT_TORCH = r"""
import re, sys
class NoTorch:  # import torch fails as it does in the grading kernel, where torch is not installed
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "torch":
            raise ModuleNotFoundError(f"No module named {name!r}")
sys.meta_path.insert(0, NoTorch())
import matplotlib
matplotlib.use("Agg")
import nbformat
namespace = {"__name__": "__main__"}
for cell in nbformat.read(sys.argv[1], as_version=4).cells:
    if cell.cell_type == "code":
        exec(re.sub(r"^[ \t]*### (BEGIN|END) (SOLUTION|HIDDEN TESTS)[ \t]*\n", "", cell.source, flags=re.M), namespace)
assert "torch" not in {name.split(".")[0] for name, module in sys.modules.items() if module is not None}
"""


@pytest.mark.parametrize("assignment", NUMPY_ONLY)
def test_numpy_only_assignments_run_without_torch(assignment, tmp_path):
    """KERNEL_TORCH=False is safe: the whole solution notebook, hidden regions included, runs with torch absent."""
    env = {k: v for k, v in os.environ.items() if k != "COURSEKIT_GRADING_DIR"}
    notebook = ROOT / "solutions" / assignment / f"{NOTEBOOKS[assignment]}.ipynb"
    done = subprocess.run([sys.executable, "-c", WITHOUT_TORCH, str(notebook)], capture_output=True, text=True,
                          timeout=300, cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr[-3000:]


def _made_up_norms(c):
    return list(np.logspace(-8, -1, 12)) if not c["use_batchnorm"] else [1.0] * 12


def test_made_up_experiment_numbers_score_nothing():
    # numbers with the right shape and the right story, but not computed: the grader recomputes the recipe
    made_up = lambda c: _batchnorm_layer(c) if "dout" in c else _made_up_norms(c)  # noqa: E731
    verdict, _ = grade("a2_batchnorm", "a2-experiment", made_up)
    assert verdict.score == 0.0, verdict.message
    # answering the layer probe with anything but the layer's arrays does not unlock a lenient path either
    verdict, _ = grade("a2_batchnorm", "a2-experiment", lambda c: _made_up_norms({"use_batchnorm": "dout" in c}))
    assert verdict.score == 0.0, verdict.message


def test_experiment_after_a_wrong_layer_judges_only_what_it_can():
    # a layer that does not centre, beside Parts 1 and 3 that are right: the grader cannot rebuild the numbers its
    # recipe gives with batch norm, so that half is "could not be judged" (never "the recipe is wrong"); the run
    # without batch norm uses no layer and keeps its half
    def wrong_layer(c):
        x, dout = c["x"], c["dout"]
        out = x / np.sqrt(x.var(axis=0) + 1e-5)
        return out, dout / np.sqrt(x.var(axis=0) + 1e-5)

    verdict, _ = grade("a2_batchnorm", "a2-experiment", lambda c: wrong_layer(c) if "dout" in c else
                       _gradient_norms(c["use_batchnorm"], c["seed"]))
    assert verdict.score == 0.5, verdict.message
    bn_line = next(line for line in verdict.message.splitlines() if line.startswith("with batch norm:"))
    assert "could not be judged" in bn_line and "Part 6 describes" not in bn_line, verdict.message
    # the same made-up numbers beside it earn nothing
    verdict, _ = grade("a2_batchnorm", "a2-experiment", lambda c: wrong_layer(c) if "dout" in c else
                       _made_up_norms(c))
    assert verdict.score == 0.0, verdict.message


# A3's Part 3: the student's network runs with the grader's weights and is checked step by step (its attribute names
# and creation order are its own: _student_unet); each mistake costs what it breaks, and nothing else
NETWORK_MISTAKES = {  # mistake -> (a3-params, a3-valid, a3-same) scores
    "none": ({}, (1.0, 1.0, 1.0)),
    "bias kept with batch norm (zeroed, so the network computes the same)": ({"bias_with_bn": True}, (0.5, 1.0, 1.0)),
    "padding=1 in the 'valid' network": ({"padded_valid": True}, (1.0, 0.0, 1.0)),
    "batch_norm ignored": ({"batch_norm_ignored": True}, (0.5, 1.0, 0.5)),
    "no ReLU after the first convolution": ({"no_inner_relu": True}, (0.0, 0.0, 0.0)),
    "sigmoid after the head": ({"sigmoid_head": True}, (1.0, 1.0, 0.75)),
    "up-sampled map joined before the skip": ({"x_first": True}, (0.0, 0.0, 0.0)),
    "skips detached from the graph": ({"detached_skips": True}, (1.0, 1.0, 0.875)),
}


@pytest.mark.parametrize("mistake", list(NETWORK_MISTAKES))
def test_a3_network_scores_follow_the_mistake(mistake):
    kwargs, expected = NETWORK_MISTAKES[mistake]
    for grade_id, want in zip(("a3-params", "a3-valid", "a3-same"), expected):
        verdict, _ = grade("a3_unet", grade_id, lambda c: _network(c, **kwargs), seed=5)
        assert verdict.score == want, (grade_id, verdict.message)


def test_a3_a_layer_applied_functionally_is_named_not_called_none():
    """The head's weights used in F.conv2d: the kernel never sees the layer called, and the message says so (it
    used to read "got None (did the function return its result?)")."""
    for grade_id in ("a3-params", "a3-valid", "a3-same"):
        verdict, _ = grade("a3_unet", grade_id, lambda c: _network(c, functional_head=True), seed=5)
        assert verdict.score == 0.0, (grade_id, verdict.message)
        assert "never called as a layer" in verdict.message and "got None" not in verdict.message, verdict.message
        assert "call the layer itself" in verdict.message, verdict.message


def test_a3_forged_trace_scores_nothing():
    """Every layer's output computed from the grader's weights, on inputs of the right shapes, and the parameter
    count by arithmetic: a consistent trace of layers, but not a run of a network from the secret input."""
    import runpy

    source = runpy.run_path(str(COURSE / "hostile_submissions.py"))["FORGES_NETWORK"]
    namespace: dict = {}
    exec(compile(source, "forges_network", "exec"), namespace)  # defines the forger; FORGED_WRITER would install it
    for grade_id in ("a3-params", "a3-valid", "a3-same"):
        verdict, _ = grade("a3_unet", grade_id, namespace["_network"], seed=2)
        assert verdict.score == 0.0, (grade_id, verdict.message)


def test_run_with_weights_says_why_the_layers_do_not_fit():
    torch = _torch()
    from coursekit import grading

    layers = [{"type": "Conv2d", "weight": np.zeros((4, 1, 3, 3)), "bias": np.zeros(4)}]
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 5, 3))
    got = grading.run_with_weights(model, np.zeros((1, 1, 5, 5)), layers)
    assert "weight of shape (5, 1, 3, 3), expected (4, 1, 3, 3)" in got["problem"]
    got = grading.run_with_weights(torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.Conv2d(4, 4, 1)),
                                   np.zeros((1, 1, 5, 5)), layers)
    assert "2 layers with parameters, expected 1" in got["problem"]
