"""The benchmark scripts' measuring code runs (their numbers are reported by the scripts, never asserted here)."""

import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import unet  # noqa: E402


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.gpu)])
def test_unet_throughput_measures_every_precision_and_layout(device):
    results = unet.throughput(device, size=32, n=16, batch_size=8, base_channels=4, depth=2, repeats=1)
    assert set(results) == {(False, False), (False, True), ("auto", False), ("auto", True)}
    assert all(rate > 0 for rate in results.values())
