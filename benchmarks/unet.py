"""UNet on the synthetic cell images: Dice against wall time on the CPU, fit's overhead over a bare loop, and,
where a CUDA GPU is present, training images per second with and without mixed precision and channels_last.

Target: Dice >= 0.9 on held-out images in under 30 s on 2 cores; fit within 5% of a bare PyTorch loop.

    python benchmarks/unet.py            CPU Dice and overhead, then the GPU table if there is a GPU
    python benchmarks/unet.py --gpu      the GPU table only
"""

from __future__ import annotations

import argparse
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
    # the CPU part stays on the CPU on a GPU machine too (fit's "auto" would pick the GPU)
    fit(model, train, val, loss_fn=bce_dice, optimizer=optimizer, epochs=epochs, device="cpu",
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
            epochs=1, device="cpu", progress=False)
        return time.perf_counter() - start

    bare_times, fit_times = [], []
    for _ in range(5):
        bare_times.append(bare())
        fit_times.append(with_fit())
    bare_t, fit_t = sorted(bare_times)[2], sorted(fit_times)[2]
    print(f"fit overhead (median of 5 interleaved epochs): bare loop {bare_t:.2f} s, fit {fit_t:.2f} s -> "
          f"{100 * (fit_t / bare_t - 1):+.1f}% (target under 5%)")


def throughput(device="cuda", size=256, n=256, batch_size=16, base_channels=64, depth=4, repeats=3):
    """Training images per second through fit(), for each of fp32 / AMP x NCHW / channels_last.

    The images are generated once and moved to the device beforehand, so the numbers measure the model's steps
    (and fit's bookkeeping), not the data pipeline. Returns {(amp, channels_last): images per second}, the best
    of `repeats` epochs after one warm-up epoch (cuDNN's algorithm search, lazy initialisation).
    """
    device = torch.device(device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    data = SyntheticShapesSegmentation(n, size=size, seed=0)
    images = torch.stack([data[i][0] for i in range(n)]).to(device)
    masks = torch.stack([data[i][1] for i in range(n)]).to(device)
    loader = DataLoader(torch.utils.data.TensorDataset(images, masks), batch_size=batch_size, shuffle=True,
                        generator=torch.Generator().manual_seed(0))
    results = {}
    for amp in (False, "auto"):
        for channels_last in (False, True):
            seed_everything(0)
            model = UNet(1, 1, base_channels=base_channels, depth=depth, batch_norm=True)
            optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
            best = float("inf")
            for epoch in range(repeats + 1):
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                start = time.perf_counter()
                fit(model, loader, None, loss_fn=bce_dice, optimizer=optimizer, epochs=1, device=device, amp=amp,
                    channels_last=channels_last, progress=False)  # fit reads loss.item() each step: synchronised
                if epoch > 0:
                    best = min(best, time.perf_counter() - start)
            results[(amp, channels_last)] = n / best
    return results


def gpu_table():
    if not torch.cuda.is_available():
        print("no CUDA GPU visible: images/s with and without AMP and channels_last not measured")
        return
    name = torch.cuda.get_device_name(0)
    size, batch_size = 256, 16
    print(f"UNet (base 64, depth 4, BN) training on {name}, {size}x{size} images, batch {batch_size}")
    results = throughput("cuda", size=size, batch_size=batch_size)
    base = results[(False, False)]
    amp_name = "AMP bf16" if torch.cuda.is_bf16_supported() else "AMP fp16"  # what fit's amp="auto" picks
    for (amp, channels_last), rate in results.items():
        label = f"{amp_name if amp else 'fp32':<9} {'channels_last' if channels_last else 'NCHW':<14}"
        print(f"  {label} {rate:8.1f} images/s  ({rate / base:.2f}x fp32 NCHW)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpu", action="store_true", help="only the GPU throughput table")
    if not parser.parse_args().gpu:
        main()
    gpu_table()
