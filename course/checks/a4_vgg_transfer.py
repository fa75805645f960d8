"""Checks of Assignment 4, VGG transfer learning: the grader's side of every test cell.

Inputs are drawn here from the grader's secret generator (random shapes, random VGG configurations, random draws
of labelled digits) and the expectations are computed here, in the grader's process, with coursekit's own Caffe
preprocessing and pooled features, which KERNEL_HIDES strips from the kernel's view of the package. The experiment's
held-out digits go to the kernel as images only: their labels stay in the judges' closures, and the kernel returns
predictions that are scored here.

Thresholds of the experiment (held-out accuracy on 1,000 digits of the test split) come from measurement: over 4
draws of labelled and held-out digits the reference solution reached 0.853-0.894 / 0.924-0.934 / 0.945-0.960 with
5 / 10 / 30 labels per class; the same probe on random weights 0.679-0.733 / 0.782-0.829 / 0.864-0.889, a small CNN
from scratch 0.669-0.743 / 0.804-0.834 / 0.880-0.915. Preprocessing without the mean or in RGB order changes the
pretrained probe's accuracy by at most 0.03 on grey digits (0.823-0.892 at 5 labels), so Part 2 prices those
mistakes and Part 7 does not price them twice.
"""

from __future__ import annotations

import numpy as np

from coursekit.course.checks import NOT_RUN, Missing, Raised, Verdict, check, compare
from coursekit.course.checks import unusable as _problem  # shared helpers under the names used below

KERNEL_HIDES = {
    # the library's answers to Parts 2 and 4: Caffe preprocessing and average+max pooled CNN codes
    "coursekit.models.vgg": ["caffe_preprocess", "pooled_features"],
}
KERNEL_TORCH = True  # the assignment is built on PyTorch's layers

MEAN_BGR = np.array([103.939, 116.779, 123.68])

# held-out accuracy thresholds of Part 7 (fractions of the cell's 6 points in brackets)
PRETRAINED_MIN = {5: 0.80, 10: 0.87, 30: 0.92}          # [2/6, 1/6, 1/6]
MARGIN_OVER_RANDOM = 0.05                               # at 5 and 10 labels [1/6] ...
RANDOM_CONTROL_MIN = 0.70                               # ... with a control that really learned (at 30 labels)
SCRATCH_MIN = 0.60                                      # at 30 labels [1/6]
HELD_OUT = 1000


def _as_dict(got, keys, what: str):
    problem = _problem(got, what)
    if problem:
        return None, problem
    if not isinstance(got, dict) or not all(k in got for k in keys):
        return None, f"{what}: the test could not read the result ({type(got).__name__})"
    return got, None


# ------------------------------------------------------------------------------------------------ Part 1
ACCEPTED = {"small-similar": {"linear-top"}, "small-different": {"linear-earlier"},
            "large-similar": {"fine-tune-top"}, "large-different": {"fine-tune-more", "scratch"}}
REASON = {"small-similar": "few labels and similar images: only a linear classifier on the top features learns",
          "small-different": "few labels but different images: the top features are too specific to the source, "
                             "so take a linear classifier on an earlier layer's features",
          "large-similar": "many labels and similar images: fine-tune the top block(s)",
          "large-different": "many labels and different images: fine-tune more of the network (or from scratch)"}


@check("a4-strategy")
def strategy(rng):
    def judge(answers, records) -> Verdict:
        got = records.get("strategy", Missing)
        if got is Missing or not isinstance(got, dict):
            return Verdict(0.0, f"STRATEGY: {NOT_RUN}")
        wrong = [key for key, accepted in ACCEPTED.items() if got.get(key) not in accepted]
        if not wrong:
            return Verdict(1.0, "all four situations have the right strategy")
        return Verdict((4 - len(wrong)) / 4, "; ".join(f"{key}: {REASON[key]}" for key in wrong))

    return [], judge


# ------------------------------------------------------------------------------------------------ Part 2
def _candidate(images: np.ndarray, size: int, flip: bool, mean: str, scale: float) -> np.ndarray:
    """preprocess with one choice of channel order, mean order and scale (the reference is flip, bgr, 255)."""
    import torch
    from torch.nn import functional as F

    x = torch.from_numpy(images.astype(np.float32))
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False).double()
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    elif flip:
        x = x.flip(1)
    m = {"bgr": MEAN_BGR, "rgb": MEAN_BGR[::-1].copy(), "none": np.zeros(3)}[mean] * scale / 255.0
    return (scale * x - torch.from_numpy(m).view(1, 3, 1, 1)).numpy()


VARIANTS = [(flip, mean, scale) for flip in (True, False) for mean in ("bgr", "rgb", "none") for scale in (255.0, 1.0)]


@check("a4-preprocess")
def preprocess(rng):
    from coursekit.models.vgg import caffe_preprocess  # the library's reference: absent from the kernel

    cases = [{"images": np.full((1, 1, 4, 4), 0.5, dtype=np.float32), "size": 2}]
    red = np.zeros((1, 3, 2, 2), dtype=np.float32)
    red[:, 0] = 1.0
    cases.append({"images": red, "size": 2})
    for channels in (1, 3, 3, 1, 3, 3, 1, 3):
        n, h, w = int(rng.integers(1, 4)), int(rng.integers(5, 41)), int(rng.integers(5, 41))
        cases.append({"images": rng.random((n, channels, h, w), dtype=np.float32),
                      "size": int(rng.integers(8, 49))})
    bad = [{"images": rng.random((2, 2, 6, 6), dtype=np.float32), "size": 4},
           {"images": rng.random((3, 6, 6), dtype=np.float32), "size": 4}]
    expected = [caffe_preprocess(c["images"], size=c["size"]).numpy() for c in cases]

    def judge(answers, records) -> Verdict:
        value_answers = answers[:len(cases)]
        raised = answers[len(cases):]
        messages = []
        shapes_ok = True
        for case, got, want in zip(cases, value_answers, expected):
            problem = _problem(got, f"preprocess of shape {case['images'].shape} to size {case['size']}")
            if problem is None and np.shape(got) != want.shape:
                problem = (f"preprocess of shape {case['images'].shape} to size {case['size']} returned shape "
                           f"{np.shape(got)}, expected {want.shape}")
            if problem:
                shapes_ok = False
                messages.append(problem)
                break
        found = None
        if shapes_ok:
            for flip, mean, scale in VARIANTS:
                if all(compare(got, _candidate(c["images"], c["size"], flip, mean, scale), "x", rtol=1e-4,
                               atol=2e-3 * scale / 255.0) is None for c, got in zip(cases, value_answers)):
                    found = (flip, mean, scale)
                    break
        sixths = 0  # a third of the points each for sizes, channel order, scale and mean; counted whole
        if shapes_ok:
            sixths += 2
            if found is None:
                worst = next(p for c, got, want in zip(cases, value_answers, expected)
                             if (p := compare(got, want, f"preprocess of shape {c['images'].shape} to size "
                                                         f"{c['size']}", rtol=1e-4, atol=2e-3)))
                messages.append(worst + " (resize with F.interpolate(..., mode='bilinear', align_corners=False) "
                                        "first, then channels, scale and mean)")
            else:
                flip, mean, scale = found
                if flip and mean in ("bgr", "none"):
                    sixths += 2
                else:
                    messages.append("the channel order is wrong: VGG16 expects BGR (blue first), so an RGB image "
                                    "is reversed and 103.939 is subtracted from the blue channel")
                if mean != "none" and scale == 255.0:
                    sixths += 2
                elif scale != 255.0:
                    messages.append("the values stay on the 0-1 scale: the network was trained on 0-255 values")
                else:
                    messages.append("the ImageNet mean is not subtracted: each channel must have its mean "
                                    "(103.939, 116.779, 123.68 for B, G, R) taken away")
        bad_ok = all(isinstance(a, Raised) and a.type == "ValueError" for a in raised)
        if not bad_ok:
            sixths = max(0, sixths - 1)
            messages.append("images of shape (2, 2, 6, 6) or (3, 6, 6) should raise ValueError")
        if sixths == 6:
            return Verdict(1.0, f"all {len(cases)} images preprocessed as VGG16 expects; bad shapes refused")
        return Verdict(sixths / 6, "; ".join(messages))

    return cases + bad, judge


# ------------------------------------------------------------------------------------------------ Part 3
def _random_vgg(rng) -> dict:
    cfg, stages = [], int(rng.integers(1, 4))
    for _ in range(stages):
        cfg += [int(rng.integers(2, 9)) for _ in range(int(rng.integers(1, 3)))] + ["M"]
    return {"cfg": cfg, "in_channels": int(rng.integers(1, 4)), "hidden": int(rng.integers(4, 17)),
            "pool_size": int(rng.integers(1, 4)), "old_classes": int(rng.integers(5, 21)),
            "num_classes": int(rng.integers(2, 13)), "freeze_features": bool(rng.integers(0, 2)),
            "image_size": 2 ** stages * int(rng.integers(1, 4)), "seed": int(rng.integers(0, 1 << 30))}


def _vgg_params(case: dict, head_out: int) -> int:
    total, c = 0, case["in_channels"]
    if not case["freeze_features"]:
        for v in case["cfg"]:
            if v != "M":
                total += 9 * c * v + v
                c = v
    last = [v for v in case["cfg"] if v != "M"][-1]
    h, p = case["hidden"], case["pool_size"]
    return total + (last * p * p * h + h) + (h * h + h) + (h * head_out + head_out)


@check("a4-head")
def head(rng):
    cases = [_random_vgg(rng) for _ in range(6)]

    def judge(answers, records) -> Verdict:
        head_ok, count_ok, messages = 0, 0, []
        for case, got in zip(cases, answers):
            what = (f"VGG({case['cfg']}, hidden={case['hidden']}, pool_size={case['pool_size']}) with a "
                    f"{case['num_classes']}-class head" + (", features frozen" if case["freeze_features"] else ""))
            got, problem = _as_dict(got, ("logits_shape", "trainable"), what)
            if problem:
                messages.append(problem)
                continue
            shape = [int(v) for v in np.asarray(got["logits_shape"]).ravel()]
            if shape == [2, case["num_classes"]]:
                head_ok += 1
            else:
                messages.append(f"{what}: logits of shape {tuple(shape)}, expected (2, {case['num_classes']}): "
                                "replace model.classifier[-1]")
            # the count is judged against the head the student's model really has, so one mistake costs once
            out = shape[1] if len(shape) == 2 else case["num_classes"]
            want = _vgg_params(case, out)
            mismatch = compare(got["trainable"], want, f"{what}: trainable parameters", rtol=0, atol=0.5)
            if mismatch:
                messages.append(mismatch + " (count elements of parameters with requires_grad only)")
            else:
                count_ok += 1
        score = 0.5 * head_ok / len(cases) + 0.5 * count_ok / len(cases)
        if score == 1.0:
            return Verdict(1.0, f"new heads and trainable counts right for {len(cases)} random VGGs")
        return Verdict(score, messages[0] + (f" (and {len(messages) - 1} more)" if len(messages) > 1 else ""))

    return cases, judge


# ------------------------------------------------------------------------------------------------ Part 4
@check("a4-freeze")
def freeze(rng):
    cases = []
    for _ in range(3):
        n, size, classes = int(rng.integers(4, 9)), int(rng.integers(6, 11)), int(rng.integers(2, 6))
        cases.append({"seed": int(rng.integers(0, 1 << 30)), "width": int(rng.integers(2, 9)),
                      "dropout": float(rng.uniform(0.1, 0.5)), "classes": classes,
                      "x": rng.standard_normal((n, 3, size, size)).astype(np.float32),
                      "y": rng.integers(0, classes, n).astype(np.int64)})

    def judge(answers, records) -> Verdict:
        frozen, evaluated, returned, messages = True, True, True, []
        for got in answers:
            got, problem = _as_dict(got, ("requires_grad", "training", "backbone_change", "running_mean_change",
                                          "head_change", "returns_module"), "freeze(backbone), then 3 SGD steps")
            if problem:
                return Verdict(0.0, problem)
            if any(bool(v) for v in got["requires_grad"]) or float(got["backbone_change"]) != 0.0:
                if frozen:
                    moved = float(got["backbone_change"])
                    messages.append(f"after freeze the backbone's weights moved by up to {moved:.3g} under an "
                                    "optimizer given every parameter: set requires_grad to False on each")
                frozen = False
            if any(bool(v) for v in got["training"]) or float(got["running_mean_change"]) != 0.0:
                evaluated = False
                messages.append("the frozen backbone is still in training mode (its batch-norm statistics moved): "
                                "call .eval()")
            if not bool(got["returns_module"]):
                returned = False
                messages.append("freeze should return the module it froze")
            if not float(got["head_change"]) > 0.0:
                return Verdict(0.0, "the head, which was not frozen, did not learn: freeze only the module given")
        score = 0.5 * frozen + 0.25 * evaluated + 0.25 * returned
        if score == 1.0:
            return Verdict(1.0, "frozen backbones kept every weight and statistic while the head learned")
        return Verdict(score, "; ".join(dict.fromkeys(messages)))

    return cases, judge


@check("a4-extract")
def extract(rng):
    import torch

    from coursekit.models.vgg import VGG16_BLOCK_ENDS, pooled_features, vgg16_features

    backbone = vgg16_features(weights="imagenet")
    cases, expected = [], []
    for block in (1, 2, 3, int(rng.integers(1, 4))):
        n, h, w = int(rng.integers(1, 13)), int(rng.integers(2 ** block, 41)), int(rng.integers(2 ** block, 41))
        images = rng.uniform(-120, 140, (n, 3, h, w)).astype(np.float32)
        cases.append({"block": block, "images": images, "batch_size": int(rng.integers(1, 6))})
        with torch.no_grad():
            expected.append(pooled_features(backbone[:VGG16_BLOCK_ENDS[block - 1] + 1],
                                            torch.from_numpy(images)).numpy())

    def judge(answers, records) -> Verdict:
        values_ok, no_grad, messages = 0, True, []
        for case, got, want in zip(cases, answers, expected):
            what = f"features after block {case['block']} of {case['images'].shape} images"
            got, problem = _as_dict(got, ("features", "requires_grad", "any_grad"), what)
            if problem:
                messages.append(problem)
                continue
            shape = np.shape(got["features"])
            if len(shape) == 2 and shape[0] == want.shape[0] and shape[1] != want.shape[1]:
                messages.append(f"{what}: vectors of length {shape[1]}, expected {want.shape[1]} (the average "
                                f"then the maximum of each of the {want.shape[1] // 2} channels of block "
                                f"{case['block']}, whose pool sits at index {[4, 9, 16][case['block'] - 1]})")
                continue
            scale = float(np.abs(want).max()) or 1.0
            problem = compare(got["features"], want, what, rtol=1e-3, atol=1e-4 * scale)
            if problem:
                messages.append(problem)
            else:
                values_ok += 1
            if bool(got["requires_grad"]) or bool(got["any_grad"]):
                no_grad = False
        if values_ok < len(cases):
            return Verdict(0.75 * values_ok / len(cases), messages[0])
        if not no_grad:
            return Verdict(0.75, "the features are right but were computed with a graph: use torch.no_grad()")
        return Verdict(1.0, f"features of {len(cases)} random batches at blocks 1-3 match")

    return cases, judge


# ------------------------------------------------------------------------------------------------ Part 5
def _digits(rng, k: int, n_test: int):
    """k labelled digits per class from the train split; n_test held-out digits of the test split (uint8)."""
    from coursekit.data.mnist import _split_indices, mnist_arrays, sample_per_class

    images, labels = mnist_arrays()
    train = _split_indices(labels, "train", 0.3, 0)
    test = _split_indices(labels, "test", 0.3, 0)
    chosen = train[sample_per_class(labels[train], k, int(rng.integers(0, 1 << 30)))]
    held_out = rng.choice(test, n_test, replace=False)
    return images[chosen][:, None], labels[chosen], images[held_out][:, None], labels[held_out]


@check("a4-probe")
def probe(rng):
    cases, test_labels = [], []
    for epochs in (100, 150):
        x, y, xt, yt = _digits(rng, 10, 200)
        cases.append({"seed": int(rng.integers(0, 1 << 30)), "epochs": epochs, "train_images": x,
                      "train_labels": y, "test_images": xt})
        test_labels.append(yt)

    def judge(answers, records) -> Verdict:
        cached, accurate, messages = True, True, []
        for case, got, yt in zip(cases, answers, test_labels):
            n = len(case["train_labels"])
            got, problem = _as_dict(got, ("seen_in_fit", "train_predictions", "test_predictions"),
                                    f"LinearProbe on {n} digits")
            if problem:
                return Verdict(0.0, problem)
            seen = int(np.asarray(got["seen_in_fit"]))
            if seen != n:
                cached = False
                messages.append(f"fit with epochs={case['epochs']} ran {seen} images through the extractor for "
                                f"{n} training images: compute the features once, then train on them")
            train_pred, test_pred = np.asarray(got["train_predictions"]), np.asarray(got["test_predictions"])
            if train_pred.shape != (n,) or test_pred.shape != yt.shape:
                return Verdict(0.5 * cached, f"predict returned shapes {train_pred.shape} and {test_pred.shape}, "
                                             f"expected ({n},) and {yt.shape}")
            train_acc = float(np.mean(train_pred == case["train_labels"]))
            test_acc = float(np.mean(test_pred == yt))
            if train_acc < 0.95 or test_acc < 0.6:
                accurate = False
                messages.append(f"with 10 labels per class on block-2 features the probe reached {train_acc:.2f} "
                                f"on its training digits and {test_acc:.2f} on held-out ones (expected at least "
                                "0.95 and 0.60): standardise the features and train the head with enough steps")
        score = 0.5 * cached + 0.5 * accurate
        if score == 1.0:
            return Verdict(1.0, "features computed once per fit; the linear head learned")
        return Verdict(score, "; ".join(dict.fromkeys(messages)))

    return cases, judge


# ------------------------------------------------------------------------------------------------ Part 6
BLOCK3 = {f"features.{i}.{p}" for i in (10, 12, 14) for p in ("weight", "bias")}
LOWER = {f"features.{i}.{p}" for i in (0, 2, 5, 7) for p in ("weight", "bias")}
HEAD = {"head.weight", "head.bias"}


@check("a4-finetune")
def finetune(rng):
    cases = []
    for _ in range(2):
        head_lr = float(10 ** rng.uniform(-3, -2))
        n = int(rng.integers(3, 7))
        cases.append({"seed": int(rng.integers(0, 1 << 30)), "head_lr": head_lr,
                      "top_lr": head_lr / float(rng.uniform(5, 20)),
                      "x": rng.uniform(-120, 140, (n, 3, 32, 32)).astype(np.float32),
                      "y": rng.integers(0, 10, n).astype(np.int64)})

    def judge(answers, records) -> Verdict:
        groups_ok = frozen_ok = learns_ok = True
        messages = []
        for case, got in zip(cases, answers):
            got, problem = _as_dict(got, ("groups", "change", "requires_grad"), "fine_tune_setup")
            if problem:
                return Verdict(0.0, problem)
            groups = [(float(g["lr"]), set(g["params"])) for g in got["groups"] if isinstance(g, dict)]
            want = [(case["top_lr"], BLOCK3), (case["head_lr"], HEAD)]
            if len(groups) != 2 or not all(any(abs(lr - wl) <= 1e-9 * wl and names == wn for lr, names in groups)
                                           for wl, wn in want):
                groups_ok = False
                messages.append(f"expected two parameter groups, block 3 ({sorted(BLOCK3)[0]} ...) with "
                                f"lr={case['top_lr']:.3g} and the head with lr={case['head_lr']:.3g}; got "
                                + ", ".join(f"{len(names)} parameters with lr={lr:.3g}" for lr, names in groups))
            # judged by what moved: requires_grad itself is Part 4's test, so one mistake costs once
            moved = [name for name in sorted(LOWER) if float(got["change"].get(name, 1.0)) != 0.0]
            if moved:
                frozen_ok = False
                messages.append(f"blocks 1-2 must stay frozen, but {moved[0]} moved in two steps ({len(moved)} of "
                                f"{len(LOWER)} such parameters): keep them out of the optimizer, requires_grad off")
            still = [name for name in sorted(BLOCK3 | HEAD) if not float(got["change"].get(name, 0.0)) > 0.0]
            if still:
                learns_ok = False
                messages.append(f"{still[0]} did not change in two steps: block 3 and the head should learn")
        score = (groups_ok + frozen_ok + learns_ok) / 3
        if score == 1.0:
            return Verdict(1.0, "two parameter groups with their learning rates; blocks 1-2 frozen, block 3 and "
                                "the head learn")
        return Verdict(score, "; ".join(dict.fromkeys(messages)))

    return cases, judge


# ------------------------------------------------------------------------------------------------ Part 7
@check("a4-experiment")
def experiment(rng):
    from coursekit.data.mnist import _split_indices, mnist_arrays, sample_per_class

    images, labels = mnist_arrays()
    train = _split_indices(labels, "train", 0.3, 0)
    held_out = rng.choice(_split_indices(labels, "test", 0.3, 0), HELD_OUT, replace=False)
    test_images, test_labels = images[held_out][:, None], labels[held_out]
    draws = {k: train[sample_per_class(labels[train], k, int(rng.integers(0, 1 << 30)))] for k in (5, 10, 30)}
    keys = [(method, k) for k in (5, 10, 30) for method in ("pretrained", "random", "scratch")]
    cases = [{"method": method, "k": k, "train_images": images[draws[k]][:, None], "train_labels": labels[draws[k]],
              "test_images": test_images} for method, k in keys]

    def judge(answers, records) -> Verdict:
        accuracy, problems = {}, []
        for (method, k), got in zip(keys, answers):
            what = f"train_and_predict({method!r}) with {k} labels per class"
            problem = _problem(got, what)
            if problem is None:
                pred = np.asarray(got)
                if pred.shape != (HELD_OUT,) or pred.dtype.kind not in "iub":
                    problem = (f"{what} returned an array of shape {pred.shape} and dtype {pred.dtype}, expected "
                               f"{HELD_OUT} integer class predictions")
                else:
                    accuracy[(method, k)] = float(np.mean(pred == test_labels))
            if problem:
                problems.append(problem)
        sixths, notes = 0, []   # the cell's 6 points, counted whole so that a full score is exactly 1.0
        for k, share in ((5, 2), (10, 1), (30, 1)):
            acc = accuracy.get(("pretrained", k))
            ok = acc is not None and acc >= PRETRAINED_MIN[k]
            sixths += share * ok
            if acc is not None and not ok:
                notes.append(f"pretrained with {k} labels per class: {acc:.3f} on the held-out digits, below "
                             f"{PRETRAINED_MIN[k]:.2f}")
        needed = [(m, k) for m in ("pretrained", "random") for k in (5, 10)] + [("random", 30)]
        if all(key in accuracy for key in needed):
            margins = [accuracy[("pretrained", k)] - accuracy[("random", k)] for k in (5, 10)]
            control = accuracy[("random", 30)]
            margin_ok = min(margins) >= MARGIN_OVER_RANDOM and control >= RANDOM_CONTROL_MIN
            if not margin_ok:
                notes.append(f"the ImageNet weights should beat the random-weights control by at least "
                             f"{MARGIN_OVER_RANDOM:.2f} at 5 and 10 labels per class (got "
                             f"{', '.join(f'{m:+.3f}' for m in margins)}), with a control that learns (it reached "
                             f"{control:.3f} at 30 labels; at least {RANDOM_CONTROL_MIN:.2f} expected)")
        else:
            margin_ok = False
        sixths += margin_ok
        scratch = accuracy.get(("scratch", 30))
        scratch_ok = scratch is not None and scratch >= SCRATCH_MIN
        sixths += scratch_ok
        if scratch is not None and not scratch_ok:
            notes.append(f"the CNN from scratch reached {scratch:.3f} with 30 labels per class, below "
                         f"{SCRATCH_MIN:.2f}")
        ordered = sorted(accuracy.items(), key=lambda item: (item[0][1], item[0][0]))
        table = ", ".join(f"{method} {k}: {a:.3f}" for (method, k), a in ordered)
        message = f"held-out accuracy ({HELD_OUT} digits): {table or 'none'}"
        if notes or problems:
            message += ". " + "; ".join(notes + problems[:2])
        return Verdict(sixths / 6, message)

    return cases, judge
