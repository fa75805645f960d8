"""coursekit.models: LeNet-5, VGG (torchvision's state_dict layout, ImageNet VGG16 blocks shipped), UNet, blocks."""

from .._extras import require

# one line naming the extra when torch is missing, before any submodule imports it
require(__name__, "torch", extra="torch")

from .blocks import DenseBlock, DoubleConv, ResidualBlock  # noqa: E402
from .lenet import LeNet5  # noqa: E402
from .pretrained import vgg_small_pretrained  # noqa: E402
from .unet import UNet  # noqa: E402
from .vgg import (  # noqa: E402
    CFGS,
    IMAGENET_MEAN_BGR,
    VGG,
    caffe_preprocess,
    pooled_features,
    vgg11,
    vgg13,
    vgg16,
    vgg16_features,
    vgg19,
    vgg_small,
)

__all__ = ["LeNet5", "VGG", "CFGS", "vgg11", "vgg13", "vgg16", "vgg19", "vgg_small", "UNet", "ResidualBlock",
           "DenseBlock", "DoubleConv", "vgg_small_pretrained",
           "vgg16_features", "caffe_preprocess", "pooled_features", "IMAGENET_MEAN_BGR"]
