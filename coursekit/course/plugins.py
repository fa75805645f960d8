"""Old module path of the nbgrader plugins, kept so nbgrader configurations written for it keep working.

The plugins now live in modules named for their job (see ``coursekit/course/README.md``):
``normalise.NormaliseNotebook``, ``execute.ExecuteAndJudge``, ``verdicts.ReportEdits``, ``feedback.HideTestCode``.
"""

from __future__ import annotations

from .cells import HIDDEN_REGION, is_readonly, is_test, nbgrader_meta, without_hidden_tests
from .config import COURSE_DIR
from .execute import ExecuteAndJudge
from .feedback import REDACTED, HideTestCode, hidden_texts, redact_outputs
from .limits import cell_seconds, load_timeouts, wall_backstop_seconds
from .normalise import (
    EDITED_KEY,
    RESTORED_CELL_NOTICE,
    NormaliseNotebook,
    graded_copies,
    kernel_problem,
    normalise,
    release_differences,
)
from .passive import make_passive, passive_markdown, passive_outputs
from .release_history import (
    RELEASE_HISTORY,
    load_release_history,
    record_release,
    release_from_gradebook,
    source_digest,
)
from .verdicts import ReportEdits, verdict_outputs

__all__ = ["cell_timeout", "load_timeouts", "NormaliseNotebook", "ExecuteAndJudge", "ReportEdits", "HideTestCode",
           "release_differences", "RESTORED_CELL_NOTICE", "EDITED_KEY", "verdict_outputs", "RELEASE_HISTORY",
           "record_release", "load_release_history", "release_from_gradebook", "kernel_problem", "wall_backstop",
           "normalise", "graded_copies", "make_passive", "passive_markdown", "passive_outputs", "hidden_texts",
           "redact_outputs", "REDACTED", "source_digest"]

# the private names older code reached for
_meta, _is_test, _is_readonly, _HIDDEN_REGION, _without_hidden_tests = (nbgrader_meta, is_test, is_readonly,
                                                                        HIDDEN_REGION, without_hidden_tests)


def cell_timeout(cell, table: dict | None = None) -> int:
    """CPU seconds a cell may use: its entry in table, else in coursekit's course/timeouts.json."""
    return cell_seconds(cell, table if table is not None else load_timeouts(COURSE_DIR / "timeouts.json"))


def wall_backstop(cell) -> int:
    """The wall-clock backstop of a cell under coursekit's course/timeouts.json (ExecuteAndJudge's own
    ``wall_backstop`` uses the course it grades; configurations need not set ``timeout_func`` any more)."""
    return wall_backstop_seconds(cell, load_timeouts(COURSE_DIR / "timeouts.json"))
