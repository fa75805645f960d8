"""The shipped backbone: it loads offline, it is actually trained, and the script rebuilds it."""

import subprocess
import sys
from pathlib import Path

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
def test_script_rebuilds_the_shipped_weights(tmp_path):
    out = tmp_path / "rebuilt.pt"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "pretrain_vgg_small.py"), "--out", str(out)],
                   check=True, timeout=600, capture_output=True)
    rebuilt, shipped = torch.load(out, weights_only=False), load_weights()
    assert rebuilt["config"] == shipped["config"]
    for key, value in shipped["state_dict"].items():
        assert torch.allclose(rebuilt["state_dict"][key].float(), value.float(), atol=1e-5), key
