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

from coursekit.course.judging import NOT_RUN, Missing, Raised, Verdict, compare, hidden_test
from coursekit.course.judging import unusable as _problem  # shared helpers under the names used below

KERNEL_HIDES = {
    # the library's answers to Parts 2 and 4: Caffe preprocessing and average+max pooled CNN codes
    "coursekit.models.vgg": ["caffe_preprocess", "pooled_features"],
}
KERNEL_TORCH = True  # the assignment is built on PyTorch's layers
# what the kernel may import (with ipykernel, coursekit and what they need); nothing else installed is there
KERNEL_PACKAGES = ["numpy", "matplotlib", "tqdm", "torch"]

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


@hidden_test("a4-strategy")
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


@hidden_test("a4-preprocess")
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
# Parts 3-6 never trust what the kernel says about its own objects (a kernel that replaces grading.answer could say
# anything): each probe loads weights the grader drew, runs a pinned procedure on the grader's secret inputs and
# returns the numbers that come out (logits, parameters after a few optimizer steps, predictions on held-out
# digits). The grader runs the same procedure here with its own code and compares; a forged answer has to compute
# what the reference computes on inputs it has never seen, i.e. do the work.
def _random_vgg(rng) -> dict:
    cfg, stages = [], int(rng.integers(1, 4))
    for _ in range(stages):
        cfg += [int(rng.integers(2, 9)) for _ in range(int(rng.integers(1, 3)))] + ["M"]
    case = {"cfg": cfg, "in_channels": int(rng.integers(1, 4)), "hidden": int(rng.integers(4, 17)),
            "pool_size": int(rng.integers(1, 4)), "old_classes": int(rng.integers(5, 21)),
            "num_classes": int(rng.integers(2, 13)), "freeze_features": bool(rng.integers(0, 2)),
            "image_size": 2 ** stages * int(rng.integers(1, 4))}
    # the whole model's weights and the new head's come from the grader (He-scaled, biases nonzero, so that no
    # ReLU layer is dead for every input); so do the two images the logits are computed on
    state, c = {}, case["in_channels"]
    index = 0
    for v in cfg:
        if v == "M":
            index += 1
            continue
        state[f"features.{index}.weight"] = rng.normal(0, np.sqrt(2 / (9 * c)), (v, c, 3, 3)).astype(np.float32)
        state[f"features.{index}.bias"] = rng.normal(0, 0.1, v).astype(np.float32)
        c, index = v, index + 2
    sizes = [c * case["pool_size"] ** 2, case["hidden"], case["hidden"]]
    for position, (n_in, n_out) in zip((0, 3, 6), zip(sizes, [case["hidden"], case["hidden"], case["old_classes"]])):
        state[f"classifier.{position}.weight"] = rng.normal(0, np.sqrt(2 / n_in), (n_out, n_in)).astype(np.float32)
        state[f"classifier.{position}.bias"] = rng.normal(0, 0.1, n_out).astype(np.float32)
    case["state"] = state
    case["head_weight"] = rng.normal(0, np.sqrt(2 / case["hidden"]),
                                     (case["num_classes"], case["hidden"])).astype(np.float32)
    case["head_bias"] = rng.normal(0, 0.1, case["num_classes"]).astype(np.float32)
    case["x"] = rng.standard_normal((2, case["in_channels"], case["image_size"], case["image_size"])).astype(
        np.float32)
    return case


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


def _reference_head_logits(case: dict, replaced: bool = True) -> np.ndarray:
    """the logits of the grader's model with the grader's new head (or, replaced=False, with its old one)"""
    import torch
    from torch import nn

    from coursekit.models import VGG

    model = VGG(case["cfg"], num_classes=case["old_classes"], in_channels=case["in_channels"],
                hidden=case["hidden"], pool_size=case["pool_size"], init_weights=False)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in case["state"].items()})
    with torch.no_grad():
        if replaced:
            model.classifier[-1] = nn.Linear(case["hidden"], case["num_classes"])
            model.classifier[-1].weight.copy_(torch.from_numpy(case["head_weight"]))
            model.classifier[-1].bias.copy_(torch.from_numpy(case["head_bias"]))
        return model.eval()(torch.from_numpy(case["x"])).double().numpy()


@hidden_test("a4-head")
def head(rng):
    cases = [_random_vgg(rng) for _ in range(6)]
    expected = [_reference_head_logits(case) for case in cases]
    unreplaced = [_reference_head_logits(case, replaced=False) for case in cases]

    def judge(answers, records) -> Verdict:
        head_ok, count_ok, messages = 0, 0, []
        for case, got, want, old in zip(cases, answers, expected, unreplaced):
            what = (f"VGG({case['cfg']}, hidden={case['hidden']}, pool_size={case['pool_size']}) with a "
                    f"{case['num_classes']}-class head" + (", features frozen" if case["freeze_features"] else ""))
            got, problem = _as_dict(got, ("logits", "trainable"), what)
            if problem:
                messages.append(problem)
                continue
            shape = tuple(np.shape(got["logits"]))
            ran = False  # the model the count is about was really built and run on the grader's weights
            if shape != want.shape:
                # the head left in place: the logits still show that the model was built and run
                ran = shape == old.shape and _close(got["logits"], old, 1e-3)
                messages.append(f"{what}: logits of shape {shape}, expected {want.shape}: replace "
                                "model.classifier[-1] by an nn.Linear with the same inputs and num_classes outputs")
            else:
                scale = float(np.abs(want).max()) or 1.0
                problem = compare(got["logits"], want, f"{what}: logits on the grader's images", rtol=1e-3,
                                  atol=1e-4 * scale)
                if problem:
                    messages.append(problem + " (the new head should be the last layer of model.classifier, "
                                              "everything before it unchanged)")
                else:
                    head_ok += 1
                    ran = True
            # A count is a function of shapes the case itself shows, so it is credited only for a model whose
            # logits prove it was built and run (a forged answer cannot get it by arithmetic on the case); it is
            # judged against the head the model really has, so a head left in place costs once
            out = shape[1] if len(shape) == 2 else case["num_classes"]
            mismatch = compare(got["trainable"], _vgg_params(case, out),
                               f"{what}: trainable parameters", rtol=0, atol=0.5)
            if mismatch:
                messages.append(mismatch + " (count elements of parameters with requires_grad only)")
            elif ran:
                count_ok += 1
        score = 0.5 * head_ok / len(cases) + 0.5 * count_ok / len(cases)
        if score == 1.0:
            return Verdict(1.0, f"new heads and trainable counts right for {len(cases)} random VGGs")
        return Verdict(score, messages[0] + (f" (and {len(messages) - 1} more)" if len(messages) > 1 else ""))

    return cases, judge


# ------------------------------------------------------------------------------------------------ Part 4
FREEZE_STEPS, FREEZE_LR, FREEZE_MOMENTUM = 3, 0.5, 0.9
# what freeze(backbone) may have done -> (share of requires_grad, share of eval mode); the reference is the first
FREEZE_VARIANTS = {(True, True): (0.5, 0.25), (False, True): (0.0, 0.25), (True, False): (0.5, 0.0),
                   (False, False): (0.0, 0.0)}


def _freeze_run(case: dict, frozen: bool, evaluated: bool) -> dict:
    """The hidden test's procedure with a freeze that turns requires_grad off (frozen) and/or calls .eval()."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    width, state = case["width"], case["state"]
    backbone = nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
                             nn.AdaptiveAvgPool2d(1), nn.Flatten())
    head = nn.Linear(width, case["classes"])
    model = nn.Sequential(backbone, head)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})
    if frozen:
        for p in backbone.parameters():
            p.requires_grad_(False)
    if evaluated:
        backbone.eval()
    opt = torch.optim.SGD(model.parameters(), lr=FREEZE_LR, momentum=FREEZE_MOMENTUM)
    x, y = torch.from_numpy(case["x"]), torch.from_numpy(case["y"])
    for _ in range(FREEZE_STEPS):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    probe = torch.from_numpy(case["probe"])
    with torch.no_grad():
        logits = model(probe)
        returned = backbone(probe)
    return {"head": np.concatenate([head.weight.detach().double().numpy().ravel(),
                                    head.bias.detach().double().numpy()]),
            "logits": logits.double().numpy(), "returned": returned.double().numpy()}


def _close(got, want, rtol: float = 1e-3) -> bool:
    """within a tolerance that float32 rounding on another CPU, thread count or BLAS cannot exceed after a few
    optimizer steps, and far below the distance between two different procedures (asserted by the seed audit)"""
    scale = float(np.abs(want).max()) or 1.0
    return compare(got, want, "x", rtol=rtol, atol=rtol * scale) is None


@hidden_test("a4-freeze")
def freeze(rng):
    cases = []
    for _ in range(3):
        n, size, classes, width = (int(rng.integers(4, 9)), int(rng.integers(6, 11)), int(rng.integers(2, 6)),
                                   int(rng.integers(2, 9)))
        state = {"0.0.weight": rng.normal(0, np.sqrt(2 / 27), (width, 3, 3, 3)),
                 "0.0.bias": rng.normal(0, 0.1, width), "0.1.weight": rng.uniform(0.5, 1.5, width),
                 "0.1.bias": rng.normal(0, 0.3, width),
                 # running statistics far from any batch's: eval mode and training mode then differ plainly
                 "0.1.running_mean": rng.normal(0, 0.5, width), "0.1.running_var": rng.uniform(0.3, 3.0, width),
                 "1.weight": rng.normal(0, np.sqrt(1 / width), (classes, width)),
                 "1.bias": rng.normal(0, 0.1, classes)}
        state = {k: v.astype(np.float32) for k, v in state.items()}
        state["0.1.num_batches_tracked"] = np.array(0, dtype=np.int64)
        x = rng.standard_normal((n, 3, size, size)).astype(np.float32) * rng.uniform(0.5, 2)
        cases.append({"width": width, "classes": classes, "state": state, "x": x,
                      "y": rng.permutation(np.arange(n) % classes).astype(np.int64),
                      "probe": rng.standard_normal((int(rng.integers(2, 6)), 3, size, size)).astype(np.float32)})
    expected = [{variant: _freeze_run(case, *variant) for variant in FREEZE_VARIANTS} for case in cases]

    def judge(answers, records) -> Verdict:
        shares, messages = [], []
        for got, runs in zip(answers, expected):
            got, problem = _as_dict(got, ("head", "logits", "returned"), "freeze(backbone), then 3 SGD steps")
            if problem:
                return Verdict(0.0, problem)
            try:
                head_values = np.concatenate([np.asarray(v, dtype=np.float64).ravel() for v in got["head"]])
            except (TypeError, ValueError):
                return Verdict(0.0, "freeze(backbone), then 3 SGD steps: the test could not read the head's weights")
            matched = next((variant for variant, run in runs.items()
                            if _close(head_values, run["head"]) and _close(got["logits"], run["logits"])), None)
            if matched is None:
                return Verdict(0.0, "after freeze(backbone) and 3 SGD steps on the grader's batch, the head's weights "
                                    "and the model's outputs match neither a frozen backbone nor one missing "
                                    "requires_grad or eval(): freeze should turn requires_grad off on every "
                                    "parameter of the module given (and only those) and call .eval()")
            grad_share, eval_share = FREEZE_VARIANTS[matched]
            returned = 0.25 if got["returned"] is not None and _close(got["returned"], runs[matched]["returned"]) \
                else 0.0
            shares.append(grad_share + eval_share + returned)
            if not grad_share:
                messages.append("after freeze the backbone's weights moved under an optimizer given every "
                                "parameter: set requires_grad to False on each")
            if not eval_share:
                messages.append("the frozen backbone is still in training mode (its batch-norm layer normalised "
                                "with the batch's statistics and updated its running ones): call .eval()")
            if not returned:
                messages.append("freeze should return the module it froze")
        score = min(shares)
        if score == 1.0:
            return Verdict(1.0, "frozen backbones kept every weight and statistic while the head learned (the "
                                "head's weights and the outputs after 3 SGD steps match the grader's run)")
        return Verdict(score, "; ".join(dict.fromkeys(messages)))

    return cases, judge


@hidden_test("a4-extract")
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

    # Only the features are judged: whether they were computed under no_grad is a fact about the kernel's own
    # tensors that no value on the wire can show, so it is left to the visible test (it was a quarter of the cell).
    def judge(answers, records) -> Verdict:
        values_ok, messages = 0, []
        for case, got, want in zip(cases, answers, expected):
            what = f"features after block {case['block']} of {case['images'].shape} images"
            problem = _problem(got, what)
            if problem:
                messages.append(problem)
                continue
            shape = np.shape(got)
            if len(shape) == 2 and shape[0] == want.shape[0] and shape[1] != want.shape[1]:
                messages.append(f"{what}: vectors of length {shape[1]}, expected {want.shape[1]} (the average "
                                f"then the maximum of each of the {want.shape[1] // 2} channels of block "
                                f"{case['block']}, whose pool sits at index {[4, 9, 16][case['block'] - 1]})")
                continue
            scale = float(np.abs(want).max()) or 1.0
            problem = compare(got, want, what, rtol=1e-3, atol=1e-4 * scale)
            if problem:
                messages.append(problem)
            else:
                values_ok += 1
        if values_ok < len(cases):
            return Verdict(values_ok / len(cases), messages[0])
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


def _reference_probe(case: dict) -> np.ndarray:
    """The notebook's LinearProbe recipe on block-2 features, run here: its held-out predictions."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    from coursekit.models.vgg import caffe_preprocess, pooled_features, vgg16_features
    from coursekit.train import seed_everything

    seed_everything(case["seed"])
    extractor = vgg16_features(weights="imagenet")[:10]
    train = pooled_features(extractor, caffe_preprocess(case["train_images"].astype(np.float32) / 255))
    test = pooled_features(extractor, caffe_preprocess(case["test_images"].astype(np.float32) / 255))
    mean, std = train.mean(0), train.std(0) + 1e-6
    head = nn.Linear(train.shape[1], 10)
    opt = torch.optim.Adam(head.parameters(), lr=1e-2, weight_decay=1e-2)
    labels = torch.from_numpy(case["train_labels"])
    for _ in range(case["epochs"]):
        opt.zero_grad()
        F.cross_entropy(head((train - mean) / std), labels).backward()
        opt.step()
    with torch.no_grad():
        return head((test - mean) / std).argmax(1).numpy()


# Measured on 8 draws (300 held-out digits each): the recipe reached 0.82-0.87; honest variants of it (another seed,
# the biased standard deviation) agreed with its predictions on 98-100% of the digits, the same probe on images
# without the mean subtracted (Part 2's mistake, priced there) on 92-95%, and a nearest-neighbour vote on raw
# pixels (no features, no training) reached 0.67-0.76 and agreed on 65-74%.
PROBE_HELD_OUT = 300
PROBE_SLACK = 0.08       # held-out accuracy may fall this far below the grader's own run of the recipe
PROBE_AGREEMENT = 0.85   # ... and must agree with the recipe's predictions on this share of the held-out digits


@hidden_test("a4-probe")
def probe(rng):
    """Judged on what only a working probe produces: predictions on held-out digits whose labels stay here,
    compared with the labels and with the grader's own run of the recipe. How many images went through the
    extractor (the features computed once) is a count the kernel reports about itself, so it is no longer
    graded: Part 5's two points are one per draw."""
    cases, test_labels = [], []
    for epochs in (100, 150):
        x, y, xt, yt = _digits(rng, 10, PROBE_HELD_OUT)
        cases.append({"seed": int(rng.integers(0, 1 << 30)), "epochs": epochs, "train_images": x,
                      "train_labels": y, "test_images": xt})
        test_labels.append(yt)
    reference = [_reference_probe(case) for case in cases]

    def judge(answers, records) -> Verdict:
        passed, messages = 0, []
        for case, got, yt, want in zip(cases, answers, test_labels, reference):
            n = len(case["train_labels"])
            problem = _problem(got, f"LinearProbe on {n} digits")
            if problem:
                messages.append(problem)
                continue
            pred = np.asarray(got)
            if pred.shape != yt.shape or pred.dtype.kind not in "iub":
                messages.append(f"predict returned an array of shape {pred.shape} and dtype {pred.dtype}, expected "
                                f"{yt.shape} integer classes")
                continue
            accuracy, reference_accuracy = float(np.mean(pred == yt)), float(np.mean(want == yt))
            agreement = float(np.mean(pred == want))
            if accuracy >= reference_accuracy - PROBE_SLACK and agreement >= PROBE_AGREEMENT:
                passed += 1
            else:
                messages.append(f"with 10 labels per class and epochs={case['epochs']}, the probe reached "
                                f"{accuracy:.2f} on {len(yt)} held-out digits (the recipe: {reference_accuracy:.2f}) "
                                f"and agreed with the recipe's predictions on {agreement:.0%} of them (expected "
                                f"at least {PROBE_AGREEMENT:.0%}): extract block-2 features once, standardise "
                                "them with their training mean and standard deviation, and train the linear head "
                                "with Adam")
        if passed == len(cases):
            return Verdict(1.0, "the linear probe learned: its held-out predictions match the recipe's")
        return Verdict(passed / len(cases), "; ".join(dict.fromkeys(messages)))

    return cases, judge


# ------------------------------------------------------------------------------------------------ Part 6
FINETUNE_STEPS = 2
# how fine_tune_setup may have grouped TransferNet's parameters -> the share of the cell it earns. Parameter sets:
# "top" block 3, "lower" blocks 1-2, "head"; each group is (sets, which learning rate). The first is the reference;
# the others are the mistakes a student makes, priced as groups / frozen lower blocks / block 3 learning (1/3 each).
FINETUNE_VARIANTS = {
    "reference": ([(("top",), "top_lr"), (("head",), "head_lr")], 1.0, ""),
    "swapped": ([(("top",), "head_lr"), (("head",), "top_lr")], 2 / 3,
                "the learning rates are swapped: block 3 takes top_lr, the new head head_lr"),
    "one group head_lr": ([(("top", "head"), "head_lr")], 2 / 3,
                          "block 3 and the head share one learning rate: give block 3 its own group with top_lr"),
    "one group top_lr": ([(("top", "head"), "top_lr")], 2 / 3,
                         "block 3 and the head share one learning rate: give the head its own group with head_lr"),
    "head only": ([(("head",), "head_lr")], 1 / 3,
                  "block 3 did not learn: its parameters belong in a group with top_lr, requires_grad on"),
    "all features": ([(("lower", "top"), "top_lr"), (("head",), "head_lr")], 1 / 3,
                     "blocks 1-2 learned too: keep them frozen and out of the optimizer (only block 3 with "
                     "top_lr)"),
    "everything": ([(("lower", "top", "head"), "head_lr")], 1 / 3,
                   "every parameter learned at head_lr in one group: freeze blocks 1-2 and give block 3 top_lr"),
}


def _finetune_run(case: dict, groups) -> dict:
    import torch
    from torch import nn
    from torch.nn import functional as F

    from coursekit.models.vgg import vgg16_features

    features = vgg16_features(weights="imagenet", num_blocks=3)
    head = nn.Linear(512, 10)
    with torch.no_grad():
        head.weight.copy_(torch.from_numpy(case["head_weight"]))
        head.bias.copy_(torch.from_numpy(case["head_bias"]))
    sets = {"lower": list(features[:10].parameters()), "top": list(features[10:].parameters()),
            "head": list(head.parameters())}
    opt = torch.optim.Adam([{"params": [p for name in names for p in sets[name]], "lr": case[lr]}
                            for names, lr in groups])

    def forward(x):
        maps = features(x)
        return head(torch.cat([maps.mean(dim=(2, 3)), maps.amax(dim=(2, 3))], dim=1))

    x, y = torch.from_numpy(case["x"]), torch.from_numpy(case["y"])
    for _ in range(FINETUNE_STEPS):
        opt.zero_grad()
        F.cross_entropy(forward(x), y).backward()
        opt.step()
    with torch.no_grad():
        logits = forward(torch.from_numpy(case["probe"]))
    return {"head": np.concatenate([head.weight.detach().double().numpy().ravel(),
                                    head.bias.detach().double().numpy()]), "logits": logits.double().numpy()}


@hidden_test("a4-finetune")
def finetune(rng):
    cases = []
    for _ in range(2):
        head_lr = float(10 ** rng.uniform(-3, -2))
        n = int(rng.integers(3, 7))
        cases.append({"head_lr": head_lr, "top_lr": head_lr / float(rng.uniform(5, 20)),
                      "x": rng.uniform(-120, 140, (n, 3, 32, 32)).astype(np.float32),
                      "y": rng.permutation(np.arange(n) % 10).astype(np.int64),
                      "head_weight": rng.normal(0, 0.01, (10, 512)).astype(np.float32),
                      "head_bias": rng.normal(0, 0.01, 10).astype(np.float32),
                      "probe": rng.uniform(-120, 140, (int(rng.integers(2, 5)), 3, 32, 32)).astype(np.float32)})
    expected = [{name: _finetune_run(case, groups) for name, (groups, _, _) in FINETUNE_VARIANTS.items()}
                for case in cases]

    def judge(answers, records) -> Verdict:
        shares, messages = [], []
        for case, got, runs in zip(cases, answers, expected):
            got, problem = _as_dict(got, ("head", "logits"), "fine_tune_setup, then 2 Adam steps")
            if problem:
                return Verdict(0.0, problem)
            try:
                head_values = np.concatenate([np.asarray(v, dtype=np.float64).ravel() for v in got["head"]])
            except (TypeError, ValueError):
                return Verdict(0.0, "fine_tune_setup, then 2 Adam steps: the test could not read the head's weights")
            matched = next((name for name, run in runs.items()
                            if _close(head_values, run["head"], 2e-3) and _close(got["logits"], run["logits"], 2e-3)),
                           None)
            if matched is None:
                return Verdict(0.0, f"after fine_tune_setup(model, head_lr={case['head_lr']:.3g}, "
                                    f"top_lr={case['top_lr']:.3g}) and 2 Adam steps on the grader's batch, the head "
                                    "and the outputs match no sensible grouping: freeze blocks 1-2 "
                                    "(model.features[:10]) and return Adam with two groups, block 3 "
                                    "(model.features[10:]) with top_lr and the head with head_lr")
            _, share, message = FINETUNE_VARIANTS[matched]
            shares.append(share)
            if message:
                messages.append(message)
        if min(shares) == 1.0:
            return Verdict(1.0, "two parameter groups with their learning rates; blocks 1-2 frozen, block 3 and "
                                "the head learn (the outputs after 2 Adam steps match the grader's run)")
        return Verdict(min(shares), "; ".join(dict.fromkeys(messages)))

    return cases, judge


# ------------------------------------------------------------------------------------------------ Part 7
@hidden_test("a4-experiment")
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
