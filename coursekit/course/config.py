"""The grading configuration: one source for how nbgrader grades with coursekit.

nbgrader gets coursekit's grading in two ways, and both come from ``GradingConfig`` here:

* a course's own ``nbgrader_config.py`` calls ``GradingConfig(...).apply(c)`` (coursekit's ``course/`` does), so
  nbgrader's own commands, the formgrader and the Validate button grade the same way;
* ``coursekit.course.pipeline`` turns the same settings into nbgrader command-line flags (``arguments``), which take
  precedence over every config file, for a course configured for stock nbgrader.

``tests/test_grading_config.py`` loads the course's config file and parses the flags and checks that they agree.

The pages the grader renders read their maths offline (``mathjax.py``): feedback through ``FeedbackExporter`` with
MathJax copied beside each page (``FeedbackExporter.*``, also flags of generate_feedback), the formgrader's grading
view through nbgrader's ``HTMLExporter`` with MathJax from the Jupyter server (``HTMLExporter.*``, from the config
file only: the formgrader runs in the server, not as a command that takes flags).

Environment variables cross only into processes that have no configuration of their own, and each is read in one
place: ``environment_overrides`` reads the instructor's COURSEKIT_* limits once, in the pipeline's process, and the
pipeline passes them on as flags; inside the kernel only ``COURSEKIT_GRADING_DIR`` exists
(``coursekit.grading.wire``).
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass, field
from pathlib import Path

from .mathjax import FEEDBACK_URL, SERVER_PATH

__all__ = ["COURSE_DIR", "GradingConfig", "environment_overrides", "page_settings", "ENVIRONMENT", "PREPROCESSORS",
           "SERVER_ONLY_SECTIONS", "RESTORED_CELL_NOTICE"]

# coursekit's own course folder (nbgrader's course directory) in a clone of the repository
COURSE_DIR = Path(__file__).resolve().parents[2] / "course"

# what OverwriteCells writes into a cell it had to put back (normalisation puts deleted cells back first)
RESTORED_CELL_NOTICE = "# (cell {cell_id} was missing from the submission and was restored by the grader)\n"

_PLUGINS = "coursekit.course."
# nbgrader's preprocessor pipelines with coursekit's stages in place (by dotted name: the same strings work in a
# config file and on the command line)
PREPROCESSORS = {
    "Autograde.sanitize_preprocessors": [
        "nbgrader.preprocessors.ClearOutput", _PLUGINS + "normalise.NormaliseNotebook",
        "nbgrader.preprocessors.OverwriteKernelspec", "nbgrader.preprocessors.OverwriteCells",
        "nbgrader.preprocessors.CheckCellMetadata"],
    "Autograde.autograde_preprocessors": [
        _PLUGINS + "execute.ExecuteAndJudge", "nbgrader.preprocessors.IgnorePattern",
        "nbconvert.preprocessors.ClearMetadataPreprocessor", "nbgrader.preprocessors.LimitOutput",
        "nbgrader.preprocessors.SaveAutoGrades", _PLUGINS + "verdicts.ReportEdits",
        "nbgrader.preprocessors.AssignLatePenalties", "nbgrader.preprocessors.CheckCellMetadata"],
    "GenerateFeedback.preprocessors": [
        "nbgrader.preprocessors.GetGrades", _PLUGINS + "feedback.HideTestCode",
        "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor"],
}

# coursekit's page templates (templates/coursekit_feedback, templates/coursekit_formgrade, both built on nbgrader's)
TEMPLATES = Path(__file__).resolve().with_name("templates")
# settings the Jupyter server's formgrader reads from the config file; no command takes them as flags
SERVER_ONLY_SECTIONS = ("HTMLExporter",)


def _nbgrader_templates() -> tuple[str, str]:
    """nbgrader's formgrader templates (feedback/, formgrade/ and their macros) and the bootstrap CSS the feedback
    template inlines, found without importing nbgrader."""
    spec = importlib.util.find_spec("nbgrader")
    formgrader = Path(spec.origin if spec and spec.origin else "nbgrader").parent / "server_extensions" / "formgrader"
    return (str(formgrader / "templates"),
            str(formgrader / "static" / "node_modules" / "bootstrap" / "dist" / "css"))


def page_settings() -> dict[str, object]:
    """The exporters' settings: nbgrader's feedback and grading-view templates with MathJax that never leaves the
    machine (a copy beside each feedback page; the Jupyter server's for the formgrader) and verdicts that wrap."""
    nbgrader_templates, bootstrap_css = _nbgrader_templates()
    ours = str(TEMPLATES)
    return {
        "GenerateFeedback.exporter_class": "coursekit.course.feedback.FeedbackExporter",
        "FeedbackExporter.template_name": "coursekit_feedback",
        "FeedbackExporter.extra_template_basedirs": [ours, nbgrader_templates],
        "FeedbackExporter.extra_template_paths": [ours, nbgrader_templates, bootstrap_css],
        "FeedbackExporter.mathjax_url": FEEDBACK_URL,
        # the formgrader's exporter is nbgrader's own HTMLExporter; FeedbackExporter's settings above take
        # precedence over these for feedback (a subclass's section wins)
        "HTMLExporter.template_name": "coursekit_formgrade",
        "HTMLExporter.extra_template_basedirs": [ours, nbgrader_templates],
        "HTMLExporter.extra_template_paths": [ours, nbgrader_templates],
        "HTMLExporter.mathjax_url": SERVER_PATH,
    }

# The instructor's overrides of the kernel's limits: variable -> the ExecuteAndJudge setting it sets.
ENVIRONMENT = {
    "COURSEKIT_MEMORY_BYTES": "memory_bytes",
    "COURSEKIT_MAX_PROCESSES": "max_processes",
    "COURSEKIT_MAX_FILE_BYTES": "max_file_bytes",
    "COURSEKIT_TMP_BYTES": "tmp_bytes",
    "COURSEKIT_TREE_MEMORY_BYTES": "tree_memory_bytes",
    "COURSEKIT_MAX_MESSAGE_BYTES": "max_message_bytes",
}


def environment_overrides(environ=None) -> dict:
    """{ExecuteAndJudge setting: value} from the instructor's COURSEKIT_* variables (the only place they are read),
    plus ``require_sandbox=False`` for COURSEKIT_NO_SANDBOX=1. A value that is not a positive integer is refused."""
    environ = os.environ if environ is None else environ
    found = {}
    for name, trait in ENVIRONMENT.items():
        value = environ.get(name)
        if value:
            try:
                number = int(value)
            except ValueError:
                raise ValueError(f"{name} must be a whole number of bytes or processes, not {value!r}") from None
            if number <= 0:
                raise ValueError(f"{name} must be positive, not {number}")
            found[trait] = number
    if environ.get("COURSEKIT_NO_SANDBOX") == "1":
        found["require_sandbox"] = False
    return found


@dataclass
class GradingConfig:
    """Every nbgrader setting that coursekit's grading needs, for one course.

    course_dir: nbgrader's course directory (checks, grading secret, timeouts.json, release history);
    release_dir: the released notebooks (one folder per assignment), the reference normalisation compares with;
    default_timeout: CPU seconds per cell where the course has no timeouts.json;
    overrides: further ExecuteAndJudge settings (``environment_overrides``, the number of kernels side by side).
    """

    course_dir: Path
    release_dir: Path
    default_timeout: float = 30.0
    wall_ceiling: int = 1200
    edited_test_scores_zero: bool = False
    overrides: dict = field(default_factory=dict)

    def settings(self) -> dict[str, object]:
        """{"Section.trait": value} of every setting, preprocessor pipelines included."""
        from .release_history import RELEASE_HISTORY

        course_dir, release_dir = Path(self.course_dir), Path(self.release_dir)
        timeouts = course_dir / "timeouts.json"
        found: dict[str, object] = {name: list(value) for name, value in PREPROCESSORS.items()}
        found.update({
            "NormaliseNotebook.release_directory": str(release_dir),
            "NormaliseNotebook.release_history": str(course_dir / RELEASE_HISTORY),
            "OverwriteCells.add_missing_cells": True,
            "OverwriteCells.missing_cell_notification": RESTORED_CELL_NOTICE,
            "ExecuteAndJudge.course_directory": str(course_dir),
            "ExecuteAndJudge.timeouts_file": str(timeouts) if timeouts.is_file() else "",
            "ExecuteAndJudge.default_timeout": float(self.default_timeout),
            # per cell, the wall-clock backstop of the CPU-second limit decides (ExecuteAndJudge's timeout_func);
            # this is only the ceiling
            "ExecuteAndJudge.timeout": int(self.wall_ceiling),
            "ExecuteAndJudge.interrupt_on_timeout": True,
            "ExecuteAndJudge.extra_arguments": ["--HistoryManager.hist_file=:memory:"],
            "ExecuteAndJudge.edited_test_scores_zero": bool(self.edited_test_scores_zero),
        })
        found.update(page_settings())
        for trait, value in self.overrides.items():
            found[f"ExecuteAndJudge.{trait}"] = value
        return found

    def apply(self, c) -> None:
        """Set everything on a traitlets Config (``c = get_config()`` in an nbgrader_config.py)."""
        for name, value in self.settings().items():
            section, trait = name.split(".")
            c[section][trait] = value

    def arguments(self, command: str) -> list[str]:
        """The same settings as nbgrader command-line flags, for the settings that command uses."""
        sections = {"autograde": ("Autograde", "NormaliseNotebook", "OverwriteCells", "ExecuteAndJudge"),
                    "generate_feedback": ("GenerateFeedback", "FeedbackExporter")}.get(command, ())
        flags = []
        for name, value in self.settings().items():
            if name.split(".")[0] not in sections:
                continue
            for item in value if isinstance(value, list) else [value]:
                flags.append(f"--{name}={item}")
        return flags
