"""Checkpoints that a crash mid-write can never destroy.

The file is written next to its destination under a temporary name, flushed to disk, and then renamed over the
destination in one atomic step, so the old checkpoint stays intact until the new one is complete.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch


def _unwrap(model):
    return getattr(model, "module", model)  # DistributedDataParallel / DataParallel keep the model in .module


def save_checkpoint(path, model, optimizer=None, **extra) -> Path:
    """Save {model, optimizer, extra} to path atomically. extra: anything torch.save can store (epoch, history...)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {"model": _unwrap(model).state_dict(), "optimizer": optimizer.state_dict() if optimizer else None,
             "extra": extra}
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def load_checkpoint(path, model, optimizer=None, map_location="cpu") -> dict:
    """Restore the model (and optimizer) saved by save_checkpoint; returns the extra values."""
    state = torch.load(Path(path), map_location=map_location, weights_only=False)
    _unwrap(model).load_state_dict(state["model"])
    if optimizer is not None:
        if state.get("optimizer") is None:
            raise ValueError(f"{path} holds no optimizer state")
        optimizer.load_state_dict(state["optimizer"])
    return state.get("extra", {})
