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


@pytest.mark.notebooks
def test_the_lecture_benchmark_measures_wall_and_cpu_seconds_and_the_slow_cells(tmp_path, monkeypatch):
    import importlib.util

    import nbformat

    # by path: "lectures" is also the name of the repository's lecture folder
    spec = importlib.util.spec_from_file_location("benchmark_lectures", Path(__file__).resolve().parents[1]
                                                  / "benchmarks" / "lectures.py")
    lecture_benchmark = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, lecture_benchmark)   # dataclasses look their module up there
    spec.loader.exec_module(lecture_benchmark)

    notebook = tmp_path / "01_tiny.ipynb"
    busy = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.5:\n    pass"
    cells = [nbformat.v4.new_code_cell(busy),
             nbformat.v4.new_code_cell("time.sleep(0.3)")]
    nbformat.write(nbformat.v4.new_notebook(cells=cells), notebook)
    monkeypatch.setattr(lecture_benchmark, "SLOW_CELL_SECONDS", 0.2)
    timing = lecture_benchmark.time_lecture(notebook)
    assert timing.wall > 0.8 and timing.cpu >= 0.5            # the kernel's busy loop is counted as CPU time
    assert [number for number, _, _ in timing.slow_cells] == [0, 1]
    assert nbformat.read(notebook, as_version=4).cells[0].outputs == []   # the original is not touched
    assert "01_tiny.ipynb" in lecture_benchmark.table([timing])
