"""coursekit.models: LeNet-5, VGG (torchvision's state_dict layout), UNet, residual and dense blocks (PyTorch)."""

from .blocks import DenseBlock, DoubleConv, ResidualBlock
from .lenet import LeNet5
from .pretrained import vgg_small_pretrained
from .unet import UNet
from .vgg import CFGS, VGG, vgg11, vgg13, vgg16, vgg19, vgg_small

__all__ = ["LeNet5", "VGG", "CFGS", "vgg11", "vgg13", "vgg16", "vgg19", "vgg_small", "UNet", "ResidualBlock",
           "DenseBlock", "DoubleConv", "vgg_small_pretrained"]
