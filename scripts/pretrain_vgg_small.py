"""Rebuild coursekit/models/weights/vgg_small_shapes.pt: vgg_small pretrained on the synthetic shapes.

The checkpoint ships with the package so that the transfer-learning material has a pretrained backbone on a
machine with no network. Everything here is seeded and single-threaded, so a rerun on the same torch version
reproduces the file's weights (tests/test_pretrained.py checks that, and the accuracy).

    python scripts/pretrain_vgg_small.py [--out PATH]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Subset

from coursekit.data import SyntheticShapesClassification
from coursekit.metrics import accuracy
from coursekit.models import vgg_small
from coursekit.train import evaluate, fit, seed_everything

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "coursekit" / "models" / "weights" / "vgg_small_shapes.pt"
CONFIG = {"num_classes": 5, "in_channels": 1, "width": 16, "train": 2000, "val": 500, "epochs": 8,
          "batch_size": 32, "lr": 3e-3, "seed": 0}


def train(config=CONFIG):
    torch.set_num_threads(1)  # one thread: the same summation order on every run
    seed_everything(config["seed"], deterministic=True)
    data = SyntheticShapesClassification(config["train"] + config["val"], size=32, seed=config["seed"])
    train_set = Subset(data, range(config["train"]))
    val_set = Subset(data, range(config["train"], config["train"] + config["val"]))
    model = vgg_small(config["num_classes"], config["in_channels"], width=config["width"])
    fit(model, DataLoader(train_set, batch_size=config["batch_size"], shuffle=True,
                          generator=torch.Generator().manual_seed(config["seed"])),
        DataLoader(val_set, batch_size=250), loss_fn=torch.nn.functional.cross_entropy,
        optimizer=torch.optim.Adam(model.parameters(), lr=config["lr"]), epochs=config["epochs"],
        metrics={"acc": accuracy}, progress=False)
    val_acc = evaluate(model, DataLoader(val_set, batch_size=250), metrics={"acc": accuracy})["acc"]
    return model, val_acc


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    model, val_acc = train()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": model.state_dict(), "config": CONFIG, "val_accuracy": val_acc,
                "classes": list(SyntheticShapesClassification.classes)}, args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1024:.0f} KiB); validation accuracy {val_acc:.3f}")


if __name__ == "__main__":
    main()
