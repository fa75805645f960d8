"""coursekit.train: device choice, seeding, fit/evaluate with metrics and progress, history, checkpoints."""

from .checkpoint import load_checkpoint, save_checkpoint
from .device import get_device, seed_everything
from .loop import EarlyStopping, History, evaluate, fit

__all__ = ["get_device", "seed_everything", "fit", "evaluate", "History", "EarlyStopping", "save_checkpoint",
           "load_checkpoint"]
