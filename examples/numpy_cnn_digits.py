"""Train a small CNN written with coursekit's NumPy layers on real handwritten digits.

The data are scikit-learn's bundled 8x8 digits (1,797 images, shipped inside the package, nothing downloaded).
The network is conv-BN-ReLU-pool twice and a linear classifier; Adam with a cosine schedule. Prints the slides'
sanity checks, then the time and the test accuracy.

    python examples/numpy_cnn_digits.py
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

import coursekit.nn as nn
import coursekit.optim as optim
from coursekit.nn.functional import softmax_cross_entropy


@dataclass
class Config:
    epochs: int = 12
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 1e-4
    test_fraction: float = 0.2
    seed: int = 0


def load_digits_split(test_fraction=0.2, seed=0):
    """(x_train, y_train, x_test, y_test): x (N, 1, 8, 8) float32 in [0, 1], a stratified random split."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[:, None]            # N,1,8,8
    y = digits.target.astype(np.int64)
    rng = np.random.default_rng(seed)
    test = np.zeros(len(y), dtype=bool)
    for c in np.unique(y):  # stratify: the same share of every class in the test set
        idx = rng.permutation(np.flatnonzero(y == c))
        test[idx[: round(test_fraction * len(idx))]] = True
    return x[~test], y[~test], x[test], y[test]


def build_model(num_classes=10, seed=0) -> nn.Sequential:
    nn.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),   # 16 x 4 x 4
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),  # 32 x 2 x 2
        nn.Flatten(), nn.Linear(32 * 2 * 2, num_classes),
    )


def accuracy(model, x, y, batch_size=512) -> float:
    model.eval()
    correct = sum(int(np.sum(model(x[i:i + batch_size]).argmax(1) == y[i:i + batch_size]))
                  for i in range(0, len(y), batch_size))
    return correct / len(y)


def train(model, x, y, config: Config, log=print) -> list[float]:
    """Mini-batch training; returns the mean loss of each epoch."""
    rng = np.random.default_rng(config.seed)
    opt = optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    steps = config.epochs * -(-len(y) // config.batch_size)
    schedule = optim.CosineAnnealingLR(opt, T_max=steps)
    history = []
    for epoch in range(config.epochs):
        model.train()
        order = rng.permutation(len(y))
        losses = []
        for i in range(0, len(y), config.batch_size):
            batch = order[i:i + config.batch_size]
            if len(batch) < 2:  # batch norm needs two samples
                continue
            opt.zero_grad()
            loss, dscores = softmax_cross_entropy(model(x[batch]), y[batch])
            model.backward(dscores)
            opt.step()
            schedule.step()
            losses.append(loss)
        history.append(float(np.mean(losses)))
        if log:
            log(f"epoch {epoch + 1:2d}  loss {history[-1]:.4f}")
    return history


def overfit_tiny_subset(n=20, steps=150, seed=0) -> float:
    """The slides' check: a network that works can drive the training accuracy on a few samples to 100%."""
    x, y, _, _ = load_digits_split(seed=seed)
    x, y = x[:n], y[:n]
    model = build_model(seed=seed)
    opt = optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(steps):
        model.train()
        opt.zero_grad()
        _, dscores = softmax_cross_entropy(model(x), y)
        model.backward(dscores)
        opt.step()
    return accuracy(model, x, y)


def main():
    config = Config()
    x_train, y_train, x_test, y_test = load_digits_split(config.test_fraction, config.seed)
    model = build_model(seed=config.seed)
    model.eval()
    initial, _ = softmax_cross_entropy(model(x_train), y_train)
    print(f"data: {len(y_train)} training and {len(y_test)} test digits, 8x8 gray")
    print(f"sanity check: initial loss {initial:.3f} vs ln(10) = {np.log(10):.3f}")
    start = time.perf_counter()
    train(model, x_train, y_train, config)
    seconds = time.perf_counter() - start
    print(f"trained {config.epochs} epochs in {seconds:.1f} s; test accuracy {accuracy(model, x_test, y_test):.2%}, "
          f"training accuracy {accuracy(model, x_train, y_train):.2%}")
    print(f"sanity check: 20 training digits overfit to {overfit_tiny_subset():.0%} training accuracy")


if __name__ == "__main__":
    main()
