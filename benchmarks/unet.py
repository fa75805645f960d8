"""UNet on the synthetic cell images: Dice against wall time on the CPU, and fit's overhead over a bare loop.

Target: Dice >= 0.9 on held-out images in under 30 s on 2 cores; fit within 5% of a bare PyTorch loop.

    python benchmarks/unet.py
"""

from __future__ import annotations

import time

import torch
from torch.utils.data import DataLoader, Subset

from coursekit.data import SyntheticShapesSegmentation
from coursekit.metrics import dice_score
from coursekit.models import UNet
from coursekit.train import evaluate, fit, seed_everything


def bce_dice(logits, target):
    p = torch.sigmoid(logits)
    dice = 1 - (2 * (p * target).sum() + 1) / (p.sum() + target.sum() + 1)
    return torch.nn.functional.binary_cross_entropy_with_logits(logits, target) + dice


def dice_metric(logits, target):
    return dice_score((logits > 0).to(torch.uint8), target.to(torch.uint8))


def build(seed=0):
    seed_everything(seed)
    return UNet(1, 1, base_channels=16, depth=3, batch_norm=True)


def main(train_n=512, val_n=128, epochs=8, batch_size=16):
    torch.set_num_threads(torch.get_num_threads())
    data = SyntheticShapesSegmentation(train_n + val_n, size=64, seed=0)
    for i in range(len(data)):  # generate once, outside the timed region
        data.sample(i)
    train = DataLoader(Subset(data, range(train_n)), batch_size=batch_size, shuffle=True,
                       generator=torch.Generator().manual_seed(0))
    val = DataLoader(Subset(data, range(train_n, train_n + val_n)), batch_size=64)
    model = build()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    start, curve = time.perf_counter(), []

    def log(epoch, record, model):
        curve.append((time.perf_counter() - start, record["val_dice"]))
        print(f"  epoch {epoch}: {curve[-1][0]:5.1f} s  val Dice {record['val_dice']:.3f}")

    print(f"UNet (base 16, depth 3, BN; {sum(p.numel() for p in model.parameters()):,} parameters), "
          f"{train_n} training images 64x64, {torch.get_num_threads()} threads")
    fit(model, train, val, loss_fn=bce_dice, optimizer=optimizer, epochs=epochs,
        metrics={"dice": dice_metric}, progress=False, callbacks=[log])
    reached = next((t for t, d in curve if d >= 0.9), None)
    final = evaluate(model, val, metrics={"dice": dice_metric})["dice"]
    print(f"Dice >= 0.9 after {reached:.1f} s" if reached else "Dice 0.9 not reached", f"(final {final:.3f}; "
          "target: 0.9 within 30 s)")

    # fit against a bare loop: same model, data and steps, no validation; one epoch each, interleaved, median
    def bare():
        model, start = build(), time.perf_counter()
        opt = torch.optim.Adam(model.parameters(), lr=3e-3)
        model.train()
        for x, y in train:
            opt.zero_grad(set_to_none=True)
            loss = bce_dice(model(x), y)
            loss.backward()
            opt.step()
        return time.perf_counter() - start

    def with_fit():
        model, start = build(), time.perf_counter()
        fit(model, train, None, loss_fn=bce_dice, optimizer=torch.optim.Adam(model.parameters(), lr=3e-3),
            epochs=1, progress=False)
        return time.perf_counter() - start

    bare_times, fit_times = [], []
    for _ in range(5):
        bare_times.append(bare())
        fit_times.append(with_fit())
    bare_t, fit_t = sorted(bare_times)[2], sorted(fit_times)[2]
    print(f"fit overhead (median of 5 interleaved epochs): bare loop {bare_t:.2f} s, fit {fit_t:.2f} s -> "
          f"{100 * (fit_t / bare_t - 1):+.1f}% (target under 5%)")


if __name__ == "__main__":
    main()
