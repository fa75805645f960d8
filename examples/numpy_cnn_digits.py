"""Train a small CNN written with coursekit's NumPy layers on real handwritten digits, with numpy alone.

Needs nothing but ``pip install -e .`` (numpy): the data are the 10,000 MNIST digits that ship inside the coursekit
package as a plain ``.npz`` file, read here with numpy (``coursekit.data.mnist`` serves the same digits as torch
tensors; nothing is downloaded). The 28x28 digits are averaged down to 14x14 so that training takes seconds on a
laptop CPU. The network is conv-BN-ReLU-pool twice and a linear classifier; Adam with a cosine schedule. Prints
the slides' sanity checks, then the time and the test accuracy.

    python examples/numpy_cnn_digits.py
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from importlib import resources

import numpy as np

import coursekit.nn as nn
import coursekit.optim as optim
from coursekit.nn.functional import softmax_cross_entropy


@dataclass
class Config:
    epochs: int = 8
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 1e-4
    test_fraction: float = 0.3
    train_size: int = 3000
    seed: int = 0


def mnist_file():
    """The MNIST archive shipped in the package (coursekit/data/files/mnist10k.npz), found without importing
    coursekit.data, which needs torch."""
    return resources.files("coursekit") / "data" / "files" / "mnist10k.npz"


def load_digits_split(test_fraction=0.3, seed=0, train_size=3000, side=14):
    """(x_train, y_train, x_test, y_test): x (N, 1, side, side) float32 in [0, 1], a stratified random split.

    Every class gives test_fraction of its digits to the test set; train_size digits (stratified too) of the rest
    are kept for training. side 14 averages each 2x2 block of the 28x28 digits; 28 keeps them whole.
    """
    if 28 % side:
        raise ValueError(f"side must divide 28, got {side}")
    with resources.as_file(mnist_file()) as path, np.load(path, allow_pickle=False) as archive:
        images, y = archive["images"], archive["labels"].astype(np.int64)              # N,28,28 uint8; N
    f = 28 // side
    x = (images.reshape(-1, side, f, side, f).mean(axis=(2, 4)) / 255.0).astype(np.float32)[:, None]  # N,1,S,S
    rng = np.random.default_rng(seed)
    test = np.zeros(len(y), dtype=bool)
    train = np.zeros(len(y), dtype=bool)
    per_class = train_size / len(y) / (1 - test_fraction)
    for c in np.unique(y):  # stratify: the same share of every class in both sets
        idx = rng.permutation(np.flatnonzero(y == c))
        n_test = round(test_fraction * len(idx))
        test[idx[:n_test]] = True
        train[idx[n_test:n_test + round(per_class * (len(idx) - n_test))]] = True
    return x[train], y[train], x[test], y[test]


def build_model(num_classes=10, seed=0) -> nn.Sequential:
    nn.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),   # 16 x 7 x 7
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),  # 32 x 3 x 3
        nn.Flatten(), nn.Linear(32 * 3 * 3, num_classes),
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
    x_train, y_train, x_test, y_test = load_digits_split(config.test_fraction, config.seed, config.train_size)
    model = build_model(seed=config.seed)
    model.eval()
    initial, _ = softmax_cross_entropy(model(x_train), y_train)
    print(f"data: {len(y_train)} training and {len(y_test)} test MNIST digits, {x_train.shape[-1]}x{x_train.shape[-1]} "
          "gray")
    print(f"sanity check: initial loss {initial:.3f} vs ln(10) = {np.log(10):.3f}")
    start = time.perf_counter()
    train(model, x_train, y_train, config)
    seconds = time.perf_counter() - start
    print(f"trained {config.epochs} epochs in {seconds:.1f} s; test accuracy {accuracy(model, x_test, y_test):.2%}, "
          f"training accuracy {accuracy(model, x_train, y_train):.2%}")
    print(f"sanity check: 20 training digits overfit to {overfit_tiny_subset():.0%} training accuracy")


if __name__ == "__main__":
    main()
