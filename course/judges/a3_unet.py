"""Checks of Assignment 3, UNet segmentation: the grader's side of every test cell.

Expected values are computed here, in the grader's process: crops, joins and sizes directly; the network (Part 3)
by running the grader's weights through coursekit's UNet and checking, step by step, the trace of the student's
network run with the same weights in the kernel; Dice with coursekit's NumPy Dice loss. For the training tiers the
kernel gets held-out images, drawn with a seed from the grader's secret generator, and returns its segmentation;
the masks stay here and the Dice is computed here.

The tiers. The held-out images show membrane-stained cells (SyntheticMembraneSegmentation): rims with gaps around
a faint interior, beside dead cells stained all through, fibres and debris, on a lit and textured background. The
best single brightness threshold, chosen with the held-out masks themselves, reaches a Dice of 0.49-0.52 on them, and
the best pipeline without learning we could build in torch ops (non_learning_baseline: a top-hat, a threshold, the
rims closed and filled, an opening; the best of 12,600) 0.63-0.67, so the lowest tier sits 0.18 above it at 0.85 and
a method that does not learn scores nothing for training. The reference recipe (the solution's UNet, base 16, depth
3, 15 epochs, 71 CPU s on one thread) reached 0.916-0.930 on twelve held-out draws, so the upper tier sits at 0.88,
at least 0.036 below it; the `undertrained` sample (a tiny UNet, 2 epochs) reached 0.59-0.64 on six draws (0.67 in
the graded sample) and earns neither (measured on a 2-core AMD EPYC; see tests/test_checks.py).
"""

from __future__ import annotations

import numpy as np
import torch

from coursekit.course.judging import NOT_RUN, Missing, Raised, Verdict, compare, hidden_test
from coursekit.course.judging import first_problem as _first
from coursekit.course.judging import score_parts as _score
from coursekit.course.judging import unusable as _unusable  # shared helpers under the names used below
from coursekit.data import SyntheticMembraneSegmentation
from coursekit.grading import layers_in_call_order, load_layers
from coursekit.models import UNet as ReferenceUNet
from coursekit.nn.functional.losses import dice_loss

KERNEL_HIDES = {
    "coursekit.models.unet": ["center_crop", "Up", "UNet"],
    "coursekit.models.blocks": ["DoubleConv"],
    "coursekit.nn.functional.skip": ["center_crop", "crop_and_concat_forward", "crop_and_concat_backward",
                                     "_crop_box"],
    "coursekit.metrics": ["dice_score", "iou", "dice_from_logits", "_masks"],
    "coursekit.nn.functional.losses": ["dice_loss"],
}
# libraries that would do the graded work for the student (scipy.signal.correlate for the naive convolution,
# scikit-image's local thresholds for the segmentation): absent from the kernel, like torch in a NumPy assignment
KERNEL_EXCLUDES = ["scipy", "skimage", "sklearn"]
KERNEL_TORCH = True  # the assignment builds on torch.nn
# what the kernel may import (with ipykernel, coursekit and what they need); nothing else installed is there
KERNEL_PACKAGES = ["numpy", "matplotlib", "tqdm", "torch"]

TIERS = {"a3-train-80": 0.85, "a3-train-90": 0.88}  # grade ids keep their first tiers' names
HELD_OUT_IMAGES = 128


def _raises_value_error(got, what: str) -> str | None:
    if got is Missing:
        return f"{what}: {NOT_RUN}"
    if isinstance(got, Raised):
        return None if got.type == "ValueError" else f"{what} raised {got.type}, expected ValueError"
    return f"{what} should raise ValueError, but it returned a result"


def _crop(x, height, width):
    top, left = (x.shape[-2] - height) // 2, (x.shape[-1] - width) // 2
    return x[..., top: top + height, left: left + width]


# -------------------------------------------------------------------------------- Part 1: the skip connection
@hidden_test("a3-crop")
def crop(rng):
    cases = [{"x": np.arange(2 * 1 * 5 * 6, dtype=np.float32).reshape(2, 1, 5, 6), "height": 3, "width": 2}]
    for _ in range(12):
        n, c = int(rng.integers(1, 4)), int(rng.integers(1, 5))
        hs, ws = int(rng.integers(1, 30)), int(rng.integers(1, 30))
        cases.append({"x": rng.standard_normal((n, c, hs, ws)), "height": int(rng.integers(1, hs + 1)),
                      "width": int(rng.integers(1, ws + 1))})
    too_big = [{"x": np.zeros((1, 1, 4, 4)), "height": 5, "width": 4}]
    hs, ws = int(rng.integers(2, 20)), int(rng.integers(2, 20))
    too_big.append({"x": rng.standard_normal((1, 2, hs, ws)), "height": hs - 1, "width": ws + int(rng.integers(1, 4))})
    for case in too_big:
        case["error"] = True
    cases += too_big

    def judge(answers, records):
        crop_problems, error_problems = [], []
        for case, got in zip(cases, answers):
            x, h, w = case["x"], case["height"], case["width"]
            what = f"center_crop of a {x.shape[2]}x{x.shape[3]} map to {h}x{w}"
            if case.get("error"):
                error_problems.append(_raises_value_error(got, what))
                continue
            problem = _unusable(got, what) or compare(got, _crop(x, h, w), what, rtol=0, atol=0)
            if problem and _unusable(got, what) is None:
                problem += (f". The crop should start at row {(x.shape[2] - h) // 2} and column "
                            f"{(x.shape[3] - w) // 2}")
            crop_problems.append(problem)
        return _score([(0.75, "the crop", _first(crop_problems)),
                       (0.25, "ValueError for a map smaller than the crop", _first(error_problems))])

    return cases, judge


@hidden_test("a3-concat")
def concat(rng):
    pairs = [(np.ones((1, 2, 6, 6)), np.zeros((1, 3, 4, 4)))]
    for _ in range(6):
        n, cs, c = int(rng.integers(1, 3)), int(rng.integers(1, 5)), int(rng.integers(1, 5))
        h, w = int(rng.integers(1, 12)), int(rng.integers(1, 12))
        hs, ws = h + int(rng.integers(0, 9)), w + int(rng.integers(0, 9))
        pairs.append((rng.standard_normal((n, cs, hs, ws)), rng.standard_normal((n, c, h, w))))
    cases = []
    for skip, x in pairs:
        cases.append({"fn": "concat", "skip": skip, "x": x})
        # the student's own center_crop on the same skip: a crop mistake is graded once, in a3-crop
        cases.append({"fn": "crop", "x": skip, "height": x.shape[2], "width": x.shape[3]})

    def judge(answers, records):
        problems, own_crop_used = [], False
        for k, (skip, x) in enumerate(pairs):
            got, own = answers[2 * k], answers[2 * k + 1]
            what = f"crop_and_concat of shapes {skip.shape} and {x.shape}"
            want = np.concatenate([_crop(skip, x.shape[2], x.shape[3]), x], axis=1)
            problem = _unusable(got, what) or compare(got, want, what, rtol=0, atol=0)
            if problem and _unusable(own, "") is None and np.shape(own) == want[:, :skip.shape[1]].shape:
                own_want = np.concatenate([np.asarray(own, dtype=np.float64), x], axis=1) \
                    if np.asarray(own).dtype.kind in "biuf" else None
                if (own_want is not None and compare(own, want[:, :skip.shape[1]], "", rtol=0, atol=0)
                        and compare(got, own_want, "", rtol=0, atol=0) is None):
                    problem, own_crop_used = None, True
            if problem and _unusable(got, what) is None:
                problem += ". The cropped skip comes first, then x, along dim 1"
            problems.append(problem)
        problem = _first(problems)
        if problem:
            return Verdict(0.0, problem)
        if own_crop_used:
            return Verdict(1.0, "crop_and_concat joins the maps correctly; its values differ only where your "
                                "center_crop does (graded in the test above)")
        return Verdict(1.0, f"all {len(pairs)} joins match")

    return cases, judge


# ---------------------------------------------------------------------------------------- Part 2: sizes
def unpadded_output_size(n: int, depth: int) -> int | None:
    """The unpadded UNet's output size for input size n, or None where a pool meets an odd size or a size
    drops below 1 (the notebook's Part 2, followed level by level)."""
    for _ in range(depth):
        n -= 4
        if n < 2 or n % 2:
            return None
        n //= 2
    n -= 4
    if n < 1:
        return None
    for _ in range(depth):
        n = 2 * n - 4
        if n < 1:
            return None
    return n


@hidden_test("a3-sizes")
def sizes(rng):
    cases = [{"n": 572, "depth": 4}]
    invalid = [{"n": 570, "depth": 4}, {"n": 100, "depth": 4}, {"n": 10, "depth": 2}]
    while len(cases) < 16 or len(invalid) < 6:
        case = {"n": int(rng.integers(8, 700)), "depth": int(rng.integers(1, 6))}
        if unpadded_output_size(case["n"], case["depth"]) is not None:
            if len(cases) < 16:
                cases.append(case)
        elif len(invalid) < 6:
            invalid.append(case)
    cases += [dict(c, error=True) for c in invalid]

    def judge(answers, records):
        size_problems, error_problems = [], []
        for case, got in zip(cases, answers):
            what = f"unet_output_size({case['n']}, depth={case['depth']})"
            if case.get("error"):
                error_problems.append(_raises_value_error(got, what))
                continue
            want = unpadded_output_size(case["n"], case["depth"])
            problem = _unusable(got, what)
            if problem is None and (isinstance(got, bool) or not isinstance(got, (int, float))):
                problem = f"{what} should return a number, got {type(got).__name__}"
            if problem is None and float(got) != want:
                problem = f"{what} returned {got!r}, expected {want}"
            size_problems.append(problem)
        return _score([(0.75, "output sizes", _first(size_problems)),
                       (0.25, "ValueError for an odd size before a pool or a size below 1", _first(error_problems))])

    return cases, judge


# -------------------------------------------------------------------------------------- Part 3: the network
# The student's UNet runs in the kernel with weights the grader drew, on the grader's secret input, and sends back
# what every layer received and gave (grading.run_with_weights). Here the same weights go into coursekit's UNet,
# and the trace is checked step by step: each layer's input must be what the specification makes of the earlier
# layers' outputs (the wiring), and each layer's output what that layer makes of its input. A correct trace is a
# run of the specified network from the secret input to the output, so none of it can be written down without
# computing the network; and the first step that differs tells the student where their network departs.
# The student's crop_and_concat is swapped for a correct one while Part 3 runs (in the hidden test), so that a crop
# mistake costs its points once, in Part 1.
FORWARD_TOLERANCE = {"rtol": 1e-5, "atol": 1e-7}  # float64 both sides; the room is for a float32 step


def _reference_model(case):
    return ReferenceUNet(case["in_channels"], case["out_channels"], base_channels=case["base_channels"],
                         depth=case["depth"], padding=case["padding"],
                         batch_norm=case["batch_norm"]).double()


def _draw_layers(case, rng) -> list:
    """The grader's weights for every layer of the specified network, in the order its forward pass uses them:
    scaled so that activations stay of order one through the depth, biases and batch-norm statistics nonzero."""
    model = _reference_model(case)
    layers = []
    for module in layers_in_call_order(model.eval(), torch.from_numpy(case["x"])):
        kind = type(module).__name__
        layer = {"type": kind}
        if kind == "BatchNorm2d":
            c = module.num_features
            layer.update(weight=rng.uniform(0.5, 1.5, c), bias=rng.normal(0, 0.2, c),
                         running_mean=rng.normal(0, 0.2, c), running_var=rng.uniform(0.5, 2.0, c))
        else:
            shape = tuple(module.weight.shape)
            fan_in = shape[1] * shape[2] * shape[3] if kind == "Conv2d" else shape[0]
            layer["weight"] = rng.normal(0, np.sqrt(2.0 / fan_in), shape)
            layer["bias"] = None if module.bias is None else rng.normal(0, 0.1, module.bias.shape)
        layers.append(layer)
    return layers


def _loaded_reference(case):
    model = _reference_model(case)
    modules = layers_in_call_order(model.eval(), torch.from_numpy(case["x"]))
    load_layers(modules, case["layers"])
    return model.train(bool(case["train"])), modules


def _layer_names(model, modules, depth, batch_norm) -> list:
    """Each layer in the assignment's words: 'encoder level 1, 2nd 3x3 convolution', 'the 1x1 head', ..."""
    qualified = {id(m): name for name, m in model.named_modules()}
    per_conv = 3 if batch_norm else 2  # Conv2d, [BatchNorm2d], ReLU in the reference's Sequential
    described = []
    for module in modules:
        parts = qualified[id(module)].split(".")  # encoder.1.block.3, bottleneck.block.0, decoder.0.up, head
        if parts[0] == "head":
            described.append("the 1x1 head")
            continue
        place = ("the bottom" if parts[0] == "bottleneck" else f"encoder level {parts[1]}" if parts[0] == "encoder"
                 else f"decoder level {depth - 1 - int(parts[1])}")
        if parts[-1] == "up":
            described.append(f"{place}, the 2x2 up-convolution")
            continue
        which = "1st" if int(parts[-1]) < per_conv else "2nd"
        described.append(f"{place}, the BatchNorm2d after its {which} convolution"
                         if isinstance(module, torch.nn.BatchNorm2d) else f"{place}, {which} 3x3 convolution")
    return described


def _trace_problems(case, got, what) -> dict:
    """The trace of the student's network checked against the specification, step by step.

    Returns {"build": problem or None (the layers do not take the grader's weights, or no trace came back),
    "forward": the first step where the wiring or a layer departs (None when the whole run up to the last layer
    is the specified one), "output": problem when something is applied after the 1x1 head, "gradients": problem
    with the gradients (only where the forward pass is right), "parameters": the count the model reported}."""
    result = {"build": None, "forward": None, "output": None, "gradients": None, "parameters": None}
    problem = _unusable(got, what)
    if problem is None and not (isinstance(got, dict) and ("problem" in got or
                                                           {"inputs", "outputs", "out"} <= set(got))):
        problem = f"{what}: the test could not read the result"
    if problem is None and "problem" in got:
        problem = (f"{what}: the grader's weights do not fit your layers ({got['problem']!s:.300}). The test "
                   "loads its own weights into every 3x3 convolution, BatchNorm2d, up-convolution and the head, so "
                   "their number, order and shapes must be those of the specification")
    if problem:
        return dict(result, build=problem, forward=problem, output=problem, gradients=problem)
    result["parameters"] = got.get("parameters")
    model, modules = _loaded_reference(case)
    names = _layer_names(model, modules, case["depth"], case["batch_norm"])
    inputs, outputs = got["inputs"], got["outputs"]
    if not (isinstance(inputs, list) and isinstance(outputs, list) and len(inputs) == len(outputs) == len(modules)):
        problem = f"{what}: the test could not read the layers' inputs and outputs"
        return dict(result, build=problem, forward=problem, output=problem, gradients=problem)

    captured = [None] * len(modules)
    index = {id(m): k for k, m in enumerate(modules)}

    def capture(module, args):  # the input the specification gives this layer, from the student's earlier outputs
        k = index[id(module)]
        if captured[k] is None:
            captured[k] = args[0].detach().clone()

    def replace(module, args, output):  # from here on the student's own output of this layer
        k = index[id(module)]
        try:
            value = torch.as_tensor(np.asarray(outputs[k], dtype=np.float64)).clone()
        except (TypeError, ValueError):
            return None
        return value if value.shape == output.shape else None

    handles = [m.register_forward_pre_hook(capture) for m in modules]
    handles += [m.register_forward_hook(replace) for m in modules]
    try:
        with torch.no_grad():
            wired_out = model(torch.from_numpy(case["x"]))
    except RuntimeError:  # a layer output of the wrong shape broke the specified wiring
        wired_out = None
    finally:
        for handle in handles:
            handle.remove()

    forward = None
    for k, module in enumerate(modules):
        if captured[k] is None:
            forward = f"{what}: {names[k]} could not be reached with your layers' outputs"
            break
        if inputs[k] is None and outputs[k] is None:
            # the kernel records a layer when the layer object is called; nothing came back for this one
            forward = (f"{what}: {names[k]} was never called as a layer in your forward pass (its weights used in a "
                       "functional call, e.g. F.conv2d(x, layer.weight), are not seen: call the layer itself)")
            break
        forward = compare(inputs[k], captured[k].numpy(), f"{what}: the input of {names[k]}", **FORWARD_TOLERANCE)
        if forward:
            forward += (" (the first layer receives the network's input as it is)" if k == 0 else
                        " (it should come from the layers before it as the specification wires them: ReLU after "
                        "each convolution or BatchNorm2d, 2x2 max pool, the encoder map joined first)")
            break
        with torch.no_grad():
            want = module(torch.as_tensor(np.asarray(inputs[k], dtype=np.float64)))
        forward = compare(outputs[k], want.numpy(), f"{what}: the output of {names[k]} on its input",
                          **FORWARD_TOLERANCE)
        if forward:
            forward += (" (check its padding, stride and bias" +
                        (", and that batch norm uses the batch's statistics in training mode and the running ones "
                         "in eval mode)" if type(module).__name__ == "BatchNorm2d" else ")"))
            break
    result["forward"] = forward
    if wired_out is None:
        result["output"] = forward or f"{what}: the output could not be checked"
    else:
        result["output"] = compare(got["out"], wired_out.numpy(), f"{what}: the network's output",
                                   **FORWARD_TOLERANCE)
        if result["output"]:
            result["output"] += " (it should be the 1x1 head's output itself: logits, nothing applied after)"
    if "grad_output" in case:
        if forward or result["output"]:
            result["gradients"] = "not checked, since the forward pass differs (above)"
        else:
            model.zero_grad()
            x = torch.from_numpy(case["x"]).requires_grad_(True)
            (model(x) * torch.from_numpy(case["grad_output"])).sum().backward()
            problems = [compare(got.get("grad_x"), x.grad.numpy(), f"{what}: the gradient of the input",
                                **FORWARD_TOLERANCE)]
            grads = got.get("grads")
            if not (isinstance(grads, list) and len(grads) == len(modules)):
                problems.append(f"{what}: the test could not read the parameters' gradients")
            else:
                for k, (module, layer, found) in enumerate(zip(modules, case["layers"], grads)):
                    names_sent = [n for n in ("weight", "bias") if layer.get(n) is not None]
                    if not isinstance(found, list) or len(found) != len(names_sent):
                        problems.append(f"{what}: the test could not read the gradients of {names[k]}")
                        continue
                    for name, value in zip(names_sent, found):
                        if value is None:
                            problems.append(f"{what}: the {name} of {names[k]} got no gradient; is it on the path "
                                            "from the input to the output?")
                        else:
                            problems.append(compare(value, getattr(module, name).grad.numpy(),
                                                    f"{what}: the gradient of the {name} of {names[k]}",
                                                    **FORWARD_TOLERANCE))
            result["gradients"] = _first(problems)
    return result


def _describe_case(case) -> str:
    return (f"UNet({case['in_channels']}, {case['out_channels']}, base_channels={case['base_channels']}, "
            f"depth={case['depth']}, padding={case['padding']!r}, batch_norm={case['batch_norm']}) in "
            f"{'training' if case['train'] else 'eval'} mode on a {case['x'].shape[2]}x{case['x'].shape[3]} input")


def _network_case(rng, *, padding, batch_norm, depth, size, base_channels, batch=2, train=False, gradients=False):
    c_in, c_out = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    case = {"in_channels": c_in, "out_channels": c_out, "base_channels": base_channels, "depth": depth,
            "padding": padding, "batch_norm": batch_norm, "train": train,
            "x": rng.standard_normal((batch, c_in) + tuple(size))}
    case["layers"] = _draw_layers(case, rng)
    if gradients:
        with torch.device("meta"):
            out_shape = ReferenceUNet(c_in, c_out, base_channels=base_channels, depth=depth, padding=padding,
                                      batch_norm=batch_norm)(torch.empty(case["x"].shape)).shape
        case["grad_output"] = rng.standard_normal(tuple(out_shape))
    return case


def _same_size(rng, depth):
    return tuple(2 ** depth * int(v) for v in rng.integers(1, 4, 2))


@hidden_test("a3-params")
def params(rng):
    cases = []
    for batch_norm in (False, True, False, True):
        depth = int(rng.integers(1, 4))
        cases.append(_network_case(rng, padding="same", batch_norm=batch_norm, depth=depth,
                                   size=_same_size(rng, depth), base_channels=int(rng.integers(2, 7))))
    expected = []
    for c in cases:
        with torch.device("meta"):
            expected.append(sum(p.numel() for p in _reference_model(c).parameters()))

    def judge(answers, records):
        problems = {False: [], True: []}
        for case, got, want in zip(cases, answers, expected):
            what = _describe_case(case)
            trace = _trace_problems(case, got, what)
            count = trace["parameters"]
            problem = trace["build"]
            if problem is None and (isinstance(count, bool) or not isinstance(count, int) or count != want):
                problem = f"{what}: {count!r:.20} parameters, expected {want:,}"
                if case["batch_norm"]:
                    problem += (" (with batch_norm=True the 3x3 convolutions have no bias and each BatchNorm2d has "
                                "2 parameters per channel)")
            if problem is None and trace["forward"]:
                problem = ("the parameters are credited where the network runs with them, and here it does not: "
                           + trace["forward"])
            problems[case["batch_norm"]].append(problem)
        return _score([(0.5, "without batch norm", _first(problems[False])),
                       (0.5, "with batch norm", _first(problems[True]))])

    return cases, judge


@hidden_test("a3-valid")
def valid(rng):
    cases = []
    for depth in (1, 2, 3, 4):
        bottom = 4 if depth == 4 else int(rng.integers(4, 8))  # 2 * bottom - 4 >= bottom: every level has output
        size = bottom + 4  # grown from the bottom up, so that every pool halves an even size
        for _ in range(depth):
            size = 2 * size + 4
        cases.append(_network_case(rng, padding="valid", batch_norm=False, depth=depth, size=(size, size),
                                   base_channels=2 if depth == 4 else 4, batch=1 if depth == 4 else 2))

    def judge(answers, records):
        problems = []
        for case, got in zip(cases, answers):
            trace = _trace_problems(case, got, _describe_case(case))
            problems.append(trace["forward"])
        problem = _first(problems)
        return (Verdict(0.0, problem) if problem else
                Verdict(1.0, f"all {len(cases)} unpadded networks run as specified, crops included"))

    return cases, judge


@hidden_test("a3-same")
def same(rng):
    cases = []
    for batch_norm in (False, True, False, True):
        depth = int(rng.integers(1, 4))
        cases.append(_network_case(rng, padding="same", batch_norm=batch_norm, depth=depth,
                                   size=_same_size(rng, depth), base_channels=4, train=True, gradients=True))

    def judge(answers, records):
        forward, output, gradients, norms = [], [], [], []
        for case, got in zip(cases, answers):
            trace = _trace_problems(case, got, _describe_case(case))
            (norms if case["batch_norm"] else forward).append(trace["forward"])
            output.append(trace["output"] if trace["forward"] is None else
                          "not checked, since the forward pass differs (above)")
            gradients.append(trace["gradients"])
        return _score([(0.5, "the forward pass", _first(forward)),
                       (0.25, "batch norm in training mode", _first(norms)),
                       (0.125, "the output is the head's logits", _first(output)),
                       (0.125, "the gradients", _first(gradients))])

    return cases, judge


# ------------------------------------------------------------------------------------------ Part 4: Dice loss
@hidden_test("a3-dice")
def dice(rng):
    cases = [{"logits": np.array([[0.0, 0.0]]), "target": np.array([[1.0, 0.0]]), "eps": 1.0}]
    for _ in range(8):
        shape = tuple(int(v) for v in rng.integers(1, 6, size=int(rng.integers(2, 5))))
        cases.append({"logits": rng.standard_normal(shape) * 3, "target": (rng.random(shape) < 0.3).astype(np.float64),
                      "eps": float(rng.choice([1.0, 1e-3, 0.5]))})
    mismatched = {"logits": np.zeros((2, 1, 4, 4)), "target": np.zeros((2, 4, 4)), "eps": 1.0, "error": True}
    cases.append(mismatched)
    expected = [None if c.get("error") else dice_loss(c["logits"], c["target"], c["eps"]) for c in cases]

    def judge(answers, records):
        value_problems, gradient_problems = [], []
        for case, got, want in zip(cases, answers, expected):
            if case.get("error"):
                continue
            what = f"soft_dice_loss on shape {case['logits'].shape} with eps={case['eps']}"
            problem = _unusable(got, what)
            if problem is None and (not isinstance(got, (tuple, list)) or len(got) != 2):
                problem = f"{what}: the test could not read the loss and its gradient"
            if problem:
                value_problems.append(problem)
                gradient_problems.append(problem)
                continue
            loss, grad = got
            if isinstance(loss, np.ndarray) and loss.size == 1:  # a one-element loss is a loss
                loss = loss.reshape(())
            problem = compare(loss, want[0], what, rtol=1e-6, atol=1e-9)
            value_problems.append(problem and problem + " (the sums run over the whole batch, and p is the sigmoid "
                                                        "of the logits)")
            if isinstance(grad, str):
                gradient_problems.append(f"autograd could not differentiate {what}: {grad:.200} (compute the loss "
                                         "with torch operations)")
            elif grad is None:
                gradient_problems.append(f"autograd found no gradient for {what} (compute the loss with torch "
                                         "operations on the logits)")
            else:
                gradient_problems.append(compare(grad, want[1], f"gradient of {what}", rtol=1e-5, atol=1e-9))
        error = _raises_value_error(answers[cases.index(mismatched)],
                                    "soft_dice_loss for logits (2, 1, 4, 4) and target (2, 4, 4)")
        return _score([(1 / 3, "loss value", _first(value_problems)),
                       (1 / 3, "its gradient", _first(gradient_problems)),
                       (1 / 3, "ValueError for shapes that differ", error)])

    return cases, judge


# ----------------------------------------------------------------------------------------- Part 5: training
def held_out(seed: int, n: int = HELD_OUT_IMAGES):
    data = SyntheticMembraneSegmentation(n, size=64, seed=seed)
    images = np.stack([data.sample(i)[0] for i in range(n)])[:, None]    # N,1,64,64 float32
    masks = np.stack([data.sample(i)[1] for i in range(n)])[:, None] > 0.5
    return images, masks


def non_learning_baseline(images: np.ndarray) -> np.ndarray:
    """The strongest segmentation without learning that we know, in torch ops only (what a kernel without
    scikit-image or scipy can build): a 3x3 mean filter, a white top-hat (the image less its 15x15 opening) that
    takes away the uneven, textured background, a fixed threshold, a 7x7 closing that bridges the gaps in the rims,
    the holes filled (what the border cannot reach through the background), and a 5x5 opening against fibres and
    debris. Its settings were the best of a grid of 12,600 pipelines on the notebook's validation images (seed 1,
    128 of them): 1/3/5 smoothing; no background removal, a plane, a quadratic surface, a 15/31 local mean, a top-hat
    or a local standard deviation; ten thresholds; 1/3/5/7 closings; no filling, filling, or keeping only the cells
    that have a hole; 1/3/5 openings. It reaches a Dice of 0.63-0.67 on held-out draws, and none of the 30 best
    settings on validation does better on them; the best single threshold, chosen knowing the masks, 0.49-0.52
    (benchmarks/a3_margins.py measures all three). The training tiers sit
    far above it, so a submission that does not learn scores nothing there."""
    from torch.nn import functional as F

    def erode(m, k):
        return -F.max_pool2d(-m, k, 1, k // 2)

    def dilate(m, k):
        return F.max_pool2d(m, k, 1, k // 2)

    x = torch.from_numpy(np.asarray(images, dtype=np.float32))
    x = F.avg_pool2d(F.pad(x, [1, 1, 1, 1], mode="replicate"), 3, 1)
    mask = (x - dilate(erode(x, 15), 15) > 0.142).float()
    mask = erode(dilate(mask, 7), 7)                       # closing: the rims' gaps bridged
    background = 1 - mask
    reached = torch.zeros_like(mask)                       # background the border reaches; the rest are holes
    reached[..., 0, :] = reached[..., -1, :] = reached[..., :, 0] = reached[..., :, -1] = 1
    reached *= background
    while True:
        grown = dilate(reached, 3) * background
        if torch.equal(grown, reached):
            break
        reached = grown
    mask = dilate(erode(1 - reached, 5), 5)                # opening: fibres and debris removed
    return mask.numpy() > 0.5


def dice_score(pred, masks) -> float:
    total = pred.sum() + masks.sum()
    return 1.0 if total == 0 else float(2 * np.logical_and(pred, masks).sum() / total)


def _training_check(grade_id: str):
    tier = TIERS[grade_id]

    def training(rng):
        # a fresh held-out draw per student and cell; seeds below 10 are the notebook's own data
        images, masks = held_out(int(rng.integers(10, 2**31)))

        def judge(answers, records):
            got = answers[0]
            what = f"the segmentation of {len(images)} held-out images"
            problem = _unusable(got, what)
            if problem:
                if isinstance(got, Raised) and got.type == "NameError":
                    problem += " (the training cell did not define unet)"
                return Verdict(0.0, problem)
            pred = np.asarray(got) if isinstance(got, np.ndarray) else None
            if pred is None or pred.dtype.kind not in "biuf":
                return Verdict(0.0, f"{what} should be an array of booleans (logits > 0)")
            if pred.shape != masks.shape:
                return Verdict(0.0, f"{what} has shape {pred.shape}, the masks {masks.shape}")
            score = dice_score(pred.astype(bool), masks)
            message = f"Dice on {len(images)} held-out images: {score:.3f} (this test needs at least {tier:g})"
            if score < tier:
                hint = ("train longer, or check the loss and that the model returns logits (no sigmoid at the end)"
                        if score < TIERS["a3-train-80"] else "")
                return Verdict(0.0, message + (f": {hint}" if hint else ""))
            return Verdict(1.0, message)

        return [{"images": images}], judge

    return training


train_low = hidden_test("a3-train-80")(_training_check("a3-train-80"))
train_high = hidden_test("a3-train-90")(_training_check("a3-train-90"))
