"""Old module path of the judging API, kept so judge modules written for it (``from coursekit.course.checks
import check, Verdict, ...``) keep working. New code imports ``coursekit.course.judging``."""

from __future__ import annotations

from .answers import MAX_RECORDS, read_answers, read_records, write_cases
from .judging import (
                      NOT_RUN,
                      JudgeModule,
                      Missing,
                      Raised,
                      Verdict,
                      check,
                      compare,
                      first_problem,
                      hidden_test,
                      judges_dir,
                      load_judges,
                      score_parts,
                      unusable,
)
from .seeds import course_secret, seed_for

CheckModule = JudgeModule
load_checks = load_judges
checks_dir = judges_dir

__all__ = ["check", "hidden_test", "Verdict", "Raised", "Missing", "compare", "unusable", "first_problem",
           "score_parts", "NOT_RUN", "CheckModule", "load_checks", "seed_for", "course_secret", "write_cases",
           "read_answers", "read_records", "MAX_RECORDS"]
