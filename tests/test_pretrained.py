"""The shipped backbone: it loads offline, it is actually trained, and the script rebuilds it."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch.utils.data import DataLoader  # noqa: E402

from coursekit.data import SyntheticShapesClassification  # noqa: E402
from coursekit.metrics import accuracy  # noqa: E402
from coursekit.models import vgg_small_pretrained  # noqa: E402
from coursekit.models.pretrained import load_weights  # noqa: E402
from coursekit.train import evaluate  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def test_shipped_backbone_classifies_unseen_shapes():
    model = vgg_small_pretrained()
    unseen = SyntheticShapesClassification(500, size=32, seed=99)   # another seed than training used
    acc = evaluate(model, DataLoader(unseen, batch_size=250), metrics={"acc": accuracy})["acc"]
    assert acc >= 0.85
    assert (ROOT / "coursekit" / "models" / "weights" / "vgg_small_shapes.pt").stat().st_size < 2 * 2**20


def test_transfer_learning_head_and_frozen_features():
    model = vgg_small_pretrained(num_classes=3, freeze_features=True)
    assert model(torch.zeros(2, 1, 32, 32)).shape == (2, 3)
    assert not any(p.requires_grad for p in model.features.parameters())
    assert all(p.requires_grad for p in model.classifier.parameters())


@pytest.mark.slow
def test_script_rebuilds_a_network_as_good_as_the_shipped_one(tmp_path):
    """Rebuilding on another processor gives other bits (kernels are chosen by instruction set and training
    amplifies the last digit), so the rebuild is held to what a user relies on: the same recipe, the same accuracy
    on shapes neither run has seen, and a training-loss curve inside a band around the shipped run's."""
    out = tmp_path / "rebuilt.pt"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "pretrain_vgg_small.py"), "--out", str(out)],
                   check=True, timeout=900, capture_output=True)
    rebuilt, shipped = torch.load(out, weights_only=False), load_weights()
    assert rebuilt["config"] == shipped["config"]
    assert set(rebuilt["state_dict"]) == set(shipped["state_dict"])

    unseen = DataLoader(SyntheticShapesClassification(500, size=32, seed=99), batch_size=250)
    accuracies = []
    for checkpoint in (rebuilt, shipped):
        model = vgg_small_pretrained()
        model.load_state_dict(checkpoint["state_dict"])
        accuracies.append(evaluate(model, unseen, metrics={"acc": accuracy})["acc"])
    # four seeds on one machine (stand-ins for four processors) gave 0.964-0.984 on these 500 shapes
    assert accuracies[0] >= 0.93 and abs(accuracies[0] - accuracies[1]) <= 0.04, accuracies

    ours, theirs = (np.array([r["train_loss"] for r in c["history"]]) for c in (rebuilt, shipped))
    assert len(ours) == len(theirs) == shipped["config"]["epochs"]
    # the same four seeds stayed within a factor of 1.7 of the shipped curve at every epoch (final losses
    # 0.13-0.28 against 0.16): a factor of 2 (plus 0.03 near zero) is the band
    assert np.all(ours <= 2 * theirs + 0.03) and np.all(theirs <= 2 * ours + 0.03), (ours, theirs)
    assert ours[-1] < ours[0] / 4
