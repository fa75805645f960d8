"""coursekit.optim: first-order optimizers and learning-rate schedules over coursekit.nn Parameters.

Same names, defaults and update rules as torch.optim, so a trajectory can be compared with torch step by step.
"""

from .adagrad import Adagrad
from .adam import Adam
from .lr_scheduler import CosineAnnealingLR, ExponentialLR, InverseTimeLR, LRScheduler, StepLR
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "RMSprop", "Adagrad", "LRScheduler", "StepLR", "ExponentialLR",
           "InverseTimeLR", "CosineAnnealingLR"]
