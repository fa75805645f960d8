"""The lectures as stored: every syllabus topic mapped to a section that exists, outputs fresh, files small, and
metadata that JupyterLab does not rewrite on opening. (nbval, in `make test`, re-runs them and compares outputs.)"""

import importlib.util
import os
import re
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")  # the course extra; skipped in a numpy-only environment

ROOT = Path(__file__).resolve().parents[1]
LECTURES = sorted((ROOT / "lectures").glob("[0-9]*.ipynb"))
SYLLABUS = ROOT / "lectures" / "SYLLABUS.md"
TOPICS = 110  # rows of the slides' syllabus (shared/SYLLABUS.md)

_spec = importlib.util.spec_from_file_location("execute_lectures", ROOT / "scripts" / "execute_lectures.py")
execute_lectures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(execute_lectures)


def syllabus_rows():
    """(row, topic, lecture file, section heading) for each numbered row of lectures/SYLLABUS.md."""
    rows = []
    for line in SYLLABUS.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 4 and cells[0].isdigit():
            rows.append((int(cells[0]), cells[1], cells[2].strip("`"), cells[3]))
    return rows


def headings(path: Path) -> set[str]:
    nb = nbformat.read(path, as_version=4)
    found = set()
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            found |= {m.group(1).strip() for m in re.finditer(r"^#{1,6}\s+(.+?)\s*$", cell.source, re.M)}
    return found


def test_every_topic_of_the_slides_is_mapped_once():
    numbers = [row for row, *_ in syllabus_rows()]
    assert sorted(set(numbers)) == list(range(1, TOPICS + 1)), (
        f"missing rows: {sorted(set(range(1, TOPICS + 1)) - set(numbers))}")


def test_every_section_the_syllabus_names_exists():
    cache = {}
    missing = []
    for row, topic, lecture, section in syllabus_rows():
        path = ROOT / "lectures" / lecture
        if not path.is_file():
            missing.append(f"row {row} ({topic}): {lecture} does not exist")
            continue
        if section not in cache.setdefault(lecture, headings(path)):
            missing.append(f"row {row} ({topic}): no heading {section!r} in {lecture}")
    assert not missing, "\n".join(missing)


@pytest.mark.parametrize("path", LECTURES, ids=[p.name for p in LECTURES])
def test_stored_lecture_is_fresh_and_small(path):
    why = execute_lectures.stale(path)
    assert why is None, f"{path.name}: {why}"
    assert path.stat().st_size < execute_lectures.MAX_BYTES


@pytest.mark.parametrize("path", LECTURES, ids=[p.name for p in LECTURES])
def test_lecture_metadata_is_what_jupyterlab_writes(path):
    # minimal metadata is rewritten by JupyterLab on opening, which marks the notebook modified and lets autosave
    # change the checkout
    nb = nbformat.read(path, as_version=4)
    assert nb.metadata.get("kernelspec") == execute_lectures.KERNELSPEC
    info = nb.metadata.get("language_info", {})
    assert set(info) >= {"codemirror_mode", "file_extension", "mimetype", "name", "nbconvert_exporter",
                         "pygments_lexer", "version"}, info
    assert (nb.nbformat, nb.nbformat_minor) == (4, 5)
    ids = [cell.get("id") for cell in nb.cells]
    assert all(ids) and len(set(ids)) == len(ids), "every cell needs its own id (JupyterLab adds missing ones)"
    assert not any("execution" in cell.metadata for cell in nb.cells)


def test_the_lectures_kernel_is_the_one_make_install_registers():
    from coursekit.kernel import DISPLAY_NAME, KERNEL_NAME

    assert execute_lectures.KERNELSPEC == {"name": KERNEL_NAME, "display_name": DISPLAY_NAME, "language": "python"}


@pytest.fixture(scope="module")
def course_kernel_language_info():
    """language_info from the kernel_info reply of a freshly started course kernel: what JupyterLab stores."""
    from jupyter_client.kernelspec import NoSuchKernel
    from jupyter_client.manager import start_new_kernel

    try:
        manager, client = start_new_kernel(kernel_name=execute_lectures.KERNELSPEC["name"], startup_timeout=60)
    except NoSuchKernel:
        pytest.skip("the course kernel is not installed (make install runs: coursekit kernel install)")
    try:
        reply = client.kernel_info(reply=True, timeout=30)
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    return reply["content"]["language_info"]


@pytest.mark.parametrize("path", LECTURES, ids=[p.name for p in LECTURES])
def test_opening_in_the_course_kernel_leaves_the_metadata_unchanged(path, course_kernel_language_info):
    nb = nbformat.read(path, as_version=4)
    reopened = nbformat.from_dict(nbformat.reads(nbformat.writes(nb), as_version=4))
    reopened.metadata["language_info"] = course_kernel_language_info
    reopened.metadata["kernelspec"] = dict(execute_lectures.KERNELSPEC)
    assert reopened.metadata == nb.metadata


def test_normalising_gives_new_cells_stable_ids_and_keeps_old_ones():
    cells = [nbformat.v4.new_code_cell("1"), nbformat.v4.new_markdown_cell("x"), nbformat.v4.new_code_cell("2")]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.nbformat_minor = 4
    for cell in nb.cells:
        cell.pop("id", None)
    nb.cells[1]["id"] = "kept"
    nb.cells[2].metadata["execution"] = {"iopub.execute_input": "2026-01-01T00:00:00Z"}
    again = nbformat.from_dict(nbformat.reads(nbformat.writes(nb), as_version=4))
    execute_lectures.normalise_metadata(nb, "lecture")
    execute_lectures.normalise_metadata(again, "lecture")
    ids = [cell["id"] for cell in nb.cells]
    assert ids[1] == "kept" and len(set(ids)) == 3 and ids == [cell["id"] for cell in again.cells]
    assert nb.nbformat_minor == 5 and nb.metadata["kernelspec"] == execute_lectures.KERNELSPEC
    assert "execution" not in nb.cells[2].metadata
    nbformat.validate(nb)


def _root_conftest():
    spec = importlib.util.spec_from_file_location("root_conftest", ROOT / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("relative, is_lecture", [("lectures/01_convolution.ipynb", True),
                                                  ("tests/test_lectures.py", False),
                                                  ("solutions/a1_conv_arithmetic/conv_arithmetic.ipynb", False)])
def test_the_root_conftest_starts_only_lecture_kernels_in_the_stored_environment(monkeypatch, relative, is_lecture):
    from types import SimpleNamespace

    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    monkeypatch.delenv("PYTHONHASHSEED", raising=False)
    before = dict(os.environ)
    setup = _root_conftest().pytest_runtest_setup(SimpleNamespace(path=ROOT / relative))
    next(setup)  # what nbval's kernel start sees
    during = dict(os.environ)
    with pytest.raises(StopIteration):
        setup.send(None)
    assert dict(os.environ) == before
    if is_lecture:
        assert during["OMP_NUM_THREADS"] == str(execute_lectures.LECTURE_THREADS) and during["PYTHONHASHSEED"] == "0"
    else:
        assert during == before


# A thread cap written into a lecture holds a student on a 16-core machine to it without a word. The stored runs
# get their fixed count from lecture_env() (make lectures, and nbval through the root conftest.py) instead.
THREAD_CAP = re.compile(r"set_num_threads\s*\(|set_num_interop_threads\s*\(|threadpool_limits|"
                        r"environ\[?.{0,3}(OMP|MKL|OPENBLAS)_NUM_THREADS")


@pytest.mark.parametrize("path", LECTURES, ids=[p.name for p in LECTURES])
def test_no_lecture_caps_the_students_thread_count(path):
    nb = nbformat.read(path, as_version=4)
    capped = [f"code cell {n}: {m.group(0)}" for n, cell in enumerate(c for c in nb.cells if c.cell_type == "code")
              if (m := THREAD_CAP.search(cell.source))]
    assert not capped, f"{path.name} caps the thread count: {capped}"


# smallest plot a student can read, in pixels: its shorter side and its longer side (tests/browser uses the same)
MIN_SHORT_SIDE, MIN_LONG_SIDE = 60, 200


@pytest.mark.parametrize("path", LECTURES, ids=[p.name for p in LECTURES])
def test_every_stored_plot_is_readable(path):
    """Every figure a lecture stores is a real picture of a size a student can read (from the PNG header: the
    browser tests run only the lectures with widgets, nbval compares outputs, this checks what is shown)."""
    import base64
    import struct

    plots = 0
    for index, cell in enumerate(nbformat.read(path, as_version=4).cells):
        for output in cell.get("outputs", []):
            data = (output.get("data") or {}).get("image/png")
            if not data:
                continue
            png = base64.b64decode(data if isinstance(data, str) else "".join(data))
            assert png[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name}, cell {index}: not a PNG"
            width, height = struct.unpack(">II", png[16:24])
            size = output.get("metadata", {}).get("image/png", {})
            width, height = size.get("width", width), size.get("height", height)
            plots += 1
            assert min(width, height) >= MIN_SHORT_SIDE and max(width, height) >= MIN_LONG_SIDE, (
                f"{path.name}, cell {index}: a {width}x{height} plot is too small to read")
    assert plots, f"{path.name} stores no plot"
