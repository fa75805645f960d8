"""`coursekit collect ASSIGNMENT ARCHIVE.zip [--lms canvas|moodle|nbgrader | --pattern RE]`: submissions downloaded
from a learning-management system into the course's submitted folder, as nbgrader's zip_collect lays them out
(submitted/<student>/<assignment>/<notebook>.ipynb, with timestamp.txt when the download says when it was handed in).

The download's file names are read by a preset (``coursekit.course.lms``: Canvas, Moodle, nbgrader's own layout;
detected when only one fits), or by a custom pattern through nbgrader's own FileNameCollectorPlugin. The LMS's
numeric user id is the student id (so two students with the same name stay two), the names go into the gradebook
(nbgrader's Student first_name / last_name), the latest of several uploads of one notebook is kept (Canvas's
``-N`` resubmissions; otherwise the newest timestamp), and a late marker or a submission time becomes the
submission's timestamp.txt, which nbgrader's AssignLatePenalties reads. All of it runs in this process: nbgrader's
start-up was most of collect's time.

The archive is student input, so it is unpacked here rather than by nbgrader's extractor (which hands .zip and
.tar.gz files to shutil.unpack_archive): only a zip, only regular files, every entry's name checked before anything
is written (no absolute paths, no `..`, no drive letters, no links; each file created new with O_EXCL|O_NOFOLLOW in
folders made by this process), at most MAX_ENTRIES entries and MAX_NOTEBOOK_BYTES per file, counted on the bytes
actually read (a zip's declared sizes can lie). Student and file ids that the pattern extracts from a name must be
plain names, so nbgrader never builds a path outside its folders from them.

The collected notebooks are written into an empty staging folder first; each student's submission moves into the
course's submitted folder only if none is there yet, or with force=True. The report says what was collected, kept,
replaced, late, and which files matched nothing.
"""

from __future__ import annotations

import datetime
import logging
import os
import re
import shutil
import stat
import tempfile
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from . import lms
from .pipeline import Course
from .staging import MAX_NOTEBOOK_BYTES

__all__ = ["DEFAULT_PATTERN", "CollectReport", "collect"]

# The pattern `collect --pattern` took by default before the presets (Canvas's names, the name part as the id).
# As in nbgrader, a pattern is matched against the whole path of each extracted file, hence the leading .*/
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
    layout: str = ""                                # the preset used, or "pattern"
    names: dict = field(default_factory=dict)       # student -> (first name, last name) from the download
    timestamps: dict = field(default_factory=dict)  # student -> the timestamp written (naive UTC)
    notes: dict = field(default_factory=dict)       # student -> what the instructor should know (late, older copies)

    def __str__(self) -> str:
        lines = [f"collected {self.assignment} for {len(self.collected)} student(s)"
                 + (f" ({self.layout} layout)" if self.layout else "")]
        for student, notebooks in sorted(self.collected.items()):
            note = " (replaced the earlier submission)" if student in self.replaced else ""
            first, last = self.names.get(student, (None, None))
            name = " ".join(p for p in (first, last) if p)
            stamp = self.timestamps.get(student)
            lines.append(f"   {student:<12} {name[:24]:<24} {', '.join(notebooks)}"
                         + (f"  handed in {stamp:%Y-%m-%d %H:%M:%S} UTC" if stamp else "") + note)
            lines += [f"      {text}" for text in self.notes.get(student, [])]
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


def _by_pattern(files, extracted: Path, pattern: str, report: CollectReport) -> list:
    """nbgrader's own FileNameCollectorPlugin on each file (its named_regexp on the whole path): Found or None."""
    from nbgrader.plugins import FileNameCollectorPlugin

    quiet = logging.getLogger("coursekit.collect.screen")  # its per-file warnings are this report's job
    quiet.propagate, quiet.disabled = False, True
    collector = FileNameCollectorPlugin(named_regexp=pattern, log=quiet)
    found = []
    for path in files:
        info = collector.collect(str(path)) if path.suffix in collector.valid_ext else None
        if not info:
            found.append(None)
            continue
        # the name nbgrader's zip_collect gives the file
        notebook = os.path.splitext(info.get("file_id") or "")[0] + path.suffix
        stamp = lms._utc(info["timestamp"]) if info.get("timestamp") else None
        found.append(lms.Found(str(path.relative_to(extracted)), info.get("student_id") or "", notebook,
                               info.get("first_name"), info.get("last_name"), stamp))
    return found


def _choose(found: list, released: set, report: CollectReport, layout: str) -> dict:
    """(student, notebook) -> the Found to collect: the latest of several uploads (a higher attempt, else a later
    timestamp); when that cannot be told, none (reported)."""
    candidates: dict = {}
    for item in found:
        key = (item.student_id, item.notebook)
        candidates.setdefault(key, []).append(item)
    chosen = {}
    for (student, notebook), items in sorted(candidates.items()):
        if len(items) == 1:
            chosen[(student, notebook)] = items[0]
            continue
        attempts = {i.attempt for i in items}
        stamped = all(i.timestamp is not None for i in items)
        if len(attempts) == len(items):
            best = max(items, key=lambda i: i.attempt)
        elif stamped and len({i.timestamp for i in items}) == len(items):
            best = max(items, key=lambda i: i.timestamp)
        else:
            for item in items:
                report.unmatched.append((item.entry, f"one of {len(items)} files for {student}/{notebook}, with no "
                                         "timestamp or resubmission number to choose the newest by; collect one "
                                         "by hand"))
            continue
        chosen[(student, notebook)] = best
        older = sorted(i.entry for i in items if i is not best)
        report.notes.setdefault(student, []).append(
            f"{notebook}: kept the latest upload ({best.entry}); older: {', '.join(older)}")
    return chosen


def _screen(preset: str | None, pattern: str | None, files: list, extracted: Path, assignment: str,
            released: set, report: CollectReport) -> dict:
    """What every extracted file is; the (student, notebook) -> Found to collect. Files that are not collected go
    into the report with the reason."""
    names = [str(p.relative_to(extracted)) for p in files]
    if pattern is not None:
        found = _by_pattern(files, extracted, pattern, report)
        report.layout = "pattern"
    else:
        if preset is None:
            preset = lms.detect(names, assignment)
        report.layout = preset
        stamps = {}
        if preset == "nbgrader":
            for path, name in zip(files, names):
                if path.name == "timestamp.txt":
                    stamps[str(PurePosixPath(name).parent)] = path.read_text(errors="replace")[:200]
        found = [lms.parse(preset, name, assignment, stamps) for name in names]
    usable = []
    for path, name, item in zip(files, names, found):
        why = None
        if path.suffix != ".ipynb":
            why = None if path.name == "timestamp.txt" and report.layout == "nbgrader" else \
                f"not a notebook ({path.suffix or 'no extension'})"
            if why is None:
                continue
        elif item is None:
            why = "its name does not match the " + ("pattern" if pattern is not None else f"{report.layout} layout")
        elif not SAFE_ID.fullmatch(item.student_id or ""):
            why = f"student id {item.student_id!r} is not a plain name"
        else:
            if item.notebook not in released and item.attempt:
                # "hw-1.ipynb" may be a file's own name rather than a resubmission of hw.ipynb
                own = f"{Path(item.notebook).stem}-{item.attempt}.ipynb"
                if own in released:
                    item.notebook, item.attempt = own, 0
            if item.notebook not in released:
                why = f"{item.notebook!r} is not a notebook of the release ({', '.join(sorted(released))})"
        if why:
            report.unmatched.append((name, why))
            continue
        item.path = path
        usable.append(item)
    return _choose(usable, released, report, report.layout)


def _timestamp(item, course: Course, assignment: str, times: dict, report: CollectReport):
    """The timestamp.txt to write for a collected notebook (naive UTC), or None: the download's own time, else the
    worksheet's, else for an LMS late marker one second after the gradebook's due date."""
    if item.timestamp is not None:
        return item.timestamp
    if item.student_id in times:
        return times[item.student_id]
    if item.late:
        due = _duedate(course, assignment)
        if due is None:
            report.notes.setdefault(item.student_id, []).append(
                "marked LATE by the LMS, but the gradebook has no due date for the assignment: no late penalty")
            return None
        report.notes.setdefault(item.student_id, []).append(
            "marked LATE by the LMS, which gives no time: recorded as handed in 1 s after the due date (the late "
            "penalty applies as for that; put the real time in timestamp.txt if it matters)")
        return due + datetime.timedelta(seconds=1)
    return None


_DUE: dict = {}


def _duedate(course: Course, assignment: str):
    key = (course.db_url, assignment)
    if key not in _DUE:
        from nbgrader.api import Gradebook, MissingEntry

        warnings.filterwarnings("ignore", module="nbgrader.api")
        with Gradebook(course.db_url) as gb:
            try:
                _DUE[key] = gb.find_assignment(assignment).duedate
            except MissingEntry:
                _DUE[key] = None
    return _DUE[key]


def _record_students(course: Course, report: CollectReport) -> None:
    """The names the download gives, into the gradebook (only where it has them: a name known there is not erased)."""
    from nbgrader.api import Gradebook

    named = {s: n for s, n in report.names.items() if s in report.collected and any(n)}
    if not named:
        return
    warnings.filterwarnings("ignore", module="nbgrader.api")
    with Gradebook(course.db_url) as gb:
        for student, (first, last) in named.items():
            fields = {k: v for k, v in (("first_name", first), ("last_name", last)) if v}
            gb.update_or_create_student(student, **fields)


def collect(course: Course, assignment: str, archive, pattern: str | None = None, force: bool = False,
            lms_name: str | None = None, times=None, timezone: str | None = None) -> CollectReport:
    """Collect the notebooks in the zip at archive into the course's submitted/<student>/<assignment>/ folders.

    lms_name: "canvas", "moodle" or "nbgrader" (the download's layout; detected when None and no pattern).
    pattern: instead, nbgrader's FileNameCollectorPlugin.named_regexp, matched against each extracted file's whole
    path, with named groups student_id and file_id (and optionally timestamp, first_name, last_name, email).
    times: Moodle's grading worksheet (CSV), for the submission times Moodle's download lacks (timezone: the zone
    its times are written in). An existing submission is kept unless force. Raises ValueError for an unreadable
    archive, a pattern without the groups, or a layout that cannot be told.
    """
    archive = Path(archive)
    if pattern is not None and lms_name is not None:
        raise ValueError("give either lms= or pattern=, not both")
    if pattern is not None:
        _check_pattern(pattern)
    if lms_name is not None and lms_name not in lms.PRESETS:
        raise ValueError(f"lms={lms_name!r} is not one of {', '.join(lms.PRESETS)}")
    release = course.release_dir / assignment
    released = {p.name for p in release.glob("*.ipynb")}
    if not released:
        raise ValueError(f"assignment={assignment!r}: no released notebooks in {release}; release it first")
    worksheet_times = lms.read_moodle_times(times, timezone) if times else {}
    report = CollectReport(assignment)
    _DUE.clear()
    with tempfile.TemporaryDirectory(prefix="coursekit-collect-") as tmp:
        tmp = Path(tmp)
        extracted = tmp / "extracted"
        extracted.mkdir()
        files = _extract(archive, extracted, report)
        chosen = _screen(lms_name, pattern, files, extracted, assignment, released, report)
        staging = tmp / "submitted"
        for (student, notebook), item in sorted(chosen.items()):
            folder = staging / student / assignment
            folder.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(item.path, folder / notebook)
            if item.first_name or item.last_name:
                report.names[student] = (item.first_name, item.last_name)
            stamp = _timestamp(item, course, assignment, worksheet_times, report)
            if stamp is not None and (student not in report.timestamps or stamp > report.timestamps[student]):
                report.timestamps[student] = stamp
        for student, stamp in report.timestamps.items():
            (staging / student / assignment / "timestamp.txt").write_text(stamp.strftime("%Y-%m-%d %H:%M:%S.%f UTC"))
        for folder in sorted(staging.iterdir()) if staging.is_dir() else []:
            source = folder / assignment
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
    for student in list(report.timestamps):
        if student not in report.collected:
            del report.timestamps[student]
    _record_students(course, report)
    return report
