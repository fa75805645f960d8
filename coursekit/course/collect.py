"""`coursekit collect ASSIGNMENT ARCHIVE.zip`: submissions downloaded from a learning-management system into
the course's submitted folder, through nbgrader's zip_collect (ZipCollectApp with its FileNameCollectorPlugin).

The archive is student input, so it is unpacked here rather than by nbgrader's extractor (which hands .zip and
.tar.gz files to shutil.unpack_archive): only a zip, only regular files, every entry's name checked before anything
is written (no absolute paths, no `..`, no drive letters, no links; each file created new with O_EXCL|O_NOFOLLOW in
folders made by this process), at most MAX_ENTRIES entries and MAX_NOTEBOOK_BYTES per file, counted on the bytes
actually read (a zip's declared sizes can lie). Student and file ids that the pattern extracts from a name must be
plain names, so nbgrader never builds a path outside its folders from them.

nbgrader's collector then runs on that folder, writing into an empty staging folder; each student's collected
submission moves into the course's submitted folder only if none is there yet, or with force=True. The report says
what was collected, kept, replaced, and which files matched nothing.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from .pipeline import Course, NbgraderError
from .staging import MAX_NOTEBOOK_BYTES

__all__ = ["DEFAULT_PATTERN", "CollectReport", "collect"]

# Canvas's "Download Submissions": name_[LATE_]userid_submissionid_originalname[-N].ipynb (-N: a resubmission).
# As in nbgrader, the pattern is matched against the whole path of each extracted file, hence the leading .*/
DEFAULT_PATTERN = (r".*/(?P<student_id>[A-Za-z0-9.@-]+)_(?:LATE_)?\d+_\d+_(?P<file_id>[^/]+?)(?:-\d+)?\.ipynb$")
MAX_ENTRIES = 20_000
SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}")


@dataclass
class CollectReport:
    assignment: str
    collected: dict = field(default_factory=dict)   # student -> notebooks now in submitted/
    replaced: list = field(default_factory=list)    # students whose earlier submission was replaced (force)
    kept: list = field(default_factory=list)        # students whose earlier submission was kept (no force)
    unmatched: list = field(default_factory=list)   # (archive entry, why) for files that were not collected
    refused: list = field(default_factory=list)     # (archive entry, why) for entries never written to disk

    def __str__(self) -> str:
        lines = [f"collected {self.assignment} for {len(self.collected)} student(s)"]
        for student, notebooks in sorted(self.collected.items()):
            note = " (replaced the earlier submission)" if student in self.replaced else ""
            lines.append(f"   {student:<24} {', '.join(notebooks)}{note}")
        if self.kept:
            lines.append(f"kept {len(self.kept)} earlier submission(s), NOT overwritten (use --force to replace):")
            lines += [f"   {student}" for student in sorted(self.kept)]
        if self.unmatched:
            lines.append(f"{len(self.unmatched)} file(s) not collected:")
            lines += [f"   {name}: {why}" for name, why in self.unmatched]
        if self.refused:
            lines.append(f"{len(self.refused)} archive entr(y/ies) refused, not extracted:")
            lines += [f"   {name!r}: {why}" for name, why in self.refused]
        return "\n".join(lines)


def _entry_path(info: zipfile.ZipInfo) -> tuple[PurePosixPath | None, str]:
    """The relative path an archive entry may be extracted to, or None and why not."""
    name = info.filename
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        return None, "a symbolic link"
    # zips written on Windows, and Python's writestr, leave the file type out (0): taken as a regular file
    if stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
        return None, "not a regular file"
    if "\x00" in name or "\\" in name:
        return None, "a name with a NUL or a backslash"
    path = PurePosixPath(name)
    if path.is_absolute() or re.match(r"[A-Za-z]:", name):
        return None, "an absolute path"
    if any(part in ("..", ".") for part in path.parts) or not path.parts:
        return None, "a path with '..' or '.'"
    return path, ""


def _extract(archive: Path, dest: Path, report: CollectReport) -> list[Path]:
    """Unpack the regular files of the zip at archive under dest (see the module's docstring); returns them."""
    written = []
    try:
        bundle = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ValueError(f"archive={str(archive)!r} is not a readable zip file: {exc}") from None
    with bundle:
        entries = bundle.infolist()
        if len(entries) > MAX_ENTRIES:
            raise ValueError(f"archive={str(archive)!r} has {len(entries)} entries, more than {MAX_ENTRIES}")
        for info in entries:
            if info.is_dir():
                continue
            relative, why = _entry_path(info)
            if relative is None:
                report.refused.append((info.filename, why))
                continue
            target = dest.joinpath(*relative.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            except FileExistsError:
                report.refused.append((info.filename, "a second entry with the same name"))
                continue
            with os.fdopen(fd, "wb") as out, bundle.open(info) as source:
                data = source.read(MAX_NOTEBOOK_BYTES + 1)
                out.write(data[:MAX_NOTEBOOK_BYTES])
            if len(data) > MAX_NOTEBOOK_BYTES:
                target.unlink()
                report.refused.append((info.filename, f"larger than {MAX_NOTEBOOK_BYTES >> 20} MB"))
                continue
            written.append(target)
    return written


def _check_pattern(pattern: str) -> re.Pattern:
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"pattern={pattern!r} is not a regular expression: {exc}") from None
    missing = {"student_id", "file_id"} - set(compiled.groupindex)
    if missing:
        raise ValueError(f"pattern={pattern!r} lacks the named group(s) {sorted(missing)}: nbgrader's collector needs "
                         "(?P<student_id>...) and (?P<file_id>...)")
    return compiled


def _screen(files: list[Path], extracted: Path, pattern: str, released: set, report: CollectReport) -> None:
    """Ask nbgrader's own FileNameCollectorPlugin what it would make of each file; remove (and report) those it
    would skip, and those whose ids are not plain names, before nbgrader's collector sees the folder."""
    from nbgrader.plugins import FileNameCollectorPlugin

    quiet = logging.getLogger("coursekit.collect.screen")  # its per-file warnings are this report's job
    quiet.propagate, quiet.disabled = False, True
    collector = FileNameCollectorPlugin(named_regexp=pattern, log=quiet)
    kept: dict = {}  # (student, notebook) -> [(path, has a timestamp)]
    for path in files:
        name = str(path.relative_to(extracted))
        info = collector.collect(str(path))
        why = None
        if path.suffix not in collector.valid_ext:
            why = f"not a notebook ({path.suffix or 'no extension'})"
        elif not info:
            why = "its name does not match the pattern"
        elif not SAFE_ID.fullmatch(info.get("student_id") or ""):
            why = f"student id {info.get('student_id')!r} is not a plain name"
        # the name nbgrader will give the file (its zip_collect's rule); released names are plain file names
        elif (named := os.path.splitext(info.get("file_id") or "")[0] + path.suffix) not in released:
            why = f"{named!r} is not a notebook of the release ({', '.join(sorted(released))})"
        if why:
            report.unmatched.append((name, why))
            path.unlink()
        else:
            kept.setdefault((info["student_id"], named), []).append((path, bool(info.get("timestamp"))))
    # nbgrader keeps the newest of several files for one notebook, and stops everything when it cannot tell
    for (student, named), copies in kept.items():
        if len(copies) > 1 and not all(stamped for _, stamped in copies):
            for path, _ in copies:
                report.unmatched.append((str(path.relative_to(extracted)),
                                         f"one of {len(copies)} files for {student}/{named}, with no timestamp in "
                                         "the name to choose the newest by; collect one by hand"))
                path.unlink()


def collect(course: Course, assignment: str, archive, pattern: str = DEFAULT_PATTERN,
            force: bool = False) -> CollectReport:
    """Collect the notebooks in the zip at archive into the course's submitted/<student>/<assignment>/ folders.

    pattern: nbgrader's FileNameCollectorPlugin.named_regexp, matched against each extracted file's whole path,
    with named groups student_id and file_id (and optionally timestamp, first_name, last_name, email). An existing
    submission is kept unless force. Raises ValueError for an unreadable archive or a pattern without the groups.
    """
    archive = Path(archive)
    _check_pattern(pattern)
    release = course.release_dir / assignment
    released = {p.name for p in release.glob("*.ipynb")}
    if not released:
        raise ValueError(f"assignment={assignment!r}: no released notebooks in {release}; release it first")
    report = CollectReport(assignment)
    with tempfile.TemporaryDirectory(prefix="coursekit-collect-") as tmp:
        tmp = Path(tmp)
        extracted = tmp / "downloaded" / assignment / "extracted"
        extracted.mkdir(parents=True)
        files = _extract(archive, extracted, report)
        _screen(files, extracted, pattern, released, report)
        staging = tmp / "submitted"
        staging.mkdir()
        if any(p.is_file() for p in extracted.rglob("*")):
            cmd = [sys.executable, "-m", "nbgrader", "zip_collect", assignment, "--strict",
                   f"--CourseDirectory.root={tmp}", f"--CourseDirectory.release_directory={course.release_dir}",
                   f"--CourseDirectory.submitted_directory={staging}",
                   f"--FileNameCollectorPlugin.named_regexp={pattern}"]
            # run where no nbgrader_config.py is: the course's own settings must not redirect where it writes
            done = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                                  env={**os.environ, "PYTHONWARNINGS": "ignore"})
            if done.returncode != 0:
                tail = (done.stdout + done.stderr).strip().splitlines()[-6:]
                raise NbgraderError(f"nbgrader zip_collect failed (exit {done.returncode}):\n" + "\n".join(tail))
        for folder in sorted(staging.iterdir()):
            source = folder / assignment
            if not source.is_dir():
                continue
            student = folder.name
            dest = course.submitted_dir / student / assignment
            if dest.exists() or dest.is_symlink():
                if not force:
                    report.kept.append(student)
                    continue
                report.replaced.append(student)
            dest.parent.mkdir(parents=True, exist_ok=True)
            incoming = dest.with_name(f".{assignment}.collecting")
            shutil.rmtree(incoming, ignore_errors=True)
            shutil.copytree(source, incoming, symlinks=True)
            if dest.is_symlink() or dest.is_file():
                dest.unlink()
            elif dest.exists():
                shutil.rmtree(dest)
            os.rename(incoming, dest)
            report.collected[student] = sorted(p.name for p in dest.glob("*.ipynb"))
    return report
