"""coursekit.train: device choice, seeding, fit/evaluate with metrics and progress, history, checkpoints."""

from .._extras import require

# one line naming the extra when torch is missing, before any submodule imports it
require(__name__, "torch", extra="torch")

from .checkpoint import load_checkpoint, save_checkpoint  # noqa: E402
from .device import get_device, seed_everything  # noqa: E402
from .loop import EarlyStopping, History, evaluate, fit  # noqa: E402

__all__ = ["get_device", "seed_everything", "fit", "evaluate", "History", "EarlyStopping", "save_checkpoint",
           "load_checkpoint"]
