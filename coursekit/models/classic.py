"""The ImageNet classics of Lecture 6, built from coursekit's blocks so their costs can be counted, and the
deep plain / residual stacks its depth experiments train.

alexnet (Krizhevsky et al., 2012; torchvision's single-tower layout), Inception (Szegedy et al., 2015; one module
of GoogLeNet), resnet50 (He et al., 2016), densenet121 (Huang et al., 2017) with its Transition layers. Parameter
counts equal torchvision's (61,100,840; 25,557,032; 7,978,856), so `coursekit.arithmetic.summary` on the meta
device gives the costs the papers quote. resnet_small and densenet_small are the same designs scaled down for
28 x 28 digits on a CPU, trainable there beside LeNet5 and vgg_small. plain_net / residual_net are the small
30-layer networks whose gradient and training the lecture compares;
conv_gradient_norms reads one backward pass's per-layer gradient norms.
"""

from __future__ import annotations

import torch
from torch import nn

from .blocks import DenseBlock, ResidualBlock


def alexnet(num_classes: int = 1000) -> nn.Sequential:
    """conv 11x11/4 (64) - pool - conv 5x5 (192) - pool - 3 x conv 3x3 (384, 256, 256) - pool - fc 4096 x 2 - fc.

    Takes (N, 3, 224, 224): 55 -> 27 -> 13 -> 6 before the classifier (6 x 6 x 256 = 9,216 features).
    """
    return nn.Sequential(
        nn.Conv2d(3, 64, 11, stride=4, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(3, stride=2),
        nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(3, stride=2),
        nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(3, stride=2),
        nn.Flatten(), nn.Dropout(), nn.Linear(256 * 6 * 6, 4096), nn.ReLU(inplace=True),
        nn.Dropout(), nn.Linear(4096, 4096), nn.ReLU(inplace=True), nn.Linear(4096, num_classes))


class Inception(nn.Module):
    """Four parallel branches joined along channels: 1x1 | 1x1 reduce -> 3x3 | 1x1 reduce -> 5x5 | 3x3 max pool ->
    1x1 projection. Output channels: c1 + c3 + c5 + pool_proj. reduce=False drops the 1x1 reductions (the "naive"
    module of the paper), to count what they save.
    """

    def __init__(self, in_channels: int, c1: int, c3_reduce: int, c3: int, c5_reduce: int, c5: int,
                 pool_proj: int, reduce: bool = True):
        super().__init__()

        def conv(c_in, c_out, k):
            return nn.Sequential(nn.Conv2d(c_in, c_out, k, padding=k // 2), nn.ReLU(inplace=True))

        self.branch1 = conv(in_channels, c1, 1)
        if reduce:
            self.branch3 = nn.Sequential(conv(in_channels, c3_reduce, 1), conv(c3_reduce, c3, 3))
            self.branch5 = nn.Sequential(conv(in_channels, c5_reduce, 1), conv(c5_reduce, c5, 5))
            self.branch_pool = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1), conv(in_channels, pool_proj, 1))
        else:
            self.branch3, self.branch5 = conv(in_channels, c3, 3), conv(in_channels, c5, 5)
            self.branch_pool = nn.MaxPool2d(3, stride=1, padding=1)
        self.out_channels = c1 + c3 + c5 + (pool_proj if reduce else in_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1(x), self.branch3(x), self.branch5(x), self.branch_pool(x)], dim=1)


def resnet50(num_classes: int = 1000) -> nn.Sequential:
    """Stem (7x7/2 conv, 3x3/2 pool), four stages of bottleneck blocks (3, 4, 6, 3) ending in 256, 512, 1024, 2048
    channels, global average pool, fc. Takes (N, 3, 224, 224)."""
    layers: list[nn.Module] = [nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False), nn.BatchNorm2d(64),
                               nn.ReLU(inplace=True), nn.MaxPool2d(3, stride=2, padding=1)]
    c = 64
    for stage, (blocks, out) in enumerate(zip((3, 4, 6, 3), (256, 512, 1024, 2048))):
        for i in range(blocks):
            stride = 2 if stage > 0 and i == 0 else 1
            layers.append(ResidualBlock(c, out, stride=stride, bottleneck=True))
            c = out
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, num_classes))


class Transition(nn.Sequential):
    """Between two dense blocks: BN - ReLU - 1x1 conv (fewer channels) - 2x2 average pool (half the size)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__(nn.BatchNorm2d(in_channels), nn.ReLU(inplace=True),
                         nn.Conv2d(in_channels, out_channels, 1, bias=False), nn.AvgPool2d(2))


def densenet121(num_classes: int = 1000, growth_rate: int = 32, blocks=(6, 12, 24, 16)) -> nn.Sequential:
    """Stem, four bottlenecked dense blocks with transitions that halve channels and size, BN-ReLU, GAP, fc."""
    layers: list[nn.Module] = [nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False), nn.BatchNorm2d(64),
                               nn.ReLU(inplace=True), nn.MaxPool2d(3, stride=2, padding=1)]
    c = 64
    for i, n in enumerate(blocks):
        block = DenseBlock(c, growth_rate, n, bottleneck=True)
        layers.append(block)
        c = block.out_channels
        if i < len(blocks) - 1:
            layers.append(Transition(c, c // 2))   # compression 0.5
            c //= 2
    return nn.Sequential(*layers, nn.BatchNorm2d(c), nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(c, num_classes))


def resnet_small(num_classes: int = 10, in_channels: int = 1, widths=(16, 32, 64),
                 blocks_per_stage: int = 1) -> nn.Sequential:
    """ResNet for small images, as He et al. (2016, section 4.2) built theirs for CIFAR: a 3x3 convolution stem
    (widths[0] channels, BN, ReLU), then one stage of basic residual blocks per width, the first block of every later
    stage with stride 2 and a 1x1 projection shortcut, global average pool, fc.

    (N, in_channels, H, W) -> (N, num_classes); on 28 x 28 the stages run at 28, 14 and 7 pixels.
    """
    if not widths or blocks_per_stage < 1:
        raise ValueError(f"widths must be non-empty and blocks_per_stage >= 1, got {widths} and {blocks_per_stage}")
    layers: list[nn.Module] = [nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False),
                               nn.BatchNorm2d(widths[0]), nn.ReLU(inplace=True)]
    c = widths[0]
    for stage, width in enumerate(widths):
        for i in range(blocks_per_stage):
            layers.append(ResidualBlock(c, width, stride=2 if stage > 0 and i == 0 else 1))
            c = width
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, num_classes))


def densenet_small(num_classes: int = 10, in_channels: int = 1, growth_rate: int = 12, blocks=(4, 4),
                   stem_channels: int = 16) -> nn.Sequential:
    """DenseNet for small images (Huang et al., 2017, their CIFAR networks scaled down): a 3x3 convolution stem and a
    2x2 max pool, dense blocks of num_layers BN-ReLU-conv3x3 layers adding growth_rate channels each, a Transition
    (BN-ReLU-1x1 conv halving the channels, 2x2 average pool) between blocks, BN-ReLU, global average pool, fc.

    (N, in_channels, H, W) -> (N, num_classes); on 28 x 28 the blocks run at 14 and 7 pixels.
    """
    if not blocks or growth_rate < 1:
        raise ValueError(f"blocks must be non-empty and growth_rate >= 1, got {blocks} and {growth_rate}")
    layers: list[nn.Module] = [nn.Conv2d(in_channels, stem_channels, 3, padding=1, bias=False), nn.MaxPool2d(2)]
    c = stem_channels
    for i, n in enumerate(blocks):
        block = DenseBlock(c, growth_rate, n)
        layers.append(block)
        c = block.out_channels
        if i < len(blocks) - 1:
            layers.append(Transition(c, c // 2))   # compression 0.5, as DenseNet-BC
            c //= 2
    return nn.Sequential(*layers, nn.BatchNorm2d(c), nn.ReLU(inplace=True), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(c, num_classes))


# ------------------------------------------------------------------------------------- depth experiments
def _he_init(model: nn.Module) -> nn.Module:
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            nn.init.zeros_(m.bias)
    return model


def _stage_ends(depth: int, stages: int) -> set[int]:
    """Indices of the convolutions after which a 2x2 max pool halves the map: stages - 1 pools, spread evenly."""
    if stages < 1:
        raise ValueError(f"stages must be >= 1, got {stages}")
    return {round(depth * s / stages) - 1 for s in range(1, stages)}


def plain_net(depth: int, channels: int = 16, num_classes: int = 5, batch_norm: bool = False,
              init: str = "default", in_channels: int = 1, stages: int = 1) -> nn.Sequential:
    """depth 3x3 convolutions, each followed by [batch norm and] ReLU, then global average pool and fc; with
    stages > 1, a 2x2 max pool between stages (VGG's pattern).

    init="default" keeps PyTorch's initialisation (weights uniform with variance 1/(3 fan_in)); "he" draws them
    from N(0, 2/fan_in) (He et al., 2015), which keeps the size of a ReLU network's signal from layer to layer.
    """
    if depth < 1:
        raise ValueError(f"depth must be >= 1, got {depth}")
    if init not in ("default", "he"):
        raise ValueError(f"init must be 'default' or 'he', got {init!r}")
    pools = _stage_ends(depth, stages)
    layers: list[nn.Module] = []
    c = in_channels
    for i in range(depth):
        layers.append(nn.Conv2d(c, channels, 3, padding=1))
        layers += [nn.BatchNorm2d(channels)] if batch_norm else []
        layers.append(nn.ReLU())
        layers += [nn.MaxPool2d(2)] if i in pools else []
        c = channels
    model = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, num_classes))
    return _he_init(model) if init == "he" else model


def residual_net(depth: int, channels: int = 16, num_classes: int = 5, in_channels: int = 1,
                 stages: int = 1) -> nn.Sequential:
    """One 3x3 convolution + ReLU, then (depth - 1) // 2 basic residual blocks (two convolutions each), GAP, fc:
    depth convolutions in all for odd depth; with stages > 1, a 2x2 max pool between stages of blocks."""
    if depth < 1:
        raise ValueError(f"depth must be >= 1, got {depth}")
    n_blocks = (depth - 1) // 2
    pools = _stage_ends(n_blocks, stages) if n_blocks else set()
    layers: list[nn.Module] = [nn.Conv2d(in_channels, channels, 3, padding=1), nn.ReLU()]
    for i in range(n_blocks):
        layers.append(ResidualBlock(channels, channels))
        layers += [nn.MaxPool2d(2)] if i in pools else []
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, num_classes))


def conv_gradient_norms(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> list[float]:
    """One cross-entropy backward pass on (x, y); the norm of each 3x3 convolution's weight gradient, input side
    first. The model's gradients are cleared before and after."""
    model.zero_grad()
    nn.functional.cross_entropy(model(x), y).backward()
    norms = [p.grad.norm().item() for p in model.parameters() if p.dim() == 4 and p.shape[-1] == 3]
    model.zero_grad()
    return norms


def fit_steps(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, steps: int = 200, batch_size: int = 64,
              lr: float = 3e-3, seed: int = 0) -> list[float]:
    """Adam on cross-entropy for `steps` mini-batches drawn (with a seeded generator) from images (N, C, H, W)
    and labels (N,); returns the training loss of every step. The model is left in training mode."""
    if images.dim() != 4 or labels.shape != images.shape[:1]:
        raise ValueError(f"images must be (N, C, H, W) and labels (N,), got {tuple(images.shape)} and "
                         f"{tuple(labels.shape)}")
    if steps < 1 or batch_size < 1:
        raise ValueError(f"steps and batch_size must be >= 1, got {steps} and {batch_size}")
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    losses = []
    for _ in range(steps):
        batch = torch.randint(0, len(images), (batch_size,), generator=generator)
        loss = nn.functional.cross_entropy(model(images[batch]), labels[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses
