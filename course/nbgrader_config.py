# nbgrader configuration for the coursekit course. Paths are relative to this folder (the course directory):
# the instructor's source notebooks live in ../solutions and the student release is written to ../assignments.
import os

from nbconvert.preprocessors import ClearMetadataPreprocessor
from nbgrader.preprocessors import (
                                    AssignLatePenalties,
                                    CheckCellMetadata,
                                    ClearOutput,
                                    DeduplicateIds,
                                    IgnorePattern,
                                    LimitOutput,
                                    OverwriteCells,
                                    OverwriteKernelspec,
                                    SaveAutoGrades,
)

from coursekit.course.plugins import (
                                    RESTORED_CELL_NOTICE,
                                    ExecuteWithIntegrityCheck,
                                    FailTamperedCells,
                                    FlagTamperedCells,
                                    HideTestCode,
                                    cell_timeout,
)

c = get_config()  # noqa: F821 - provided by nbgrader
here = os.path.dirname(os.path.abspath(__file__))
os.environ.setdefault("COURSEKIT_TIMEOUTS", os.path.join(here, "timeouts.json"))

c.CourseDirectory.course_id = "coursekit"
c.CourseDirectory.root = here
c.CourseDirectory.source_directory = os.path.join("..", "solutions")
c.CourseDirectory.release_directory = os.path.join("..", "assignments")
c.CourseDirectory.db_url = os.environ.get("COURSEKIT_DB_URL", "sqlite:///" + os.path.join(here, "gradebook.db"))
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback"]

# The release says where it came from.
c.IncludeHeaderFooter.header = os.path.join(here, "release_header.ipynb")
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}

# Time limits per cell, from timeouts.json; a cell that runs over is interrupted, fails, and the rest still runs.
c.ExecuteWithIntegrityCheck.timeout = 600  # ceiling; the per-cell limits below are what applies
c.ExecuteWithIntegrityCheck.timeout_func = cell_timeout
c.ExecuteWithIntegrityCheck.interrupt_on_timeout = True
c.ExecuteWithIntegrityCheck.extra_arguments = ["--HistoryManager.hist_file=:memory:"]

# Tampering: edited or re-labelled test cells and deleted graded cells score 0, with a message.
c.FlagTamperedCells.release_directory = os.path.join(here, "..", "assignments")
c.OverwriteCells.add_missing_cells = True
c.OverwriteCells.missing_cell_notification = RESTORED_CELL_NOTICE
c.Autograde.sanitize_preprocessors = [
    ClearOutput, DeduplicateIds, OverwriteKernelspec, FlagTamperedCells, OverwriteCells, FailTamperedCells,
    CheckCellMetadata,
]
# nbgrader's list with Execute replaced by the version that ends with a check the student never sees.
c.Autograde.autograde_preprocessors = [
    ExecuteWithIntegrityCheck, IgnorePattern, ClearMetadataPreprocessor, LimitOutput, SaveAutoGrades,
    AssignLatePenalties, CheckCellMetadata,
]

# Output kept in graded notebooks.
c.LimitOutput.max_lines = 200

# Feedback shows each failing test's message, not the hidden test code.
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades", HideTestCode, "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
