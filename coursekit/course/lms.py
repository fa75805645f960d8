"""Learning-management systems in and out: the file names of Canvas's, Moodle's and nbgrader's own submission
downloads (``collect``), and the grade files Canvas's gradebook import and Moodle's grading-worksheet upload accept
(``export``).

Downloads (each preset turns one archive path into a ``Found``):

* **Canvas** ("Download Submissions"): one loose file per submitted file, named
  ``<lastfirst>_[LATE_]<user id>_<submission id>_<original name>[-N].<ext>``: the sortable name lower-cased without
  separators, ``LATE`` when Canvas judged it late (after the due date and any override Canvas knows), Canvas's
  numeric user id, and ``-N`` on the original name when the student uploaded a file of that name again (the highest
  N is the latest). Seen in Canvas downloads documented by their users, e.g. the README of mikewesthad/canvas-unzipper
  (``smithbob_340934_208490284_BobsWork.zip``) and of TimHanneman/Canvas_submission_sort (the extra field for late
  files and the number before the extension for resubmissions). The user id is the student id: two students with
  the same name are two students. Canvas's name carries no submission time: a LATE file gets a timestamp one
  second after the gradebook's due date (the report says so), so nbgrader's late penalty applies.
* **Moodle** ("Download all submissions"): a folder ``<Full Name>_<participant id>_assignsubmission_file_/`` per
  student holding the files as handed in (or, with "download submissions in folders" off, files named
  ``<Full Name>_<participant id>_assignsubmission_file_<name>``). The number is the assignment's participant id
  (``assign::get_uniqueid_for_user``; with blind marking the name is "Participant"), the same number as the
  "Identifier" ("Participant 1234567") of Moodle's grading worksheet; Moodle's own feedback-import test states the
  format as ``StudentName_StudentID_PluginType_Plugin_FilePathAndName`` (mod/assign/feedback/file/tests). The
  download has no submission times: give collect the grading worksheet (``times=``), whose "Last modified
  (submission)" column has them.
* **nbgrader**: ``[...]/<student>/<assignment>/<notebook>.ipynb`` with an optional ``timestamp.txt`` beside (a
  submitted/ folder zipped), or the exchange's ``<student>+<assignment>+<timestamp>[+<random>]/<notebook>.ipynb``.

Grade files:

* **Canvas** gradebook import: the columns of Canvas's own gradebook export, ``Student, ID, SIS User ID, SIS Login
  ID, Section``, then one column per assignment (``Name (assignment id)`` for an existing assignment; a name alone
  makes Canvas create it), with a second row ``Points Possible``. Given Canvas's export as a template, its rows and
  columns are kept and only the matching assignment columns are filled in (rows matched by the ID column).
* **Moodle** grading worksheet (Assignment > "Upload grading worksheet", one per assignment): ``Identifier, Full
  name, Email address, Status, Grade, Maximum Grade, Grade can be changed, Last modified (submission), Last modified
  (grade), Feedback comments``, the identifier ``Participant <id>``. Given Moodle's own worksheet as a template, its
  rows are kept and Grade filled in, scaled to the worksheet's Maximum Grade.
"""

from __future__ import annotations

import csv
import datetime
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

__all__ = ["PRESETS", "Found", "parse", "detect", "read_moodle_times", "canvas_grades", "moodle_worksheet",
           "MOODLE_COLUMNS", "CANVAS_FIXED_COLUMNS"]

PRESETS = ("canvas", "moodle", "nbgrader")


@dataclass
class Found:
    """One notebook of a download, as its LMS names it."""
    entry: str                 # the archive path
    student_id: str
    notebook: str              # the file name it is collected as (no LMS decorations)
    first_name: str | None = None
    last_name: str | None = None
    timestamp: datetime.datetime | None = None   # when it was handed in (UTC), if the download says
    late: bool = False         # the LMS marked it late
    attempt: int = 0           # a later upload of the same notebook has a higher attempt


_CANVAS = re.compile(r"(?P<name>[^_/]+?)_(?P<late>LATE_)?(?P<user>\d+)_(?P<submission>\d+)_(?P<file>[^/]+?)"
                     r"(?:-(?P<attempt>\d+))?(?P<ext>\.ipynb)")
_MOODLE = re.compile(r"(?:.*/)?(?P<name>[^/]+?)_(?P<user>\d+)_assignsubmission_file_(?:/(?:.*/)?)?"
                     r"(?P<file>[^/]+\.ipynb)")
_EXCHANGE = re.compile(r"(?:.*/)?(?P<student>[^+/]+)\+(?P<assignment>[^+/]+)\+(?P<timestamp>[^+/]+)(?:\+[^/]*)?/"
                       r"(?P<file>[^/]+\.ipynb)")


def _split_full_name(name: str) -> tuple[str | None, str | None]:
    parts = name.strip().rsplit(" ", 1)
    return (parts[0], parts[1]) if len(parts) == 2 else (None, parts[0] or None)


def parse(preset: str, entry: str, assignment: str, timestamps: dict | None = None) -> Found | None:
    """What the preset makes of one archive path (None: not one of its files). timestamps: for nbgrader's
    layout, {folder path: the text of its timestamp.txt}."""
    path = PurePosixPath(entry)
    if preset == "canvas":
        match = _CANVAS.fullmatch(path.name)
        if not match:
            return None
        return Found(entry, match["user"], match["file"] + match["ext"], last_name=match["name"],
                     late=bool(match["late"]), attempt=int(match["attempt"] or 0))
    if preset == "moodle":
        match = _MOODLE.fullmatch(entry)
        if not match:
            return None
        first, last = _split_full_name(match["name"])
        return Found(entry, match["user"], match["file"], first_name=first, last_name=last)
    if preset == "nbgrader":
        match = _EXCHANGE.fullmatch(entry)
        if match and match["assignment"] == assignment:
            return Found(entry, match["student"], match["file"], timestamp=_utc(match["timestamp"]))
        parts = path.parts
        if len(parts) >= 3 and parts[-2] == assignment and path.suffix == ".ipynb":
            stamp = (timestamps or {}).get(str(path.parent))
            return Found(entry, parts[-3], parts[-1], timestamp=_utc(stamp) if stamp else None)
        return None
    raise ValueError(f"lms={preset!r} is not one of {', '.join(PRESETS)}")


def _utc(text: str) -> datetime.datetime | None:
    """A timestamp as nbgrader reads it (nbgrader.utils.parse_utc), naive UTC; None when it does not parse."""
    from nbgrader.utils import parse_utc

    try:
        value = parse_utc(text.strip())
    except (ValueError, OverflowError, TypeError):
        return None
    if value.tzinfo is not None:
        value = value.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return value


def detect(entries, assignment: str) -> str:
    """The one preset whose names the notebooks of the archive have; ValueError (naming the counts) when none
    or several do."""
    notebooks = [e for e in entries if e.endswith(".ipynb")]
    counts = {preset: sum(parse(preset, e, assignment) is not None for e in notebooks) for preset in PRESETS}
    matching = [p for p, n in counts.items() if n]
    if len(matching) == 1:
        return matching[0]
    seen = ", ".join(f"{p}: {n}" for p, n in counts.items())
    if not matching:
        raise ValueError(f"none of the {len(notebooks)} notebook(s) in the archive is named as a Canvas, Moodle or "
                         f"nbgrader download names them; give --pattern ({seen})")
    raise ValueError(f"the archive's file names fit several layouts ({seen}); choose one with --lms")


def read_moodle_times(path, timezone: str | None = None) -> dict:
    """{participant id: submission time (naive UTC)} from Moodle's grading worksheet ("Last modified
    (submission)", written in the downloading user's time zone: timezone, e.g. "Europe/Berlin", else this
    machine's)."""
    import dateutil.parser
    import dateutil.tz

    zone = dateutil.tz.gettz(timezone) if timezone else dateutil.tz.tzlocal()
    if timezone and zone is None:
        raise ValueError(f"timezone={timezone!r} is not a time zone name")
    times = {}
    with open(path, newline="", encoding="utf-8-sig") as f:
        for row in csv.DictReader(f):
            ident = re.fullmatch(r"\D*(\d+)", (row.get("Identifier") or "").strip())
            stamp = (row.get("Last modified (submission)") or "").strip()
            if not ident or not stamp or stamp in ("-", "No submission"):
                continue
            try:
                local = dateutil.parser.parse(stamp, fuzzy=True)
            except (ValueError, OverflowError):
                continue
            local = local if local.tzinfo else local.replace(tzinfo=zone)
            times[ident[1]] = local.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return times


# ------------------------------------------------------------------------------------------------ grade files
CANVAS_FIXED_COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
MOODLE_COLUMNS = ["Identifier", "Full name", "Email address", "Status", "Grade", "Maximum Grade",
                  "Grade can be changed", "Last modified (submission)", "Last modified (grade)", "Feedback comments"]


def _number(value: float) -> str:
    return f"{round(value, 2):g}"


def _canvas_column(header: str, assignment: str, mapping: dict) -> bool:
    if assignment in mapping:
        return header == mapping[assignment]
    return re.sub(r"\s*\(\d+\)$", "", header).strip() == assignment


def canvas_grades(table, dest, template=None, columns: dict | None = None) -> list[str]:
    """Write the Canvas gradebook-import CSV of table (a ScoreTable) to dest; returns notes for the instructor.

    template: Canvas's own gradebook export; its rows and columns are kept and the assignment columns whose name
    (without the " (id)") is an nbgrader assignment, or columns[assignment], are filled in. A student without a
    submission keeps what the template holds (an empty cell without one: no grade)."""
    mapping = dict(columns or {})
    notes = []
    if template is None:
        header = CANVAS_FIXED_COLUMNS + list(table.assignments)
        rows = [["    Points Possible", "", "", "", "", *(_number(table.max_score[a]) for a in table.assignments)]]
        for student in table.students:
            first, last = table.names.get(student, (None, None))
            name = ", ".join(p for p in (last, first) if p) or student
            rows.append([name, student, "", "", "",
                         *("" if table.score(student, a) is None else _number(table.score(student, a))
                           for a in table.assignments)])
    else:
        with open(template, newline="", encoding="utf-8-sig") as f:
            reader = list(csv.reader(f))
        if not reader or "ID" not in reader[0]:
            raise ValueError(f"template={str(template)!r} is not a Canvas gradebook export (no 'ID' column)")
        header, rows = reader[0], reader[1:]
        id_column = header.index("ID")
        targets = {}
        for assignment in table.assignments:
            found = [i for i, h in enumerate(header) if _canvas_column(h, assignment, mapping)]
            if len(found) == 1:
                targets[assignment] = found[0]
            else:
                notes.append(f"{assignment}: {'no' if not found else 'more than one'} column of the Canvas "
                             f"export matches; name it with --canvas-column {assignment}=\"<column>\"")
        known = {row[id_column] for row in rows if len(row) > id_column}
        for row in rows:
            if len(row) <= id_column or row[id_column] not in table.students:
                continue
            row.extend([""] * (len(header) - len(row)))
            for assignment, column in targets.items():
                value = table.score(row[id_column], assignment)
                if value is not None:
                    row[column] = _number(value)
        missing = [s for s in table.students if s not in known]
        if missing:
            notes.append(f"{len(missing)} student(s) of the gradebook are not in the Canvas export (left out): "
                         + ", ".join(missing))
    _write_csv(dest, header, rows)
    return notes


def moodle_worksheet(table, assignment: str, dest, template=None) -> list[str]:
    """Write Moodle's grading worksheet for one assignment to dest; returns notes for the instructor.

    template: the worksheet downloaded from Moodle; its rows are kept and Grade filled in, scaled from the
    nbgrader maximum to the worksheet's Maximum Grade. Without one, the Maximum Grade column says the nbgrader
    maximum, which Moodle's assignment must have."""
    notes = []
    ours = table.max_score[assignment]
    if template is None:
        header, rows = MOODLE_COLUMNS, []
        for student in table.students:
            value = table.score(student, assignment)
            first, last = table.names.get(student, (None, None))
            rows.append([f"Participant {student}", " ".join(p for p in (first, last) if p) or student,
                         table.emails.get(student) or "", "Submitted for grading" if value is not None else
                         "No submission", "" if value is None else _number(value), _number(ours), "Yes", "", "", ""])
    else:
        with open(template, newline="", encoding="utf-8-sig") as f:
            reader = list(csv.reader(f))
        if not reader or "Identifier" not in reader[0] or "Grade" not in reader[0]:
            raise ValueError(f"template={str(template)!r} is not a Moodle grading worksheet (no Identifier and "
                             "Grade columns)")
        header, rows = reader[0], reader[1:]
        ident, grade = header.index("Identifier"), header.index("Grade")
        maximum = header.index("Maximum Grade") if "Maximum Grade" in header else None
        for row in rows:
            number = re.fullmatch(r"\D*(\d+)", row[ident].strip()) if len(row) > ident else None
            if not number or number[1] not in table.students:
                continue
            value = table.score(number[1], assignment)
            if value is None:
                continue
            row.extend([""] * (len(header) - len(row)))
            scale = 1.0
            if maximum is not None and row[maximum].strip():
                scale = float(row[maximum]) / ours if ours else 1.0
            row[grade] = _number(value * scale)
        if maximum is not None and any(len(r) > maximum and r[maximum].strip() and float(r[maximum]) != ours
                                       for r in rows):
            notes.append(f"{assignment}: grades scaled from nbgrader's maximum {_number(ours)} to the worksheet's "
                         "Maximum Grade")
    _write_csv(dest, header, rows)
    return notes


def _write_csv(dest, header, rows) -> None:
    dest = Path(dest)
    partial = dest.with_name(dest.name + ".partial")
    with open(partial, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    partial.replace(dest)


def export_lms(course, canvas_template=None, canvas_columns: dict | None = None,
               moodle_templates: dict | None = None, folder=None) -> tuple[list, list]:
    """Beside nbgrader's grades.csv: grades_canvas.csv (Canvas's gradebook import) and one
    grades_moodle_<assignment>.csv (Moodle's grading worksheet) per assignment, in folder (the course directory by
    default). Returns (the paths written, notes for the instructor)."""
    from .scores import read_scores

    folder = Path(folder) if folder else course.course
    table = read_scores(course.db_url)
    unknown = sorted(set(moodle_templates or {}) - set(table.assignments))
    if unknown:
        raise ValueError(f"moodle template for {', '.join(unknown)}: not an assignment of the gradebook")
    paths, notes = [folder / "grades_canvas.csv"], []
    notes += canvas_grades(table, paths[0], canvas_template, canvas_columns)
    for assignment in table.assignments:
        path = folder / f"grades_moodle_{assignment}.csv"
        notes += moodle_worksheet(table, assignment, path, (moodle_templates or {}).get(assignment))
        paths.append(path)
    return paths, notes
