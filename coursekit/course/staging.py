"""Staging: a submission copied out of submitted/ before nbgrader sees it, plain files only.

nbgrader never reads ``submitted/`` itself (a student can hand in links into the course, hard links, special files
or huge files there): each submission is copied into a staging folder first, only the notebooks the release has
(and nbgrader's timestamp.txt), only regular files with a single link, read without following any link, size
bounded. A notebook that cannot be read that way, or that nbformat cannot read, is replaced by the release with a
note saying why, so it scores 0 with a reason instead of failing the grader.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

__all__ = ["MAX_NOTEBOOK_BYTES", "stage", "stage_unreadable", "copy_regular", "notebook_problem"]

MAX_NOTEBOOK_BYTES = 32 << 20


def stage(course, student: str, assignment: str, staging_root: Path) -> Path:
    """Copy one submission into staging_root/<student>/<assignment>: only the notebooks the release has (and
    nbgrader's timestamp.txt), only regular files with a single link, read without following any link, size
    bounded. Anything else handed in (links, other files, hard links to other files) is left behind; a notebook
    that cannot be read that way is replaced by the release with a note saying why (so it scores 0, with a
    reason, instead of failing the grader)."""
    dest = staging_root / student / assignment
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    notebooks = course.release_notebook_names(assignment)
    fd = None
    try:
        fd = os.open(course.submitted_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        for part in (student, assignment):
            inner = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = inner
    except OSError:
        if fd is not None:
            os.close(fd)
        fd = None
    if fd is not None:
        copy_regular(fd, [*notebooks, "timestamp.txt"], dest)
    for name in notebooks:
        if not (dest / name).is_file():
            stage_unreadable(course, assignment, name, dest)
        elif (problem := notebook_problem(dest / name)) is not None:
            stage_unreadable(course, assignment, name, dest, problem)
    return staging_root

def stage_unreadable(course, assignment: str, name: str, dest: Path, problem: str | None = None) -> None:
    """In place of a notebook that was not handed in as a plain file, or is not a notebook nbformat can read:
    the release, saying why it scores 0."""
    import nbformat

    release = course.release_notebook(assignment, name)
    if problem is None:
        text = (f"**{name} was not handed in as a regular file** (missing, a link, a folder, or too large), so "
                "the grader could not read it; this is the released notebook, unanswered.")
    else:
        text = (f"**{name} is not a valid notebook** ({problem}), so the grader could not read it; this is the "
                "released notebook, unanswered.")
    note = nbformat.v4.new_markdown_cell(text)
    note["id"] = "coursekit-unreadable-notice"
    release.cells.insert(0, note)
    nbformat.write(release, dest / name)

def copy_regular(fd: int, names, dest: Path) -> None:
    """Copy the named regular, single-link, size-bounded files of the folder fd into dest; skip the rest."""

    try:
        for name in names:
            try:
                src = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=fd)
            except OSError:
                continue
            info = os.fstat(src)
            if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1 or info.st_size > MAX_NOTEBOOK_BYTES:
                os.close(src)
                continue
            with os.fdopen(src, "rb") as f:
                (dest / name).write_bytes(f.read(MAX_NOTEBOOK_BYTES + 1)[:MAX_NOTEBOOK_BYTES])
    finally:
        os.close(fd)


def notebook_problem(path: Path) -> str | None:
    """Why nbgrader could not read the notebook at path (truncated or not JSON, not a notebook, invalid against
    the nbformat schema), in a few words; None when it reads. A notebook that only needs nbformat's own repairs
    (e.g. missing cell ids) is repaired in place."""
    import json

    import nbformat
    from nbformat.validator import ValidationError

    try:
        text = path.read_text(encoding="utf-8")
        nb = nbformat.reads(text, as_version=4)
    except (UnicodeDecodeError, json.JSONDecodeError, nbformat.reader.NotJSONError):
        return "it is not complete, well-formed JSON"
    except Exception as exc:  # noqa: BLE001 - nbformat's many ways of saying "not a notebook"
        return f"nbformat cannot read it: {type(exc).__name__}"
    try:
        nbformat.validate(nb)
    except ValidationError:
        try:
            _, repaired = nbformat.validator.normalize(json.loads(json.dumps(nb)), strip_invalid_metadata=True)
            repaired = nbformat.from_dict(repaired)
            nbformat.validate(repaired)
            nbformat.write(repaired, path)
        except Exception:  # noqa: BLE001 - still invalid after repair
            return "it does not follow the notebook format"
    except Exception as exc:  # noqa: BLE001
        return f"it does not follow the notebook format ({type(exc).__name__})"
    return None
