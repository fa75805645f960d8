"""What the grading tests share: one graded run of the sample submissions, and digests of the instructor's files."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def instructor_digests(root: Path, names=("solutions", "assignments", "course")) -> dict:
    """Content (or link target) and mode of every instructor file under root; run-time state left out."""
    from coursekit.course.pipeline import Course

    skip = set(Course.RUN_TIME_STATE) - {"gradebook.db", "exchange"}
    found = {}
    for name in names:
        for p in sorted((root / name).rglob("*")):
            rel = p.relative_to(root)
            # course/exchange/ is the Jupyter server's (the Assignment List's exchange, made when the repository's
            # nbgrader_config.py loads), never a kernel's: only that one folder is left out, not every "exchange"
            if skip & set(rel.parts) or rel.name == "gradebook.db" or rel.parts[:2] == ("course", "exchange"):
                continue
            info = os.lstat(p)
            if p.is_symlink():
                found[str(rel)] = ("link", os.readlink(p), oct(info.st_mode))
            elif p.is_file():
                found[str(rel)] = (hashlib.sha256(p.read_bytes()).hexdigest(), oct(info.st_mode))
            else:
                found[str(rel)] = ("dir", oct(info.st_mode))
    return found


@dataclass
class SampleRun:
    """`make course` once, on a copy of the course: what every test of graded samples reads instead of grading
    the same submissions again."""

    root: Path
    status: int
    lines: list = field(default_factory=list)
    digests_before: dict = field(default_factory=dict)
    pairs: set = field(default_factory=set)


def grade_samples(root: Path, jobs: int = 2) -> SampleRun:
    from coursekit.course import representative, run_course
    from coursekit.course.pipeline import Course

    Course(ROOT).copy(root)
    before = instructor_digests(root)
    lines: list = []
    status = run_course(root, jobs=jobs, regenerate_samples=False, progress=lines.append)
    course = Course(root)
    return SampleRun(root, status, lines, before, set(representative(course.submissions(), course.course)))
