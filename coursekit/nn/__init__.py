"""coursekit.nn: layers with explicit forward and backward passes, PyTorch's module API, NumPy only.

Layers take NCHW arrays and follow the dtype rules of :mod:`coursekit.nn.functional` (float32 and float64 kept,
float16 computed in float32, integers and lists made float64, complex, bool and non-numeric input refused).
"""

from . import functional, init
from .init import manual_seed
from .layers import (
                     AvgPool2d,
                     BatchNorm1d,
                     BatchNorm2d,
                     Conv2d,
                     ConvTranspose2d,
                     Dropout,
                     Flatten,
                     GlobalAvgPool2d,
                     Identity,
                     LeakyReLU,
                     Linear,
                     MaxPool2d,
                     ReLU,
                     Sigmoid,
                     Tanh,
)
from .module import Module, Parameter, Sequential

__all__ = ["functional", "init", "manual_seed", "Parameter", "Module", "Sequential", "Conv2d", "ConvTranspose2d",
           "MaxPool2d", "AvgPool2d", "GlobalAvgPool2d", "BatchNorm1d", "BatchNorm2d", "Linear", "ReLU",
           "LeakyReLU", "Tanh", "Sigmoid", "Dropout", "Flatten", "Identity"]
