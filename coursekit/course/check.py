"""Old module path of the student's pre-submit check (``coursekit check``): now ``coursekit.course.presubmit``."""

from .presubmit import compare_with_release, find_course, find_release, main, release_history, report, run

__all__ = ["main", "run", "report", "find_course", "find_release", "release_history", "compare_with_release"]
