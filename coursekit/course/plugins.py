"""nbgrader plugins of the grader's process: normalise a submission, run it walled off, decide grades from data.

Wired in by ``course/nbgrader_config.py``:

* ``NormaliseNotebook`` (sanitize stage, before nbgrader's ``OverwriteCells``): compares the submission with the
  release. Cells whose grade_id the release does not know, and every copy of an id but the one graded (the one
  whose Jupyter cell id is the release's, else the last: ``graded_copies``), become ordinary cells (their code
  still runs); each graded or read-only cell gets the release's metadata and cell type back; deleted ones are
  put back where they were. A test cell whose code was edited is marked: OverwriteCells restores the
  instructor's code, it runs as written, and the edit is reported (in the cell's feedback and as a comment in
  the gradebook); it scores 0 only if the course says so (``edited_test_scores_zero``).
* ``ExecuteAndJudge`` (autograde stage, in place of nbgrader's ``Execute``): prepares the hidden-test cases of
  every test cell that has a check (``course/checks/<assignment>.py``), runs the notebook in a sandboxed kernel on
  a private scratch folder with the assignment's view of coursekit, enforces per-cell limits in CPU seconds, then
  throws away whatever the kernel printed in those test cells and writes the judge's verdict as their output.
* ``ReportEdits`` (after ``SaveAutoGrades``): the gradebook comment for edited test cells.
* ``HideTestCode`` (feedback): hidden test regions are cut from the source and their text redacted from every
  output; error outputs keep their message only.
* Every graded notebook is made passive (``make_passive``) after the run and again for feedback: only text, PNG and
  JPEG outputs, streams and errors; raw HTML in student-written markdown and raw cells escaped.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
from pathlib import Path

import nbformat
from nbgrader.preprocessors import ClearHiddenTests, NbGraderPreprocessor
from traitlets import Bool, Float, Integer, Unicode, default

__all__ = ["cell_timeout", "load_timeouts", "NormaliseNotebook", "ExecuteAndJudge", "ReportEdits", "HideTestCode",
           "release_differences", "RESTORED_CELL_NOTICE", "EDITED_KEY", "verdict_outputs", "RELEASE_HISTORY",
           "record_release", "load_release_history", "release_from_gradebook", "kernel_problem"]

EDITED_KEY = "coursekit_edited"
COURSE_DIR = Path(__file__).resolve().parents[2] / "course"
RESTORED_CELL_NOTICE = "# (cell {cell_id} was missing from the submission and was restored by the grader)\n"
RELEASE_HISTORY = "release_history.json"  # in the course directory, written by every `coursekit release`


# -------------------------------------------------------------------------------------------- time limits
def load_timeouts(path: str | os.PathLike | None = None) -> dict:
    """The per-cell CPU-second table: path, else $COURSEKIT_TIMEOUTS; where that is set but empty, a table of
    $COURSEKIT_DEFAULT_TIMEOUT seconds for every cell (a course without a timeouts.json: the pipeline passes its
    configured nbgrader timeout); else coursekit's own course/timeouts.json."""
    if not path and os.environ.get("COURSEKIT_TIMEOUTS") == "" and os.environ.get("COURSEKIT_DEFAULT_TIMEOUT"):
        seconds = float(os.environ["COURSEKIT_DEFAULT_TIMEOUT"])
        if seconds <= 0:
            raise ValueError(f"COURSEKIT_DEFAULT_TIMEOUT must be a positive number of seconds, not {seconds}")
        return {"default": seconds, "cells": {}}
    path = Path(path) if path else Path(os.environ.get("COURSEKIT_TIMEOUTS") or COURSE_DIR / "timeouts.json")
    with open(path) as f:
        table = json.load(f)
    if not isinstance(table.get("default"), (int, float)) or table["default"] <= 0:
        raise ValueError(f"{path}: 'default' must be a positive number of seconds")
    return table


_TIMEOUTS: dict | None = None


def cell_timeout(cell, table: dict | None = None) -> int:
    """CPU seconds a cell may use (the kernel's whole process tree): its grade_id's entry in timeouts.json (or
    table), else the default. Load on the machine does not change how much CPU time a cell needs, so grades do not
    either."""
    global _TIMEOUTS
    if table is None:
        if _TIMEOUTS is None:
            _TIMEOUTS = load_timeouts()
        table = _TIMEOUTS
    grade_id = (cell.get("metadata", {}).get("nbgrader", {}) or {}).get("grade_id")
    return int(table.get("cells", {}).get(grade_id, table["default"]))


def wall_backstop_seconds(cell, table: dict | None = None) -> int:
    """Wall-clock seconds after which a cell is given up whatever its CPU use (a kernel that sleeps or waits)."""
    return 4 * cell_timeout(cell, table) + 60


def wall_backstop(cell) -> int:
    """nbclient's timeout_func: wall_backstop_seconds with the course's timeouts.json."""
    return wall_backstop_seconds(cell)


# ------------------------------------------------------------------------------------------ normalisation
_GRADING_KEYS = ("grade", "solution", "locked", "points", "grade_id")


def _meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def _is_test(cell) -> bool:
    meta = _meta(cell)
    return bool(meta.get("grade")) and not meta.get("solution")


def _is_readonly(cell) -> bool:
    meta = _meta(cell)
    return bool(meta.get("locked")) and not meta.get("grade") and not meta.get("solution")


def graded_copies(nb, release) -> dict:
    """grade_id -> the index in nb.cells of the copy that is graded, for every grade_id the release knows.

    A pasted copy of a cell keeps its nbgrader metadata but gets a new Jupyter cell id: the copy whose cell id is
    the release's is the original; without one, the last copy (a test comes after the answer it tests, so a copy
    pasted above it is not the one that should run last)."""
    released = {_meta(c)["grade_id"]: c for c in release.cells if _meta(c).get("grade_id")}
    copies: dict = {}
    for index, cell in enumerate(nb.cells):
        grade_id = _meta(cell).get("grade_id")
        if grade_id in released and "nbgrader" in cell.get("metadata", {}):
            copies.setdefault(grade_id, []).append(index)
    chosen = {}
    for grade_id, indices in copies.items():
        release_id = released[grade_id].get("id")
        same_id = [i for i in indices if release_id and nb.cells[i].get("id") == release_id]
        chosen[grade_id] = same_id[0] if same_id else indices[-1]
    return chosen


# ----------------------------------------------------------------------------------------- release history
def source_digest(source: str) -> str:
    import hashlib

    return "sha256:" + hashlib.sha256(source.encode("utf-8")).hexdigest()


def load_release_history(path) -> dict:
    """{assignment: {notebook name (no .ipynb): {grade_id: [digest, ...]}}} of every version released; {} when the
    course has none yet."""
    try:
        with open(path) as f:
            data = json.load(f)
    except FileNotFoundError:
        return {}
    if not isinstance(data, dict) or not isinstance(data.get("assignments"), dict):
        raise ValueError(f"{path}: not a coursekit release history (no 'assignments' mapping)")
    return data["assignments"]


def record_release(path, assignment: str, release_folder) -> None:
    """Add the test and read-only cells of a released assignment to the course's release history, so a cell equal
    to any version the instructor published is never taken for a student's edit (a test fixed after release then
    runs, fixed, for everyone). Written atomically; earlier versions are kept."""
    path = Path(path)
    history = load_release_history(path)
    notebooks = history.setdefault(assignment, {})
    for released in sorted(Path(release_folder).glob("*.ipynb")):
        cells = notebooks.setdefault(released.stem, {})
        for cell in nbformat.read(released, as_version=4).cells:
            grade_id = _meta(cell).get("grade_id")
            if grade_id and (_is_test(cell) or _is_readonly(cell)):
                digests = cells.setdefault(grade_id, [])
                if source_digest(cell.source) not in digests:
                    digests.append(source_digest(cell.source))
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps({"format": 1, "assignments": history}, indent=1, sort_keys=True) + "\n")
    os.replace(partial, path)


def release_from_gradebook(db_url: str, assignment: str, notebook: str):
    """The released notebook as the gradebook records it (for grading once the release folder is gone): its
    graded, solution, task and read-only cells in the release's order, with their nbgrader metadata, and its
    kernelspec. Other cells are not recorded, so they are absent."""
    import warnings

    from nbgrader.api import Gradebook

    warnings.filterwarnings("ignore", module="nbgrader.api")
    with Gradebook(db_url) as gb:
        record = gb.find_notebook(notebook, assignment)
        points = {c.name: c.max_score for c in record.grade_cells}
        tasks = {c.name: c.max_score for c in record.task_cells}
        solutions = {c.name for c in record.solution_cells}
        cells = []
        # in the order nbgrader recorded them (the release's; ids are random, not a sequence)
        for source in record.source_cells:
            meta = {"grade": source.name in points, "solution": source.name in solutions, "locked": bool(source.locked),
                    "grade_id": source.name, "schema_version": 3}
            if source.name in points:
                meta["points"] = points[source.name]
            if source.name in tasks:
                meta.update(task=True, points=tasks[source.name])
            maker = {"code": nbformat.v4.new_code_cell, "raw": nbformat.v4.new_raw_cell}.get(
                source.cell_type, nbformat.v4.new_markdown_cell)
            cell = maker(source.source)
            cell.metadata["nbgrader"] = meta
            cells.append(cell)
        nb = nbformat.v4.new_notebook(cells=cells)
        if record.kernelspec:
            nb.metadata["kernelspec"] = json.loads(record.kernelspec)
    return nb


def kernel_problem(nb) -> str | None:
    """Why coursekit cannot grade this notebook's kernel (None for Python): its sandbox, limits and hidden checks
    are Python's."""
    spec = nb.get("metadata", {}).get("kernelspec") or {}
    language = spec.get("language") or (nb.get("metadata", {}).get("language_info") or {}).get("name") or "python"
    if str(language).lower() in ("python", "python3"):
        return None
    kernel = spec.get("display_name") or spec.get("name") or language
    return (f"it runs on the {kernel!r} kernel ({language}); coursekit grades notebooks on Python kernels only, "
            "so nothing was graded")


def release_differences(nb, release, history: dict | None = None) -> list[dict]:
    """Test and read-only cells of the release that the notebook lacks or changed (the copy graded_copies picks).
    history: {grade_id: digests of earlier released versions} (``load_release_history``); a cell equal to one of
    them was not changed by the student.

    Returns one {"grade_id", "kind" ("test" or "read-only"), "reasons" (list of str, empty when missing),
    "missing" (bool)} per such cell. Both the grader and `coursekit check` use this, so they agree.
    """
    history = history or {}
    mine = {grade_id: nb.cells[index] for grade_id, index in graded_copies(nb, release).items()}
    found = []
    for original in release.cells:
        grade_id = _meta(original).get("grade_id")
        if grade_id is None or not (_is_test(original) or _is_readonly(original)):
            continue
        kind = "test" if _is_test(original) else "read-only"
        cell = mine.get(grade_id)
        if cell is None:
            found.append({"grade_id": grade_id, "kind": kind, "reasons": [], "missing": True})
            continue
        reasons = []
        if cell.source != original.source and source_digest(cell.source) not in history.get(grade_id, ()):
            reasons.append("its code was edited")
        if {k: _meta(cell).get(k) for k in _GRADING_KEYS} != {k: _meta(original).get(k) for k in _GRADING_KEYS} \
                or cell.cell_type != original.cell_type:
            reasons.append("its grading metadata was changed")
        if reasons:
            found.append({"grade_id": grade_id, "kind": kind, "reasons": reasons, "missing": False})
    return found


def normalise(nb, release, log=None, history: dict | None = None) -> list[str]:
    """Make nb's graded structure the release's, in place; returns the grade_ids of test cells whose code was
    edited (each also marked with EDITED_KEY in its metadata). history: {grade_id: digests of every released
    version} (``load_release_history``): a test cell equal to an earlier release is not an edit; like every test
    cell, it runs as the current release has it."""
    history = history or {}

    def warn(*args):
        if log:
            log.warning(*args)

    released = {_meta(c)["grade_id"]: c for c in release.cells if _meta(c).get("grade_id")}
    chosen = graded_copies(nb, release)
    edited = []
    for index, cell in enumerate(nb.cells):
        meta = _meta(cell)
        grade_id = meta.get("grade_id")
        if "nbgrader" in cell.get("metadata", {}) and chosen.get(grade_id) != index:
            # a copied cell (Jupyter keeps its id), a duplicate, or an id the release does not know: an ordinary
            # cell from now on, whose code still runs
            warn("Cell with nbgrader id %r is unknown or a duplicate: graded as an ordinary cell", grade_id)
            cell.metadata.pop("nbgrader", None)
            cell.metadata.pop(EDITED_KEY, None)
            continue
        if grade_id is None:
            cell.metadata.pop(EDITED_KEY, None)
            continue
        original = released[grade_id]
        if _is_test(original) and cell.source != original.source \
                and source_digest(cell.source) not in history.get(grade_id, ()):
            edited.append(grade_id)
            cell.metadata[EDITED_KEY] = True
        else:
            cell.metadata.pop(EDITED_KEY, None)
        if cell.cell_type != original.cell_type:
            warn("Cell %s had its type changed: restored", grade_id)
            cell.cell_type = original.cell_type
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
            else:
                cell.pop("outputs", None)
                cell.pop("execution_count", None)
        cell.metadata["nbgrader"] = json.loads(json.dumps(original.metadata["nbgrader"]))
        if _is_readonly(original) or _is_test(original):
            cell.source = original.source  # OverwriteCells puts the hidden tests back into test cells
    # deleted cells come back after their predecessor in the release
    position = 0
    present = {_meta(c).get("grade_id"): c for c in nb.cells if _meta(c).get("grade_id")}
    for original in release.cells:
        grade_id = _meta(original).get("grade_id")
        if grade_id is None:
            continue
        if grade_id in present:
            position = nb.cells.index(present[grade_id]) + 1
            continue
        restored = nbformat.from_dict(json.loads(json.dumps(original)))
        if restored.cell_type == "code":
            restored.outputs, restored.execution_count = [], None
        nb.cells.insert(position, restored)
        present[grade_id] = restored
        position += 1
        warn("Cell %s was missing from the submission and has been restored", grade_id)
    return edited


class NormaliseNotebook(NbGraderPreprocessor):
    """Normalise the submitted notebook against the release before anything else runs (see module docstring)."""

    release_directory = Unicode(
        "", help="Folder of the released notebooks, one subfolder per assignment (default: the course's). A "
        "notebook missing there is rebuilt from the gradebook's record of the release."
    ).tag(config=True)
    release_history = Unicode(
        "", help=f"The course's {RELEASE_HISTORY} (default: beside the release folder's course/)").tag(config=True)

    def preprocess(self, nb, resources):
        assignment = resources["nbgrader"]["assignment"]
        notebook = resources["nbgrader"]["notebook"]
        root = Path(self.release_directory) if self.release_directory else COURSE_DIR.parent / "assignments"
        path = root / assignment / f"{notebook}.ipynb"
        if path.is_file():
            release = nbformat.read(path, as_version=4)
        else:
            self.log.warning("%s is gone: normalising against the gradebook's record of the release", path)
            release = release_from_gradebook(resources["nbgrader"]["db_url"], assignment, notebook)
        history_path = Path(self.release_history) if self.release_history else COURSE_DIR / RELEASE_HISTORY
        versions = {k: set(v) for k, v in load_release_history(history_path).get(assignment, {}).get(
            notebook, {}).items()}
        try:  # the gradebook's record is a released version too (e.g. a release made by stock nbgrader)
            recorded = release_from_gradebook(resources["nbgrader"]["db_url"], assignment, notebook)
            for cell in recorded.cells:
                versions.setdefault(_meta(cell)["grade_id"], set()).add(source_digest(cell.source))
        except Exception:  # noqa: BLE001 - no record yet: the history file and the release are all there is
            pass
        for grade_id in normalise(nb, release, self.log, versions):
            self.log.warning("Test cell %s was edited in the submission: it runs as the instructor wrote it",
                             grade_id)
        return nb, resources


# ------------------------------------------------------------------------------------------------ verdicts
def verdict_outputs(verdict, points: float, edited: bool = False, edited_scores_zero: bool = False) -> list:
    """The outputs that make nbgrader give ``verdict.score`` of ``points``: a message on stdout, a numeric
    execute_result for partial credit, an error output for none."""
    from .checks import Verdict

    if edited and edited_scores_zero:
        verdict = Verdict(0.0, "this test cell was edited in the submitted notebook, which this course scores 0. "
                          + verdict.message)
    outputs = []
    if edited:
        outputs.append(nbformat.v4.new_output("stream", name="stdout", text=(
            "Note: this test cell was edited in the submitted notebook; the grader ran it as the instructor wrote "
            "it.\n")))
    score = round(verdict.score * points, 6)
    if verdict.score <= 0:
        outputs.append(nbformat.v4.new_output("error", ename="HiddenTestFailed", evalue=verdict.message,
                                              traceback=[f"HiddenTestFailed: {verdict.message}"]))
        return outputs
    outputs.append(nbformat.v4.new_output("stream", name="stdout", text=verdict.message.rstrip("\n") + "\n"))
    if verdict.score < 1:
        outputs.append(nbformat.v4.new_output("execute_result", data={"text/plain": repr(float(score))},
                                              execution_count=None))
    return outputs


_HIDDEN_REGION = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS.*?^[ \t]*### END HIDDEN TESTS[^\n]*\n?", re.M | re.S)


def _without_hidden_tests(nb):
    copy = nbformat.from_dict(json.loads(json.dumps(nb)))
    for cell in copy.cells:
        if _is_test(cell):
            cell.source = _HIDDEN_REGION.sub("", cell.source)
    return copy


# ------------------------------------------------------------------------------------- passive notebooks
# What a graded notebook may keep: the formgrader and the feedback render it in the instructor's browser, in the
# origin of their Jupyter server, so nothing a kernel or a student wrote may become live HTML or script there.
PASSIVE_MIMETYPES = ("text/plain", "image/png", "image/jpeg")
_PASSIVE_OUTPUT_TYPES = ("stream", "error", "execute_result", "display_data")
_ENTITY = re.compile(r"&(?=#?[0-9A-Za-z]+;)")
_SCRIPT_SCHEME = re.compile(r"(?i)(j\s*a\s*v\s*a|v\s*b)\s*s\s*c\s*r\s*i\s*p\s*t\s*:|d\s*a\s*t\s*a\s*:\s*text/html")


def passive_markdown(source: str) -> str:
    """Markdown without raw HTML: character entities decoded first (so none can hide a URL scheme), script-running
    link schemes defused, then every ``<`` and any ``&`` that would start an entity escaped (a renderer shows them
    as text: no tag, handler, style, iframe or object survives)."""
    import html

    for _ in range(8):
        decoded = html.unescape(source)
        if decoded == source:
            break
        source = decoded
    source = _SCRIPT_SCHEME.sub(lambda m: "blocked-" + re.sub(r"\s+", "", m.group(0)).replace(":", "-"), source)
    return _ENTITY.sub("&amp;", source).replace("<", "&lt;")


def passive_outputs(outputs) -> list:
    """Only passive outputs: streams, errors, and results/displays reduced to text/plain, PNG and JPEG."""
    kept = []
    for output in outputs or []:
        kind = output.get("output_type")
        if kind not in _PASSIVE_OUTPUT_TYPES:
            continue
        if kind in ("stream", "error"):
            kept.append(output)
            continue
        data = {k: v for k, v in (output.get("data") or {}).items() if k in PASSIVE_MIMETYPES}
        if not data:
            if kind != "execute_result":
                continue
            data = {"text/plain": "[coursekit: rich output removed by the grader]"}
        output["data"] = data
        metadata = output.get("metadata") or {}
        output["metadata"] = {k: v for k, v in metadata.items() if k in data and isinstance(v, dict)}
        kept.append(output)
    return kept


def make_passive(nb) -> None:
    """In place: the notebook as safe to render in the instructor's browser (outputs of every cell passive, raw
    HTML of student-written markdown and raw cells escaped, widget state and non-image attachments dropped).
    Read-only cells keep their source, which normalisation restored from the release."""
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = passive_outputs(cell.get("outputs"))
            continue
        if cell.cell_type == "raw":  # nbconvert's HTML writes raw cells out verbatim
            for key in ("raw_mimetype", "format"):
                cell.metadata.pop(key, None)
        if "attachments" in cell:
            attachments = {}
            for name, bundle in (cell.attachments or {}).items():
                bundle = {k: v for k, v in (bundle or {}).items() if k in ("image/png", "image/jpeg")}
                if bundle:
                    attachments[name] = bundle
            cell["attachments"] = attachments
        if _is_readonly(cell):
            continue
        cell.source = passive_markdown(cell.source)


# ------------------------------------------------------------------------------------- hidden-test text
REDACTED = "[hidden test code redacted]"
_MIN_SECRET_LINE = 12  # shorter lines (``)``, ``else:``, ``x = f(a)``) say nothing and would redact innocent text


def hidden_texts(nb) -> list[str]:
    """The texts feedback must not show: each hidden region of every test cell, whole, and its non-trivial lines
    (stripped, at least _MIN_SECRET_LINE characters, not a delimiter or a bare comment marker); longest first."""
    found = set()
    for cell in nb.cells:
        if not _is_test(cell):
            continue
        for match in _HIDDEN_REGION.finditer(cell.source):
            region = match.group(0)
            found.add(region.strip("\n"))
            for line in region.splitlines():
                line = line.strip()
                if len(line) >= _MIN_SECRET_LINE and "HIDDEN TESTS" not in line:
                    found.add(line)
    return sorted((t for t in found if t.strip()), key=len, reverse=True)


def _redact(text, secrets_):
    if isinstance(text, list):
        return [_redact(t, secrets_) for t in text]
    if not isinstance(text, str):
        return text
    for secret in secrets_:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def redact_outputs(outputs, secrets_) -> None:
    """In place: every occurrence of each of secrets_ in the outputs' text (streams, errors, text data) replaced."""
    if not secrets_:
        return
    for output in outputs:
        if output.get("output_type") == "stream":
            output["text"] = _redact(output.get("text", ""), secrets_)
        elif output.get("output_type") == "error":
            output["ename"] = _redact(output.get("ename", ""), secrets_)
            output["evalue"] = _redact(output.get("evalue", ""), secrets_)
            output["traceback"] = _redact(output.get("traceback", []), secrets_)
        for mimetype, value in list((output.get("data") or {}).items()):
            if isinstance(value, (str, list)):
                output["data"][mimetype] = _redact(value, secrets_)


def max_message_bytes() -> int:
    from .sandbox import max_message_bytes as limit

    return limit()


# ---------------------------------------------------------------------------------------- process CPU time
_TICKS = os.sysconf("SC_CLK_TCK")


def _tree_cpu_seconds(root_pid: int) -> float:
    """CPU seconds used by root_pid and all its descendants (live ones, plus the children they have reaped)."""
    total, stack, seen = 0.0, [root_pid], set()
    while stack:
        pid = stack.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += sum(int(v) for v in fields[11:15]) / _TICKS  # utime stime cutime cstime
            for task in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{task}/children") as f:
                    stack.extend(int(c) for c in f.read().split())
        except (OSError, ValueError, IndexError):
            continue
    return total


_PAGE = os.sysconf("SC_PAGE_SIZE")


def _tree_pids(root_pid: int) -> list[int]:
    found, stack = [], [root_pid]
    while stack:
        pid = stack.pop()
        if pid in found:
            continue
        found.append(pid)
        try:
            for task in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{task}/children") as f:
                    stack.extend(int(c) for c in f.read().split())
        except (OSError, ValueError):
            continue
    return found


def _tree_memory_bytes(root_pid: int) -> int:
    """Private resident memory (anonymous pages: what a process allocated, not the libraries it maps) of root_pid
    and all its descendants. RLIMIT_AS bounds each process; this bounds them together, which neither the number
    of processes times their address space (64 x 4 GiB) nor, here, a cgroup does."""
    total = 0
    for pid in _tree_pids(root_pid):
        try:
            with open(f"/proc/{pid}/statm") as f:
                fields = f.read().split()
            total += max(0, int(fields[1]) - int(fields[2])) * _PAGE  # resident - file-backed/shared
        except (OSError, ValueError, IndexError):
            continue
    return total


def _folder_bytes(path: Path, limit_entries: int = 100_000) -> int:
    total, count = 0, 0
    for folder, dirs, files in os.walk(path):
        for name in files + dirs:
            count += 1
            if count > limit_entries:
                return 1 << 62  # a flood of entries counts as over any quota
            try:
                total += os.lstat(os.path.join(folder, name)).st_blocks * 512
            except OSError:
                pass
    return total


try:
    from nbgrader.preprocessors import Execute as _Execute
except ImportError:  # pragma: no cover - nbgrader is a course dependency
    _Execute = object


class ExecuteAndJudge(_Execute):
    """nbgrader's Execute with the kernel walled off and every checked test cell judged in this process.

    * Cases: for each test cell with a check, the check runs here with a secret per-student seed; its cases go
      into the scratch folder's ``.grading/cases``; its judge stays here.
    * The kernel runs in the bubblewrap sandbox (``coursekit.course.sandbox``) on a private scratch folder holding
      a copy of the notebook only, with the assignment's view of coursekit and, for a NumPy-only assignment, no
      torch; no package the assignment's KERNEL_EXCLUDES names. Nothing is copied back from the scratch folder
      except the answers, read without following links.
    * Limits: each cell may use its CPU seconds from timeouts.json (the kernel's whole process tree; without one,
      the course's configured nbgrader timeout), with a wall-clock backstop; per cell ``max_output_bytes`` of text
      (streams, errors, text/plain) and, counted apart, ``max_display_bytes`` of rich display data (images, HTML,
      ...: a cell full of plots is not text); ``scratch_bytes`` of files in the scratch folder. A kernel over a
      limit is interrupted, then killed; a dead kernel fails the cells that did not run.
    * Judging: after the run, each checked test cell's outputs (whatever the kernel printed or displayed there)
      are replaced by the verdict (``verdict_outputs``). Unchecked test cells are graded the nbgrader way.
    """

    max_output_bytes = Integer(1 << 20, help="Text output (streams, errors, text/plain) kept per cell; beyond it "
                               "the kernel is interrupted.").tag(config=True)
    max_display_bytes = Integer(16 << 20, help="Rich display data (every mimetype but text/plain: images, HTML, "
                                "...) kept per cell; beyond it the kernel is interrupted.").tag(config=True)
    scratch_bytes = Integer(512 << 20, help="Disk the kernel may fill in its scratch folder.").tag(config=True)
    edited_test_scores_zero = Bool(False, help="An edited test cell scores 0 (default: it runs as the instructor "
                                   "wrote it and keeps what it earns).").tag(config=True)
    tree_memory_bytes = Integer(
        int(os.environ.get("COURSEKIT_TREE_MEMORY_BYTES") or (8 << 30)),
        help="Private memory the kernel's whole process tree may hold (checked 4 times a second); beyond it the "
             "kernel is killed. RLIMIT_AS (COURSEKIT_MEMORY_BYTES) still bounds each process.").tag(config=True)
    cpu_grace = Float(5.0, help="CPU seconds after an interrupt before the kernel is killed.").tag(config=True)
    course_directory = Unicode("", help="The course folder (checks/, grading_secret); default: the course's."
                               ).tag(config=True)
    student_override = Unicode("", help="Seed the checks as this student (coursekit check)").tag(config=True)
    require_sandbox = Bool(True, help="Refuse to run without bubblewrap unless COURSEKIT_NO_SANDBOX=1 (coursekit "
                           "check, on a student's machine, runs without one)").tag(config=True)
    _scratch: Path | None = None

    @default("timeout_func")
    def _wall_backstop_by_default(self):
        return wall_backstop

    # -- output limits
    def output(self, outs, msg, display_id, cell_index):
        content = msg.get("content", {})
        size = len(json.dumps(content, default=str))
        data = content.get("data") if isinstance(content, dict) else None
        rich = sum(len(json.dumps(v, default=str)) for k, v in data.items() if k != "text/plain") \
            if isinstance(data, dict) else 0
        self._output_bytes = getattr(self, "_output_bytes", 0) + size - rich
        self._display_bytes = getattr(self, "_display_bytes", 0) + rich
        over = [(what, limit) for what, used, limit in (
            ("text output", self._output_bytes, self.max_output_bytes),
            ("display data", self._display_bytes, self.max_display_bytes)) if used > limit]
        if over:
            if not getattr(self, "_output_cut", False):
                self._output_cut = True
                what, limit = over[0]
                outs.append(nbformat.v4.new_output(
                    "stream", name="stdout",
                    text=f"\n[coursekit: {what} limit of {limit:,} bytes reached; the kernel was "
                         "interrupted and further output dropped]\n"))
                self.log.warning("Output limit reached in cell %s; interrupting the kernel", cell_index)
                asyncio.ensure_future(self.km.interrupt_kernel())
            return None
        return super().output(outs, msg, display_id, cell_index)

    # -- per-cell limits in CPU seconds
    def _kernel_pid(self):
        provisioner = getattr(self.km, "provisioner", None)
        process = getattr(provisioner, "process", None)
        return getattr(process, "pid", None)

    async def _watch(self, cell, state):
        pid = self._kernel_pid()
        if pid is None:
            return
        limit = cell_timeout(cell)
        start = _tree_cpu_seconds(pid)
        interrupted_at = None
        dropped = getattr(self.kc, "dropped", None)
        if dropped is not None:
            dropped()  # disconnections from before this cell are not its doing
        while True:
            await asyncio.sleep(0.25)
            used = _tree_cpu_seconds(pid) - start
            state["cpu"] = used
            lost = dropped() if dropped is not None else []
            if lost and not await self._alive():
                lost = []  # a kernel that died drops its connections too: nbclient reports that one
            for channel in set(lost):
                self.kc.reconnect(channel)
            if lost and not state.get("oversized"):
                # a message over the size limit was dropped at the socket: the cell cannot be judged on what
                # arrived, so it stops here like one over its output limit
                state["oversized"] = True
                self.log.warning("Cell %s sent a message over %s bytes: interrupting", state["index"],
                                 max_message_bytes())
                try:
                    await self.km.interrupt_kernel()
                except Exception:  # noqa: BLE001 - a kernel that is already gone
                    pass
            if _tree_memory_bytes(pid) > self.tree_memory_bytes and not state.get("memory"):
                state["memory"] = True
                self.log.warning("The kernel's processes hold more than %s bytes together: killed",
                                 self.tree_memory_bytes)
                self._kill_kernel(pid)
                return
            if self._scratch and _folder_bytes(self._scratch) > self.scratch_bytes and not state.get("disk"):
                state["disk"] = True
                self.log.warning("The kernel filled its scratch folder beyond %s bytes: killed", self.scratch_bytes)
                self._kill_kernel(pid)
                return
            if used > limit and interrupted_at is None:
                state["timed_out"] = True
                interrupted_at = used
                self.log.warning("Cell %s used more than %s CPU seconds: interrupting", state["index"], limit)
                try:
                    await self.km.interrupt_kernel()
                except Exception:  # noqa: BLE001 - a kernel that is already gone
                    pass
            elif interrupted_at is not None and used > interrupted_at + self.cpu_grace:
                self.log.warning("The kernel ignored the interrupt: killed")
                self._kill_kernel(pid)
                return

    async def _alive(self) -> bool:
        try:
            return bool(await self.km.is_alive())
        except Exception:  # noqa: BLE001
            return False

    async def _resync_iopub(self, attempts: int = 30) -> bool:
        """After a dropped message the output channel reconnects, and what the kernel published meanwhile is lost
        (the next cell's "idle" with it): wait until a kernel_info request's status arrives on it again."""
        import inspect
        import time
        from queue import Empty

        for _ in range(attempts):
            try:
                msg_id = self.kc.kernel_info()
                if inspect.isawaitable(msg_id):
                    msg_id = await msg_id
            except Exception:  # noqa: BLE001 - a kernel that is already gone
                return False
            deadline = time.monotonic() + 1.0
            while (left := deadline - time.monotonic()) > 0:
                try:
                    msg = await self.kc.iopub_channel.get_msg(timeout=left)
                except (Empty, asyncio.TimeoutError):
                    break
                if msg.get("parent_header", {}).get("msg_id") == msg_id:
                    return True
            dropped = getattr(self.kc, "dropped", None)
            for channel in set(dropped() if dropped is not None else []):
                self.kc.reconnect(channel)
        return False

    @staticmethod
    def _kill_kernel(pid):
        if pid is None:
            return
        try:
            os.kill(pid, signal.SIGKILL)  # bwrap: everything in its PID namespace dies with it
        except OSError:
            pass

    async def async_execute_cell(self, cell, cell_index, execution_count=None, store_history=True):
        self._running_index = cell_index
        self._output_bytes, self._display_bytes, self._output_cut = 0, 0, False
        if cell.cell_type != "code" or not cell.source.strip():
            return await super().async_execute_cell(cell, cell_index, execution_count, store_history)
        from nbclient.exceptions import CellTimeoutError

        state = {"index": cell_index}
        watcher = asyncio.ensure_future(self._watch(cell, state))
        try:
            return await super().async_execute_cell(cell, cell_index, execution_count, store_history)
        except CellTimeoutError:
            # a dropped oversized message can take the kernel's "idle" with it: the cell then ends here, failed
            dropped = getattr(self.kc, "dropped", None)
            lost = dropped() if dropped is not None else []
            if not state.get("oversized") and not (lost and await self._alive()):
                raise
            for channel in set(lost):
                self.kc.reconnect(channel)
            if not state.get("oversized"):
                state["oversized"] = True
                try:
                    await self.km.interrupt_kernel()
                except Exception:  # noqa: BLE001 - a kernel that is already gone
                    pass
            return cell
        finally:
            watcher.cancel()
            if state.get("oversized") and await self._alive() and not await self._resync_iopub():
                # the kernel keeps its output channel flooded: nothing it sends can be trusted to arrive
                self.log.warning("The kernel's output channel did not recover: killed")
                self._kill_kernel(self._kernel_pid())
            if state.get("oversized"):
                cell.outputs = [o for o in cell.outputs if not (o.get("output_type") == "error"
                                                                  and o.get("ename") == "KeyboardInterrupt")]
                cell.outputs.append(nbformat.v4.new_output(
                    "error", ename="OutputLimitError", evalue=f"this cell sent a message larger than "
                    f"{max_message_bytes():,} bytes, which the grader dropped; the kernel was interrupted",
                    traceback=["OutputLimitError: this cell sent a message larger than the grader accepts"]))
            if state.get("timed_out"):
                limit = cell_timeout(cell)
                cell.outputs = [o for o in cell.outputs if not (o.get("output_type") == "error"
                                                                  and o.get("ename") == "KeyboardInterrupt")]
                cell.outputs.append(nbformat.v4.new_output(
                    "error", ename="CellTimeoutError", evalue=f"this cell used more than its {limit} CPU seconds",
                    traceback=[f"CellTimeoutError: this cell used more than its {limit} CPU seconds"]))

    # nbclient binds its synchronous wrapper to its own coroutine; rebind it to the one above
    try:
        from nbclient.util import run_sync as _run_sync

        execute_cell = _run_sync(async_execute_cell)
    except ImportError:  # pragma: no cover - nbclient comes with nbconvert
        pass

    # -- the whole run
    def preprocess(self, nb, resources, km=None):
        import numpy as np
        from nbclient.exceptions import DeadKernelError

        from ..threads import usable_cores
        from .checks import course_secret, load_checks, seed_for, write_cases
        from .sandbox import SandboxSpec, make_scratch, sandbox_kernel_manager
        from .view import build_view

        info = resources.get("nbgrader", {})
        assignment = info.get("assignment", "")
        student = self.student_override or info.get("student", "") or "student"
        if (problem := kernel_problem(nb)) is not None:
            raise ValueError(f"{assignment}/{info.get('notebook', '')}: {problem}")
        course_dir = Path(self.course_directory) if self.course_directory else COURSE_DIR
        module = load_checks(assignment, course_dir)
        self._scratch = make_scratch()
        grading = self._scratch / ".grading"
        try:
            for sub in ("cases", "answers", "records"):
                (grading / sub).mkdir(parents=True)
            os.chmod(grading, 0o755)
            os.chmod(grading / "cases", 0o755)
            secret = course_secret(course_dir) if module.checks else b""
            judged = {}
            for cell in nb.cells:
                grade_id = _meta(cell).get("grade_id")
                if cell.cell_type == "code" and _is_test(cell) and grade_id in module.checks:
                    rng = np.random.default_rng(seed_for(secret, student, assignment, grade_id))
                    cases, judge = module.checks[grade_id](rng)
                    write_cases(grading, grade_id, cases)
                    judged[grade_id] = (len(cases), judge)
            for path in (grading / "cases").iterdir():
                os.chmod(path, 0o644)
            # the kernel gets a copy of the notebook (hidden test regions cut: it reads no test before running it)
            # and nothing else handed in beside it
            notebook_copy = self._scratch / f"{Path(info.get('notebook') or 'notebook').name}.ipynb"
            notebook_copy.write_text(nbformat.writes(_without_hidden_tests(nb)))
            view = build_view(module.kernel_hides)
            jobs = int(os.environ.get("COURSEKIT_GRADING_JOBS", "1") or 1)
            spec = SandboxSpec(scratch=str(self._scratch), package_view=str(view), torch=module.kernel_torch,
                               excludes=list(module.kernel_excludes), threads=max(1, usable_cores() // max(1, jobs)))
            manager = sandbox_kernel_manager(require=self.require_sandbox)
            manager.spec = spec
            self.kernel_manager_class = manager
            resources.setdefault("metadata", {})["path"] = str(self._scratch)
            self._running_index = None
            died = None
            try:
                nb, resources = super().preprocess(nb, resources, km=km)
            except DeadKernelError as exc:
                died = self._running_index if self._running_index is not None else 0
                self.log.warning("The kernel died while running cell %s: %s", died, exc)
                self._fail_unrun_cells(nb, died)
            self._judge(nb, grading, judged)
            make_passive(nb)  # the autograded notebook is rendered in the instructor's browser
        finally:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None
        return nb, resources

    def _judge(self, nb, grading: Path, judged: dict) -> None:
        from .checks import Verdict, read_answers, read_records

        for cell in nb.cells:
            grade_id = _meta(cell).get("grade_id")
            if grade_id not in judged:
                continue
            n_cases, judge = judged[grade_id]
            answers = read_answers(grading, grade_id, n_cases)
            records = read_records(grading, grade_id)
            try:
                verdict = judge(answers, records)
            except Exception as exc:  # noqa: BLE001 - an answer of a shape the judge did not foresee
                self.log.error("The judge of %s failed on this submission's answers: %r", grade_id, exc)
                verdict = Verdict(0.0, f"the answers of this cell could not be judged ({type(exc).__name__}): "
                                  "check that your functions return what the task asks for")
            if not isinstance(verdict, Verdict):  # the check itself is wrong: the instructor must hear of it
                raise TypeError(f"the judge of {grade_id!r} returned {type(verdict).__name__}, not a Verdict")
            edited = bool(cell.metadata.pop(EDITED_KEY, False))
            cell.outputs = verdict_outputs(verdict, float(_meta(cell).get("points", 0)), edited,
                                           self.edited_test_scores_zero)
            if edited:
                cell.metadata["coursekit_edit_reported"] = True
        for cell in nb.cells:  # unchecked test cells that were edited: the note goes into their output
            if cell.metadata.pop(EDITED_KEY, False):
                note = nbformat.v4.new_output("stream", name="stdout", text=(
                    "Note: this test cell was edited in the submitted notebook; the grader ran it as the "
                    "instructor wrote it.\n"))
                cell.setdefault("outputs", []).insert(0, note)
                if self.edited_test_scores_zero:
                    cell.outputs.append(nbformat.v4.new_output(
                        "error", ename="EditedTestCell", evalue="this course scores an edited test cell 0",
                        traceback=["EditedTestCell: this course scores an edited test cell 0"]))
                cell.metadata["coursekit_edit_reported"] = True

    @staticmethod
    def _fail_unrun_cells(nb, died: int) -> None:
        culprit = nb.cells[died] if died < len(nb.cells) else None
        where = (_meta(culprit).get("grade_id") or culprit.get("id") or f"#{died}"
                 if culprit is not None else "the last cell")
        message = (f"the kernel stopped while running cell {where} (the code exited the kernel, or it was killed "
                   "for exceeding a memory, process, time or disk limit), so this cell did not run")
        for index, cell in enumerate(nb.cells):
            if index >= died and cell.cell_type == "code":
                cell.setdefault("outputs", []).append(nbformat.v4.new_output(
                    "error", ename="KernelDied", evalue=message, traceback=[f"KernelDied: {message}"]))


class ReportEdits(NbGraderPreprocessor):
    """After SaveAutoGrades: flag the notebook in the gradebook and say in a comment which test cells were edited.

    nbgrader keeps comments for solution cells only, so the note goes on the notebook's first solution cell."""

    def preprocess(self, nb, resources):
        edited = [_meta(c).get("grade_id") for c in nb.cells if c.metadata.pop("coursekit_edit_reported", False)]
        if not edited:
            return nb, resources
        from nbgrader.api import Gradebook

        info = resources["nbgrader"]
        note = ("Edited test cell(s) " + ", ".join(edited) + ": restored and run as the instructor wrote them.")
        with Gradebook(info["db_url"]) as gb:
            notebook = gb.find_submission_notebook(info["notebook"], info["assignment"], info["student"])
            notebook.flagged = True
            comments = sorted(notebook.comments, key=lambda c: c.name)
            if comments:
                first = comments[0]
                first.auto_comment = ((first.auto_comment + "\n") if first.auto_comment else "") + note
            gb.db.commit()
        self.log.warning(note)
        return nb, resources


# ------------------------------------------------------------------------------------------------ feedback
class HideTestCode(ClearHiddenTests):
    """Feedback shows a hidden test's verdict, never its code: nbgrader's own hidden-region removal, applied to the
    graded notebook, plus error outputs cut down to their message (a traceback quotes the test's lines).

    Code the kernel ran can have recorded a test cell's source while it ran (an IPython hook) and printed it from a
    later cell: every occurrence of each hidden region, and of each of its non-trivial lines, is redacted from the
    outputs of every cell. The notebook is made passive again (``make_passive``) before it becomes HTML."""

    def preprocess(self, nb, resources):
        secrets_ = hidden_texts(nb)
        nb, resources = super().preprocess(nb, resources)
        for cell in nb.cells:
            if cell.cell_type == "code":
                redact_outputs(cell.get("outputs", []), secrets_)
        make_passive(nb)
        return nb, resources

    def preprocess_cell(self, cell, resources, index):
        if not _is_test(cell):
            return cell, resources
        if self._remove_hidden_test_region(cell):
            cell.source = cell.source.rstrip("\n") + "\n# (hidden tests were run here; their code is not shown)\n"
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                output["traceback"] = [f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"]
        return cell, resources

