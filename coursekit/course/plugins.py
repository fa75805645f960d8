"""nbgrader plugins that make grading strict: per-cell time limits, tampering gets no credit, feedback hides tests.

Wired in by ``course/nbgrader_config.py``:

* ``cell_timeout`` gives each cell its time limit from ``course/timeouts.json`` (by grade_id; a default for all
  other cells). ``coursekit check`` uses the same table, so a notebook that passes there is not timed out here.
* ``FlagTamperedCells`` runs before nbgrader's ``OverwriteCells``. It compares each submitted test cell and
  read-only cell with the released notebook: a test cell whose code or grading metadata was changed is marked;
  a deleted read-only cell (the setup cell) is put back where it was.
* ``FailTamperedCells`` runs after ``OverwriteCells`` has restored the instructor's tests, and turns every marked
  cell into one that fails with a message saying why. A deleted test cell comes back through nbgrader's
  ``add_missing_cells``, whose notification (set in the config to ``RESTORED_CELL_NOTICE``) fails it the same way.
* ``HideTestCode`` runs when feedback is generated: hidden test regions are cut from the source and error outputs
  keep their message but lose the traceback, which would quote the hidden test's lines.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat
from nbgrader.preprocessors import ClearHiddenTests, NbGraderPreprocessor
from traitlets import Integer, Unicode

__all__ = ["cell_timeout", "load_timeouts", "FlagTamperedCells", "FailTamperedCells", "HideTestCode",
           "RESTORED_CELL_NOTICE", "TAMPERED_KEY"]

TAMPERED_KEY = "coursekit_tampered"
COURSE_DIR = Path(__file__).resolve().parents[2] / "course"

# nbgrader prefixes this to a deleted grade cell it restores, as a comment line ("# " + first line): the second
# line is code, so the restored cell fails with this message instead of passing on the student's behalf.
RESTORED_CELL_NOTICE = (
    "This graded cell ({cell_id}) was deleted from the submission and restored by the grader.\n"
    "raise AssertionError('this test cell was deleted from the submitted notebook, so it scores 0; "
    "keep every graded cell')\n\n"
)


# -------------------------------------------------------------------------------------------- time limits
def load_timeouts(path: str | os.PathLike | None = None) -> dict:
    path = Path(path) if path else Path(os.environ.get("COURSEKIT_TIMEOUTS", COURSE_DIR / "timeouts.json"))
    with open(path) as f:
        table = json.load(f)
    if not isinstance(table.get("default"), (int, float)) or table["default"] <= 0:
        raise ValueError(f"{path}: 'default' must be a positive number of seconds")
    return table


_TIMEOUTS: dict | None = None


def cell_timeout(cell) -> int:
    """Seconds a cell may run: its grade_id's entry in timeouts.json, else the default."""
    global _TIMEOUTS
    if _TIMEOUTS is None:
        _TIMEOUTS = load_timeouts()
    grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
    return int(_TIMEOUTS.get("cells", {}).get(grade_id, _TIMEOUTS["default"]))


# ---------------------------------------------------------------------------------------------- tampering
_GRADING_KEYS = ("grade", "solution", "locked", "points", "grade_id")


def _grading_metadata(cell) -> dict:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return {k: meta.get(k) for k in _GRADING_KEYS}


def _is_test(cell) -> bool:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return bool(meta.get("grade")) and not meta.get("solution")


def _is_readonly(cell) -> bool:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return bool(meta.get("locked")) and not meta.get("grade") and not meta.get("solution")


def release_differences(nb, release) -> list[dict]:
    """Test and read-only cells of the release that the notebook lacks or changed.

    Returns one {"grade_id", "kind" ("test" or "read-only"), "reasons" (list of str, empty when missing),
    "missing" (bool)} per such cell. Both the grader and `coursekit check` use this, so they agree.
    """
    mine = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in nb.cells
            if c.metadata.get("nbgrader", {}).get("grade_id")}
    found = []
    for original in release.cells:
        grade_id = original.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id is None or not (_is_test(original) or _is_readonly(original)):
            continue
        kind = "test" if _is_test(original) else "read-only"
        cell = mine.get(grade_id)
        if cell is None:
            found.append({"grade_id": grade_id, "kind": kind, "reasons": [], "missing": True})
            continue
        reasons = []
        if cell.source != original.source:
            reasons.append("its code was edited")
        if _grading_metadata(cell) != _grading_metadata(original) or cell.cell_type != original.cell_type:
            reasons.append("its grading metadata was changed")
        if reasons:
            found.append({"grade_id": grade_id, "kind": kind, "reasons": reasons, "missing": False})
    return found


class FlagTamperedCells(NbGraderPreprocessor):
    """Mark test cells whose code or metadata differ from the release; restore deleted read-only cells."""

    release_directory = Unicode(
        "", help="Folder of the released notebooks, one subfolder per assignment (default: the course's)."
    ).tag(config=True)

    def _release_notebook(self, resources):
        assignment = resources["nbgrader"]["assignment"]
        notebook = resources["nbgrader"]["notebook"]
        root = Path(self.release_directory) if self.release_directory else COURSE_DIR.parent / "assignments"
        return nbformat.read(root / assignment / f"{notebook}.ipynb", as_version=4)

    def preprocess(self, nb, resources):
        release = self._release_notebook(resources)
        submitted = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in nb.cells
                     if c.metadata.get("nbgrader", {}).get("grade_id")}
        for difference in release_differences(nb, release):
            if difference["kind"] == "test" and not difference["missing"]:
                cell = submitted[difference["grade_id"]]
                cell.metadata[TAMPERED_KEY] = " and ".join(difference["reasons"])
                self.log.warning("Test cell %s was tampered with: %s", difference["grade_id"],
                                 cell.metadata[TAMPERED_KEY])
        self._restore_readonly_cells(nb, release, submitted)
        return nb, resources

    def _restore_readonly_cells(self, nb, release, submitted):
        """Put back deleted read-only cells (the setup cell the tests need) after their release predecessor."""
        position = 0
        for original in release.cells:
            grade_id = original.metadata.get("nbgrader", {}).get("grade_id")
            if grade_id in submitted:
                position = nb.cells.index(submitted[grade_id]) + 1
            elif _is_readonly(original):
                restored = nbformat.from_dict(json.loads(json.dumps(original)))
                if restored.cell_type == "code":
                    restored.outputs, restored.execution_count = [], None
                nb.cells.insert(position, restored)
                submitted[grade_id] = restored
                position += 1
                self.log.warning("Read-only cell %s was missing and has been restored", grade_id)


class FailTamperedCells(NbGraderPreprocessor):
    """Replace each marked test cell's code with a failure that says what was changed."""

    def preprocess_cell(self, cell, resources, index):
        reason = cell.metadata.pop(TAMPERED_KEY, None)
        if reason and cell.cell_type == "code":
            grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", "?")
            message = f"test cell {grade_id} scores 0: {reason} in the submitted notebook"
            cell.source = f"raise AssertionError({message!r})\n"
        return cell, resources


# ------------------------------------------------------------------------------------------------ feedback
class HideTestCode(ClearHiddenTests):
    """Feedback shows a failing hidden test's message, never its code: nbgrader's own hidden-region removal,
    applied to the graded notebook, plus error outputs cut down to their message (a traceback quotes the lines
    of the hidden test that failed)."""

    def preprocess_cell(self, cell, resources, index):
        if not _is_test(cell):
            return cell, resources
        if self._remove_hidden_test_region(cell):
            cell.source = cell.source.rstrip("\n") + "\n# (hidden tests were run here; their code is not shown)\n"
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                output["traceback"] = [f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"]
        return cell, resources


# ------------------------------------------------------------------------------------ integrity at the end
# Objects whose behaviour the tests depend on. The fingerprint of a Python function is a hash of its bytecode
# names,
# constants and file, so a replacement shows up even if it keeps the original's name and module.
_FINGERPRINTED = {
    "coursekit.grading": ["assert_close", "assert_shape", "assert_scalar", "assert_gradient", "rng",
                          "reference_disabled", "verify", "install_sentinel", "_unavailable"],
    "numpy": ["allclose", "isclose", "array_equal", "asarray", "isfinite", "abs", "max", "argmax"],
    "numpy.testing": ["assert_allclose", "assert_array_equal", "assert_array_almost_equal", "assert_equal"],
    "coursekit.nn.functional": ["conv2d_forward", "batchnorm_forward", "batchnorm_backward",
                                "batchnorm2d_forward", "batchnorm2d_backward"],
    "coursekit.arithmetic": ["conv_output_size", "conv_transpose_output_size", "pool_output_size",
                             "receptive_field", "conv_macs"],
    "builtins": ["abs", "max", "min", "isinstance", "float", "int", "len", "AssertionError", "__import__"],
}

FINGERPRINT_SOURCE = '''
def _coursekit_fingerprints(spec):
    import hashlib, importlib, types

    def code_parts(code):
        # structure only: marshal's output also depends on reference counts, which a raised exception changes
        parts = [code.co_code, code.co_name, code.co_filename, repr(code.co_names), repr(code.co_varnames)]
        for const in code.co_consts:
            parts.append(code_parts(const) if isinstance(const, types.CodeType) else repr(const))
        return "|".join(p.hex() if isinstance(p, bytes) else p for p in parts)

    out = {}
    for module_name, names in spec.items():
        module = importlib.import_module(module_name)
        for name in names:
            obj = getattr(module, name, None)
            code = getattr(obj, "__code__", None)
            if isinstance(code, types.CodeType):
                out[module_name + "." + name] = hashlib.sha256(code_parts(code).encode()).hexdigest()
            else:
                out[module_name + "." + name] = "%s:%s:%s" % (type(obj).__name__, getattr(obj, "__name__", ""),
                                                             getattr(obj, "__module__", ""))
    return out
'''


def fingerprints() -> dict:
    """The fingerprints computed in this (the grader's) process, which no student code has touched."""
    namespace: dict = {}
    exec(FINGERPRINT_SOURCE, namespace)  # the same function the kernel runs, so the two are comparable
    return namespace["_coursekit_fingerprints"](_FINGERPRINTED)


def integrity_check_code() -> str:
    """A cell for the end of the run: prints the kernel's fingerprints as one JSON line."""
    return (FINGERPRINT_SOURCE + "\nimport json as _json\n"
            f"print('COURSEKIT-INTEGRITY ' + _json.dumps(_coursekit_fingerprints({_FINGERPRINTED!r})))\n")


def _integrity_problems(check_cell, expected: dict) -> list[str]:
    for output in check_cell.get("outputs", []):
        if output.get("output_type") == "stream" and "COURSEKIT-INTEGRITY " in output.get("text", ""):
            line = output["text"].split("COURSEKIT-INTEGRITY ", 1)[1].splitlines()[0]
            try:
                found = json.loads(line)
            except ValueError:
                return ["the integrity report was garbled"]
            return sorted(k for k, v in expected.items() if found.get(k) != v)
        if output.get("output_type") == "error":
            return [f"the integrity check failed to run ({output.get('ename')})"]
    return ["the integrity check produced no report (output suppressed or the kernel died)"]


try:
    from nbgrader.preprocessors import Execute as _Execute
except ImportError:  # pragma: no cover - nbgrader is a course dependency
    _Execute = object


class ExecuteWithIntegrityCheck(_Execute):
    """nbgrader's Execute in a sandboxed kernel, with live output limits, kernel death handled, and one cell the
    student never sees run after theirs in the same kernel.

    * The kernel runs in the bubblewrap sandbox of ``coursekit.course.sandbox`` (autograding refuses to start
      without it unless COURSEKIT_NO_SANDBOX=1).
    * Output beyond ``max_output_bytes`` (per cell) is dropped as it arrives and the kernel is interrupted,
      so a cell that prints without end fails instead of filling the grader's memory.
    * If the kernel dies (it exited, or was killed for exceeding a limit), every cell that did not run gets an
      error saying so and scores 0; what ran before keeps its result. The grade never waits for manual review.
    * If the functions the tests rely on no longer match the grader's own copies at the end, every test cell gets
      an error output, so it scores 0, and the feedback says why.
    """

    max_output_bytes = Integer(1 << 20, help="Output kept per cell; beyond it the kernel is interrupted."
                               ).tag(config=True)

    def __init__(self, *args, **kwargs):
        from .sandbox import sandbox_kernel_manager

        kwargs.setdefault("kernel_manager_class", sandbox_kernel_manager())
        super().__init__(*args, **kwargs)

    # -- output limit
    def output(self, outs, msg, display_id, cell_index):
        if getattr(self, "_exempt", False):  # the grader's own check cell
            return super().output(outs, msg, display_id, cell_index)
        size = len(json.dumps(msg.get("content", {}), default=str))
        self._output_bytes = getattr(self, "_output_bytes", 0) + size
        if self._output_bytes > self.max_output_bytes:
            if not getattr(self, "_output_cut", False):
                self._output_cut = True
                outs.append(nbformat.v4.new_output(
                    "stream", name="stderr",
                    text=f"\n[coursekit: output limit of {self.max_output_bytes:,} bytes reached; the kernel was "
                         "interrupted and further output dropped]\n"))
                self.log.warning("Output limit reached in cell %s; interrupting the kernel", cell_index)
                import asyncio

                asyncio.ensure_future(self.km.interrupt_kernel())
            return None
        return super().output(outs, msg, display_id, cell_index)

    # -- kernel death
    def preprocess_cell(self, cell, resources, index):
        self._running_index = index
        self._output_bytes, self._output_cut = 0, False
        self._exempt = bool(cell.metadata.get("coursekit_integrity"))
        return super().preprocess_cell(cell, resources, index)

    def preprocess(self, nb, resources, km=None):
        from nbclient.exceptions import DeadKernelError

        self._output_bytes, self._output_cut, self._running_index = 0, False, None
        check = nbformat.v4.new_code_cell(integrity_check_code())
        check.metadata["coursekit_integrity"] = True
        nb.cells.append(check)
        died = None
        try:
            nb, resources = super().preprocess(nb, resources, km=km)
        except DeadKernelError as exc:
            died = self._running_index if self._running_index is not None else 0
            self.log.warning("The kernel died while running cell %s: %s", died, exc)
        last = nb.cells.pop() if nb.cells and nb.cells[-1].metadata.get("coursekit_integrity") else None
        if died is not None:
            self._fail_unrun_cells(nb, died)
            if died < len(nb.cells):
                # the check cell never ran; in-kernel checks by the test helpers still applied to what did run
                self.log.warning("Integrity check skipped: the kernel died before the end of the notebook")
            return nb, resources
        problems = _integrity_problems(last or check, fingerprints())
        if problems:
            message = ("functions the grader relies on were replaced while the notebook ran ("
                       + ", ".join(problems[:4]) + (", ..." if len(problems) > 4 else "") + "), so no test counts")
            self.log.warning("Integrity check failed: %s", message)
            for cell in nb.cells:
                if _is_test(cell) and cell.cell_type == "code":
                    cell.setdefault("outputs", []).append(nbformat.v4.new_output(
                        "error", ename="TamperingDetected", evalue=message,
                        traceback=[f"TamperingDetected: {message}"]))
        return nb, resources

    @staticmethod
    def _fail_unrun_cells(nb, died: int) -> None:
        culprit = nb.cells[died] if died < len(nb.cells) else None
        where = (culprit.metadata.get("nbgrader", {}).get("grade_id") or culprit.get("id") or f"#{died}"
                 if culprit is not None else "the last cell")
        message = (f"the kernel stopped while running cell {where} (the code exited the kernel, or it was killed "
                   "for exceeding the memory or process limit), so this cell did not run")
        for index, cell in enumerate(nb.cells):
            if index >= died and cell.cell_type == "code":
                cell.setdefault("outputs", []).append(nbformat.v4.new_output(
                    "error", ename="KernelDied", evalue=message, traceback=[f"KernelDied: {message}"]))
