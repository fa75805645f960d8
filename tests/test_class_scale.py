"""benchmarks/class_scale.py builds its class correctly: N distinct submissions cycling through the A1 sample mix,
each expected to score its sample's score, answer cells varied and every other cell exactly the sample's (so the
benchmark's check of every grade against the samples' scores means something). The grading itself is the
benchmark's to run."""

import importlib.util
import json
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]


def _benchmark():
    spec = importlib.util.spec_from_file_location("benchmark_class_scale", ROOT / "benchmarks" / "class_scale.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module          # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_the_generated_class_cycles_the_samples_with_their_expected_scores(tmp_path):
    bench = _benchmark()
    from coursekit.course.pipeline import Course

    course = Course(ROOT).copy(tmp_path / "course")
    n = len(bench.MIX) + 2
    expected = bench.make_class(course, n)
    scores = json.loads((ROOT / "course" / "expected_scores.json").read_text())[bench.ASSIGNMENT]
    assert sorted(expected) == [f"student{k:03d}" for k in range(n)]
    assert sorted(p.name for p in course.submitted_dir.iterdir()) == sorted(expected)   # nothing else graded
    for k, student in enumerate(sorted(expected)):
        assert expected[student] == scores[bench.MIX[k % len(bench.MIX)]]
    # student000 and the one after a full cycle are the same sample, as different notebooks
    first, again = (course.submitted_dir / s / bench.ASSIGNMENT / "conv_arithmetic.ipynb"
                    for s in ("student000", f"student{len(bench.MIX):03d}"))
    a, b = nbformat.read(first, as_version=4), nbformat.read(again, as_version=4)
    assert len(a.cells) == len(b.cells)
    varied = 0
    for one, two in zip(a.cells, b.cells):
        meta = one.metadata.get("nbgrader", {})
        if meta.get("solution") and one.cell_type == "code":
            assert one.source != two.source and one.source.startswith("# submission 0 (reference)\n")
            assert one.source.split("\n", 1)[1] == two.source.split("\n", 1)[1]
            varied += 1
        else:
            assert one.source == two.source
    assert varied >= 3
