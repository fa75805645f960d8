# nbgrader configuration for the coursekit course. Paths are relative to this folder (the course directory):
# the instructor's source notebooks live in ../solutions and the student release is written to ../assignments.
import os

from nbconvert.preprocessors import ClearMetadataPreprocessor
from nbgrader.preprocessors import (
                                    AssignLatePenalties,
                                    CheckCellMetadata,
                                    ClearOutput,
                                    IgnorePattern,
                                    LimitOutput,
                                    OverwriteCells,
                                    OverwriteKernelspec,
                                    SaveAutoGrades,
)

from coursekit.course.plugins import (
                                    RESTORED_CELL_NOTICE,
                                    ExecuteAndJudge,
                                    HideTestCode,
                                    NormaliseNotebook,
                                    ReportEdits,
                                    wall_backstop,
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
# the pipeline hands nbgrader a sanitised copy of each submission (regular files, no links) instead of submitted/
if os.environ.get("COURSEKIT_SUBMITTED_DIR"):
    c.CourseDirectory.submitted_directory = os.environ["COURSEKIT_SUBMITTED_DIR"]

# The release says where it came from.
c.IncludeHeaderFooter.header = os.path.join(here, "release_header.ipynb")
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}

# Hidden tests: checks in course/checks/<assignment>.py judge in this process; kernels run sandboxed on scratch
# copies. Per-cell limits are CPU seconds from timeouts.json; `timeout` (wall clock) is only the ceiling.
c.ExecuteAndJudge.timeout = 1200
c.ExecuteAndJudge.timeout_func = wall_backstop
c.ExecuteAndJudge.interrupt_on_timeout = True
c.ExecuteAndJudge.extra_arguments = ["--HistoryManager.hist_file=:memory:"]
c.ExecuteAndJudge.course_directory = here
# An edited test cell runs as the instructor wrote it and keeps what it earns; True makes it a zero.
c.ExecuteAndJudge.edited_test_scores_zero = False

# The submission is normalised against the release first; only the cells concerned are affected.
c.NormaliseNotebook.release_directory = os.path.join(here, "..", "assignments")
# every version of the release `coursekit release` published: a test cell equal to one of them is not an edit
c.NormaliseNotebook.release_history = os.path.join(here, "release_history.json")
c.OverwriteCells.add_missing_cells = True
c.OverwriteCells.missing_cell_notification = RESTORED_CELL_NOTICE
c.Autograde.sanitize_preprocessors = [
    ClearOutput, NormaliseNotebook, OverwriteKernelspec, OverwriteCells, CheckCellMetadata,
]
c.Autograde.autograde_preprocessors = [
    ExecuteAndJudge, IgnorePattern, ClearMetadataPreprocessor, LimitOutput, SaveAutoGrades, ReportEdits,
    AssignLatePenalties, CheckCellMetadata,
]

# Output kept in graded notebooks.
c.LimitOutput.max_lines = 200

# Feedback shows each test's verdict, not the hidden test code.
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades", HideTestCode, "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
