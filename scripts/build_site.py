"""Build the course website (`make site`): the lectures with their stored outputs, the course map, the assignments'
instructions and the library's API reference, as static HTML in _build/html/.

    python scripts/build_site.py [--out DIR]

What goes in, and from where:

* every notebook in lectures/, as stored (outputs and figures; nothing is executed), with each widget replaced by
  its stored state drawn as static HTML (scripts/site_widgets.py), and lectures/SYLLABUS.md with its notebook
  names made into links;
* every notebook of assignments/, the student release that nbgrader generated: no solutions and no hidden tests
  (the build stops if a release notebook holds nbgrader's solution or hidden-test markers). solutions/ is never
  read;
* a course map generated from those folders: each notebook's title (its first heading), its numbered sections,
  and for an assignment its graded cells and points, so the map follows whatever notebooks are stored;
* the API reference of coursekit's public modules, from their docstrings (Sphinx autodoc);
* MathJax from the installed jupyter-server-mathjax package, copied into the site: nothing is loaded from outside
  it when it is built or read.

The tool is Sphinx with MyST-NB (the `site` extra): docs/ holds its configuration, _build/site-src the staged
sources, _build/html the result (all of _build/ is git-ignored). Publish _build/html as it is (see the README).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))

import site_widgets  # noqa: E402

DOCS = ROOT / "docs"
STAGE = ROOT / "_build" / "site-src"
DOCTREES = ROOT / "_build" / "doctrees"
# MyST-NB writes notebook images beside the output folder (its parent's jupyter_execute/): all inside _build/
OUT = ROOT / "_build" / "html"
# markers nbgrader removes when it releases an assignment: their presence means a source notebook, not a release
SOURCE_MARKERS = re.compile(r"^[ \t]*### (BEGIN|END) (SOLUTION|HIDDEN TESTS)", re.M)

# the public modules of the API reference, in the order of the README's library map
API_MODULES = [
    ("NumPy core", ["coursekit.nn.functional", "coursekit.nn", "coursekit.nn.init", "coursekit.optim",
                    "coursekit.gradcheck", "coursekit.arithmetic", "coursekit.variants"]),
    ("PyTorch side", ["coursekit.models", "coursekit.data", "coursekit.train", "coursekit.metrics"]),
    ("Presentation and course", ["coursekit.viz", "coursekit.widgets", "coursekit.gradlab", "coursekit.optimlab",
                                 "coursekit.exercises", "coursekit.grading", "coursekit.threads",
                                 "coursekit.kernel", "coursekit.doctor"]),
]


class ReleaseError(RuntimeError):
    """An assignment notebook that is not a student release (it would publish solutions or hidden tests)."""


# ------------------------------------------------------------------------------------------- reading notebooks
def _source(cell) -> str:
    return "".join(cell.get("source", ""))


def headings(nb: dict, level: int) -> list[str]:
    """The markdown headings of one level, in order (outside code fences)."""
    found, prefix = [], "#" * level + " "
    for cell in nb["cells"]:
        if cell["cell_type"] != "markdown":
            continue
        fenced = False
        for line in _source(cell).splitlines():
            if line.lstrip().startswith("```"):
                fenced = not fenced
            elif not fenced and line.startswith(prefix):
                found.append(line[len(prefix):].strip())
    return found


def title(nb: dict, fallback: str) -> str:
    first = headings(nb, 1)
    return first[0] if first else fallback


def grading_summary(nb: dict) -> tuple[int, float]:
    """(graded cells, points) of a release notebook, from nbgrader's cell metadata."""
    graded = [c["metadata"]["nbgrader"] for c in nb["cells"] if c.get("metadata", {}).get("nbgrader", {}).get("grade")]
    return len(graded), sum(float(m.get("points") or 0) for m in graded)


def check_release(nb: dict, path: Path) -> None:
    """Refuse a notebook with nbgrader's source markers: the site publishes the student release only."""
    for index, cell in enumerate(nb["cells"]):
        if SOURCE_MARKERS.search(_source(cell)):
            raise ReleaseError(f"{path} cell {index} holds an nbgrader solution or hidden-test marker: it is not a "
                               "student release (run `coursekit release`), and the site would publish it")


# ------------------------------------------------------------------------------------------- staging
def _read(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _write(path: Path, nb: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def _points(points: float) -> str:
    return f"{points:g} point{'s' if points != 1 else ''}"


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def stage_lectures(stage: Path) -> list[dict]:
    pages = []
    for path in sorted((ROOT / "lectures").glob("*.ipynb")):
        nb = _read(path)
        widgets = site_widgets.staticize(nb)
        _write(stage / "lectures" / path.name, nb)
        pages.append({"doc": f"lectures/{path.stem}", "file": f"lectures/{path.name}", "title": title(nb, path.stem),
                      "sections": headings(nb, 2), "widgets": widgets})
    syllabus = ROOT / "lectures" / "SYLLABUS.md"
    if syllabus.is_file():
        names = {p.name for p in (ROOT / "lectures").glob("*.ipynb")}
        text = re.sub(r"`([^`/]+\.ipynb)`", lambda m: f"[{m.group(1)}]({m.group(1)})" if m.group(1) in names
                      else m.group(0), syllabus.read_text(encoding="utf-8"))
        (stage / "lectures" / "syllabus.md").write_text(text, encoding="utf-8")
    return pages


def stage_assignments(stage: Path) -> list[dict]:
    pages = []
    for path in sorted((ROOT / "assignments").glob("*/*.ipynb")):
        nb = _read(path)
        check_release(nb, path)
        rel = path.relative_to(ROOT / "assignments")
        _write(stage / "assignments" / rel, nb)
        cells, points = grading_summary(nb)
        pages.append({"doc": f"assignments/{rel.with_suffix('').as_posix()}", "file": f"assignments/{rel.as_posix()}",
                      "title": title(nb, rel.parent.name), "sections": headings(nb, 2), "graded": cells,
                      "points": points})
    return pages


def course_map(lectures: list[dict], assignments: list[dict], has_syllabus: bool) -> str:
    lines = ["# coursekit: convolutional networks for vision", "",
             "A university course on convolutional neural networks for computer vision: lectures that build every "
             "layer of a CNN from its formula, with plots and widgets, and assignments graded automatically. This "
             "site shows the lectures as they were last run, with their outputs and figures, and the assignments "
             "as students receive them. To run and change them, clone the repository and open them in JupyterLab "
             "(`make lab`).", "",
             "## Lectures", "", "| | sections |", "|---|---|"]
    for page in lectures:
        sections = "; ".join(_md_escape(s) for s in page["sections"]) or "&nbsp;"
        lines.append(f"| [{_md_escape(page['title'])}]({page['file']}) | {sections} |")
    lines += ["", "## Assignments", "",
              "The student release: the instructions, the code to complete and the tests you can run yourself "
              "(hidden tests stay with the grader). Check your work with `coursekit check NOTEBOOK` or Validate "
              "in JupyterLab.", "", "| | graded | sections |", "|---|---|---|"]
    for page in assignments:
        sections = "; ".join(_md_escape(s) for s in page["sections"]) or "&nbsp;"
        lines.append(f"| [{_md_escape(page['title'])}]({page['file']}) | {page['graded']} cells, "
                     f"{_points(page['points'])} | {sections} |")
    if has_syllabus:
        lines += ["", "The [syllabus map](lectures/syllabus.md) lists every topic of the slides with the lecture "
                  "section that teaches it."]
    lines += ["", "The [API reference](api/index.md) documents the library the lectures and assignments use.", ""]
    toc = [("Lectures", [p["file"] for p in lectures] + (["lectures/syllabus.md"] if has_syllabus else [])),
           ("Assignments", [p["file"] for p in assignments]), ("Library", ["api/index.md"])]
    for caption, entries in toc:
        lines += ["```{toctree}", ":hidden:", f":caption: {caption}", "", *entries, "```", ""]
    return "\n".join(lines)


def api_pages(stage: Path) -> None:
    folder = stage / "api"
    folder.mkdir(parents=True, exist_ok=True)
    index = ["# API reference", "",
             "coursekit's public modules, from their docstrings. Shapes follow PyTorch (NCHW); the NumPy core needs "
             "numpy alone, the PyTorch side the `torch` extra, the presentation modules the `course` extra.", ""]
    for group, modules in API_MODULES:
        index += [f"## {group}", ""]
        for module in modules:
            index.append(f"- [{module}]({module}.md)")
            (folder / f"{module}.md").write_text(
                f"# {module}\n\n```{{eval-rst}}\n.. automodule:: {module}\n```\n", encoding="utf-8")
        index.append("")
    index += ["```{toctree}", ":hidden:", "", *[f"{m}.md" for _, ms in API_MODULES for m in ms], "```", ""]
    (folder / "index.md").write_text("\n".join(index), encoding="utf-8")


def stage_mathjax(stage: Path) -> None:
    try:
        import jupyter_server_mathjax
    except ImportError:
        raise SystemExit("the site needs jupyter-server-mathjax (MathJax served from the site itself): "
                         "pip install -e '.[site]'") from None
    source = Path(jupyter_server_mathjax.__file__).parent / "static"
    shutil.copytree(source, stage / "_mathjax" / "mathjax",
                    ignore=shutil.ignore_patterns("localization", "*.md", "unpacked"))


def stage(stage_dir: Path = STAGE) -> dict:
    """Write the site's sources into stage_dir; returns what was staged (for the build's summary)."""
    if stage_dir.exists():
        shutil.rmtree(stage_dir)
    shutil.copytree(DOCS, stage_dir)
    lectures = stage_lectures(stage_dir)
    assignments = stage_assignments(stage_dir)
    has_syllabus = (stage_dir / "lectures" / "syllabus.md").is_file()
    (stage_dir / "index.md").write_text(course_map(lectures, assignments, has_syllabus), encoding="utf-8")
    api_pages(stage_dir)
    stage_mathjax(stage_dir)
    return {"lectures": lectures, "assignments": assignments}


def build(out: Path = OUT, stage_dir: Path = STAGE, quiet: bool = True, doctrees: Path = DOCTREES) -> dict:
    """Stage the sources and run Sphinx: the site in out. Returns what was staged and the seconds it took."""
    started = time.perf_counter()
    staged = stage(stage_dir)
    if doctrees.exists():  # a fresh build every time: the notebooks may have changed under the same names
        shutil.rmtree(doctrees)
    if out.exists():
        shutil.rmtree(out)
    env = dict(os.environ, COURSEKIT_ROOT=str(ROOT), PYTHONPATH=str(ROOT))
    env.setdefault("MPLBACKEND", "Agg")
    cmd = [sys.executable, "-m", "sphinx", "-b", "html", "-d", str(doctrees), "-j", "1", str(stage_dir), str(out)]
    if quiet:
        cmd.insert(3, "-q")
    done = subprocess.run(cmd, env=env, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"sphinx-build failed ({done.returncode})")
    (out / ".nojekyll").touch()  # GitHub Pages: serve _static/ and _images/ as they are
    staged["seconds"] = time.perf_counter() - started
    return staged


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(OUT), help="where the site goes (default: _build/html)")
    parser.add_argument("--verbose", action="store_true", help="Sphinx's progress lines too")
    args = parser.parse_args(argv)
    out = Path(args.out).resolve()
    staged = build(out, quiet=not args.verbose)
    widgets = sum(p["widgets"] for p in staged["lectures"])
    print(f"site: {len(staged['lectures'])} lectures ({widgets} widgets shown as stored), "
          f"{len(staged['assignments'])} assignments, API reference -> {out}/index.html "
          f"({staged['seconds']:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
