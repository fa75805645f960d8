"""Per-student extensions from a file the instructor edits: ``<course dir>/extensions.json``.

    {"a1_conv_arithmetic": {"1002": "+2 days", "alice": "2030-01-03 23:59:00 UTC"},
     "a2_batchnorm": {"bob": "+36 hours"}}

A value is either a new due date for that student (a date and time, e.g. "2030-01-03 23:59:00 UTC" or
"2030-01-04 00:59:00 +0100"; without a zone it is UTC) or ``+N days/hours/minutes/weeks`` (parts may be combined:
"+1 day 6 hours"); ``null`` or "+0 days" removes an extension. nbgrader keeps extensions in the gradebook
(``SubmittedAssignment.extension``), and its late penalty (``AssignLatePenalties``, through
``total_seconds_late``) subtracts them; so before a submission is graded (every path: ``--jobs``, Dask,
``regrade``) the file's entry for it is written into the gradebook it is graded into. A student the file does not
name keeps whatever extension the gradebook already holds.
"""

from __future__ import annotations

import datetime
import json
import re
import warnings
from pathlib import Path

__all__ = ["EXTENSIONS", "load_extensions", "extension_for", "apply_extension"]

EXTENSIONS = "extensions.json"
_PART = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(week|day|hour|minute)s?\s*", re.I)


def load_extensions(path) -> dict:
    """{assignment: {student: value}} from the file at path; {} when there is none. ValueError naming the file for
    anything else than that shape."""
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        return {}
    except ValueError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise ValueError(f"{path}: expected {{assignment: {{student: \"+2 days\" or a due date}}}}")
    for assignment, students in data.items():
        for student, value in students.items():
            if value is not None and not isinstance(value, str):
                raise ValueError(f"{path}: {assignment}/{student}: {value!r} is neither a date nor '+N days'")
    return data


def extension_for(value: str | None, duedate: datetime.datetime | None, where: str = "") -> datetime.timedelta | None:
    """The extension a value of the file gives, relative to the assignment's due date (naive UTC, as nbgrader
    stores it). None removes the extension."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.startswith("+"):
        rest, total = text[1:], datetime.timedelta()
        while rest:
            match = _PART.match(rest)
            if not match or not match.group(0):
                raise ValueError(f"{where}{value!r}: expected e.g. '+2 days' or '+1 day 6 hours'")
            total += datetime.timedelta(**{match[2].lower() + "s": float(match[1])})
            rest = rest[match.end():]
        return total or None
    import dateutil.parser

    try:
        # not nbgrader's parse_utc: it reads a numeric zone such as +0100 as seconds
        due = dateutil.parser.parse(text)
    except (ValueError, OverflowError):
        raise ValueError(f"{where}{value!r} is neither a due date nor '+N days'") from None
    if due.tzinfo is not None:
        due = due.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    if duedate is None:
        raise ValueError(f"{where}a new due date {value!r} needs the assignment's own due date in the gradebook "
                         "(nbgrader stores extensions relative to it); give '+N days' instead")
    if due < duedate:
        raise ValueError(f"{where}{value!r} is before the assignment's due date {duedate} UTC")
    return (due - duedate) or None


def apply_extension(course, student: str, assignment: str, db_url: str | None = None) -> datetime.timedelta | None:
    """Write the extensions file's entry for one submission into the gradebook at db_url (the course's by default)
    before it is graded; nothing when the file does not name it. Returns the extension the entry gives."""
    path = Path(course.course) / EXTENSIONS
    if not path.is_file():
        return None
    entries = load_extensions(path).get(assignment, {})
    if student not in entries:
        return None
    from nbgrader.api import Gradebook

    warnings.filterwarnings("ignore", module="nbgrader.api")
    with Gradebook(db_url or course.db_url) as gb:
        due = gb.find_assignment(assignment).duedate
        extension = extension_for(entries[student], due, f"{path}: {assignment}/{student}: ")
        gb.update_or_create_student(student)
        gb.update_or_create_submission(assignment, student, extension=extension)
    return extension
