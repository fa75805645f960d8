"""Where to run, and how to make a run repeatable."""

from __future__ import annotations

import os
import random

import numpy as np
import torch


def get_device(prefer: str | None = None) -> torch.device:
    """The best available device: CUDA, then Apple's MPS, then the CPU; or `prefer` ("cuda", "mps", "cpu",
    "cuda:1") when it is available, with a ValueError saying why when it is not."""
    mps = getattr(torch.backends, "mps", None)
    has_mps = bool(mps is not None and mps.is_available())
    if prefer is not None and prefer != "auto":
        device = torch.device(prefer)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device {prefer!r} requested but CUDA is not available (torch {torch.__version__}, "
                             f"built for CUDA {torch.version.cuda})")
        if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"device {prefer!r} requested but only {torch.cuda.device_count()} GPU(s) are visible")
        if device.type == "mps" and not has_mps:
            raise ValueError(f"device {prefer!r} requested but MPS is not available")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if has_mps:
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int, deterministic: bool = False) -> None:
    """Seed Python, NumPy and torch (all devices). deterministic=True also asks torch for deterministic
    kernels, trading speed for bit-identical reruns on the same machine."""
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - code that still uses the legacy global generator
    torch.manual_seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
