"""Models: torchvision-compatible VGG layouts, the UNet paper geometry, pinned parameter counts, blocks."""

import pytest

torch = pytest.importorskip("torch")

from coursekit.models import VGG, DenseBlock, LeNet5, ResidualBlock, UNet, vgg11, vgg13, vgg16, vgg19, vgg_small  # noqa: E402

# torchvision's configurations, written out independently of coursekit.models.vgg.CFGS
TORCHVISION = {
    "vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg13": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "vgg19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}
BUILDERS = {"vgg11": vgg11, "vgg13": vgg13, "vgg16": vgg16, "vgg19": vgg19}


def torchvision_layout(cfg, batch_norm, num_classes=1000):
    """The state_dict keys and shapes torchvision's VGG has: features.N.* then classifier.0/3/6.*"""
    layout, index, c = {}, 0, 3
    for v in cfg:
        if v == "M":
            index += 1
            continue
        layout[f"features.{index}.weight"] = (v, c, 3, 3)
        layout[f"features.{index}.bias"] = (v,)
        index += 1
        if batch_norm:
            for name in ("weight", "bias", "running_mean", "running_var"):
                layout[f"features.{index}.{name}"] = (v,)
            layout[f"features.{index}.num_batches_tracked"] = ()
            index += 1
        index += 1  # ReLU
        c = v
    for i, (fan_in, fan_out) in zip((0, 3, 6), ((512 * 7 * 7, 4096), (4096, 4096), (4096, num_classes))):
        layout[f"classifier.{i}.weight"] = (fan_out, fan_in)
        layout[f"classifier.{i}.bias"] = (fan_out,)
    return layout


@pytest.mark.parametrize("name", list(TORCHVISION))
@pytest.mark.parametrize("batch_norm", [False, True])
def test_vgg_state_dict_matches_torchvision_layout(name, batch_norm):
    with torch.device("meta"):
        model = BUILDERS[name](batch_norm=batch_norm, num_classes=37)
    got = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert got == torchvision_layout(TORCHVISION[name], batch_norm, 37)


def test_vgg16_has_138m_parameters_and_loads_a_checkpoint_unchanged(tmp_path):
    with torch.device("meta"):
        assert sum(p.numel() for p in vgg16().parameters()) == 138_357_544
    small = VGG(TORCHVISION["vgg11"], num_classes=5, hidden=64)
    path = tmp_path / "weights.pth"
    torch.save(small.state_dict(), path)
    again = VGG("A", num_classes=5, hidden=64)
    again.load_state_dict(torch.load(path))  # strict: every key and shape must agree
    x = torch.randn(1, 3, 32, 32)
    small.eval(), again.eval()
    assert torch.equal(small(x), again(x))


def test_unet_valid_padding_reproduces_the_paper_geometry():
    model = UNet(in_channels=1, out_channels=2, base_channels=64, depth=4, padding="valid")
    assert sum(p.numel() for p in model.parameters()) == 31_030_658  # "about 31.0M"
    assert model.output_size(572) == 388
    with torch.no_grad():
        out = model(torch.zeros(1, 1, 572, 572))
    assert out.shape == (1, 2, 388, 388)


@pytest.mark.parametrize("up_mode", ["transpose", "bilinear"])
@pytest.mark.parametrize("batch_norm", [False, True])
def test_small_same_unet_keeps_the_size_and_trains_a_step(up_mode, batch_norm):
    model = UNet(1, 1, base_channels=8, depth=3, batch_norm=batch_norm, up_mode=up_mode)
    x = torch.randn(2, 1, 32, 32)
    out = model(x)
    assert out.shape == (2, 1, 32, 32)
    out.mean().backward()
    assert all(p.grad is not None for p in model.parameters())
    # sizes that 2x2 pools do not halve evenly keep their size too (the decoder pads back what a pool dropped)
    for size in [(30, 30), (37, 50), (8, 9)]:
        assert model(torch.randn(2, 1, *size)).shape == (2, 1, *size)
    with pytest.raises(ValueError, match="at least 2\\*\\*depth = 8"):
        model(torch.zeros(1, 1, 7, 12))


def test_lenet5_parameter_count_and_shape():
    model = LeNet5()
    assert sum(p.numel() for p in model.parameters()) == 61_706
    assert model(torch.zeros(3, 1, 28, 28)).shape == (3, 10)
    with pytest.raises(ValueError, match="28, 28"):
        model(torch.zeros(1, 1, 32, 32))


def test_vgg_small_runs_on_32x32():
    model = vgg_small(num_classes=5, in_channels=1)
    assert model(torch.zeros(4, 1, 32, 32)).shape == (4, 5)


@pytest.mark.parametrize("bottleneck", [False, True])
@pytest.mark.parametrize("stride,c_out", [(1, 16), (2, 32)])
def test_residual_block_shapes_and_identity_shortcut(bottleneck, stride, c_out):
    block = ResidualBlock(16, c_out, stride=stride, bottleneck=bottleneck)
    assert block(torch.randn(2, 16, 8, 8)).shape == (2, c_out, 8 // stride, 8 // stride)
    assert isinstance(block.shortcut, torch.nn.Identity) == (stride == 1 and c_out == 16)


def test_residual_block_with_zero_residual_is_relu_of_input():
    block = ResidualBlock(4, 4)
    torch.nn.init.zeros_(block.residual[-1].weight)  # last BN scale 0: the residual branch outputs 0
    x = torch.randn(2, 4, 5, 5)
    block.eval()
    assert torch.allclose(block(x), torch.relu(x))


@pytest.mark.parametrize("bottleneck", [False, True])
def test_dense_block_concatenates_every_layer(bottleneck):
    block = DenseBlock(in_channels=8, growth_rate=4, num_layers=3, bottleneck=bottleneck)
    x = torch.randn(2, 8, 6, 6)
    out = block(x)
    assert out.shape == (2, 8 + 3 * 4, 6, 6) and block.out_channels == 20
    assert torch.equal(out[:, :8], x)  # the input is passed through unchanged
