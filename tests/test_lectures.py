"""The lectures as stored: every syllabus topic mapped to a section that exists, outputs fresh, files small, and
metadata that JupyterLab does not rewrite on opening. (nbval, in `make test`, re-runs them and compares outputs.)"""

import importlib.util
import re
from pathlib import Path

import nbformat
import pytest

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
    assert info.get("name") == "python" and info.get("version") and info.get("codemirror_mode"), info
