"""LMS in and out: Canvas's, Moodle's and nbgrader's downloads collected with their ids, names, late markers and
times (so nbgrader's late penalty applies), and grade files shaped as Canvas's gradebook import and Moodle's
grading worksheet expect, filled into those systems' own exports."""

from __future__ import annotations

import csv
import datetime

import hand_gradebook as hand
import pytest
import tiny_course as tiny
from test_collect import make_zip, notebook

from coursekit.cli import main as cli
from coursekit.course.collect import collect
from coursekit.course.lms import export_lms

NB = f"{tiny.ASSIGNMENT}.ipynb"


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    return hand.released_course(tmp_path_factory.mktemp("lms") / "course")


@pytest.fixture
def course(released, tmp_path):
    return hand.copy_course(released, tmp_path / "course")


def handed_in(course, student):
    import nbformat

    return nbformat.read(course.submitted_dir / student / tiny.ASSIGNMENT / NB, as_version=4).cells[0].source


def seconds_late(course, student):
    """What nbgrader's autograde does with timestamp.txt (coursedir.get_existing_timestamp, then the gradebook's
    lateness, which AssignLatePenalties turns into a penalty)."""
    from nbgrader.coursedir import CourseDirectory

    stamp = CourseDirectory().get_existing_timestamp(str(course.submitted_dir / student / tiny.ASSIGNMENT))
    with hand.gradebook(course) as gb:
        gb.update_or_create_student(student)
        return gb.update_or_create_submission(tiny.ASSIGNMENT, student, timestamp=stamp).total_seconds_late


def test_canvas_ids_names_late_markers_and_resubmissions(course, tmp_path):
    archive = make_zip(tmp_path / "submissions.zip", {
        "smithbob_1001_7001_tiny.ipynb": notebook("bob one"),
        "smithbob_LATE_1002_7002_tiny.ipynb": notebook("bob two, late"),     # same name, another student
        "doejane_1003_7003_tiny.ipynb": notebook("jane first"),
        "doejane_1003_7003_tiny-1.ipynb": notebook("jane second"),
        "doejane_1003_7003_tiny-2.ipynb": notebook("jane third"),             # the latest upload
    })
    report = collect(course, tiny.ASSIGNMENT, archive)                        # detected: Canvas
    assert report.layout == "canvas" and sorted(report.collected) == ["1001", "1002", "1003"]
    assert handed_in(course, "1001") == "bob one" and handed_in(course, "1002") == "bob two, late"
    assert handed_in(course, "1003") == "jane third"
    assert "older: doejane_1003_7003_tiny-1.ipynb, doejane_1003_7003_tiny.ipynb" in str(report)
    assert seconds_late(course, "1002") == 1.0 and seconds_late(course, "1001") == 0
    assert "marked LATE" in str(report)
    with hand.gradebook(course) as gb:
        assert gb.find_student("1002").last_name == "smithbob"


def test_moodle_folders_ids_names_and_worksheet_times(course, tmp_path):
    archive = make_zip(tmp_path / "moodle.zip", {
        "Ana María López_1234567_assignsubmission_file_/tiny.ipynb": notebook("ana"),
        "John Smith_2000001_assignsubmission_file_/tiny.ipynb": notebook("john one"),
        "John Smith_2000002_assignsubmission_file_/tiny.ipynb": notebook("john two"),
        "Lee Wong_2000003_assignsubmission_file_tiny.ipynb": notebook("lee"),  # "download in folders" off
    })
    worksheet = tmp_path / "worksheet.csv"
    worksheet.write_text(
        'Identifier,"Full name","Email address",Status,Grade,"Maximum Grade","Grade can be changed",'
        '"Last modified (submission)","Last modified (grade)","Feedback comments"\n'
        '"Participant 2000002","John Smith",js2@example.org,"Submitted for grading",,100.00,Yes,'
        '"Tuesday, 1 January 2030, 2:00 PM",-,\n'
        '"Participant 1234567","Ana María López",ana@example.org,"Submitted for grading",,100.00,Yes,'
        '"Tuesday, 1 January 2030, 11:30 AM",-,\n')
    assert cli(["collect", tiny.ASSIGNMENT, str(archive), "--root", str(course.root), "--lms", "moodle",
                "--times", str(worksheet), "--timezone", "UTC"]) == 0
    assert handed_in(course, "2000001") == "john one" and handed_in(course, "2000002") == "john two"
    assert handed_in(course, "2000003") == "lee"
    assert seconds_late(course, "2000002") == 2 * 3600 and seconds_late(course, "1234567") == 0
    with hand.gradebook(course) as gb:
        ana = gb.find_student("1234567")
        assert (ana.first_name, ana.last_name) == ("Ana María", "López")


def test_nbgrader_layouts_with_their_timestamps(course, tmp_path):
    archive = make_zip(tmp_path / "nbgrader.zip", {
        "submitted/alice/tiny/tiny.ipynb": notebook("alice"),
        "submitted/alice/tiny/timestamp.txt": b"2030-01-01 11:00:00.000000 UTC",
        "bob+tiny+2030-01-01 13:00:00.000000 UTC/tiny.ipynb": notebook("bob"),  # the exchange's inbound name
    })
    report = collect(course, tiny.ASSIGNMENT, archive)
    assert report.layout == "nbgrader" and sorted(report.collected) == ["alice", "bob"]
    assert seconds_late(course, "alice") == 0 and seconds_late(course, "bob") == 3600


def test_ambiguous_or_empty_downloads_fail_loudly(course, tmp_path, capsys):
    mixed = make_zip(tmp_path / "mixed.zip", {"smithbob_1001_7001_tiny.ipynb": notebook("a"),
                                              "John Smith_2000001_assignsubmission_file_/tiny.ipynb": notebook("b")})
    assert cli(["collect", tiny.ASSIGNMENT, str(mixed), "--root", str(course.root)]) == 1
    assert "choose one with --lms" in capsys.readouterr().err
    nothing = make_zip(tmp_path / "nothing.zip", {"smithbob_1001_7001_homework.ipynb": notebook("a")})
    assert cli(["collect", tiny.ASSIGNMENT, str(nothing), "--root", str(course.root)]) == 1
    assert "nothing was collected" in capsys.readouterr().err


CANVAS_EXPORT = (
    "Student,ID,SIS User ID,SIS Login ID,Section,tiny (55501),Other quiz (55502),Current Score,Unposted Current Score\n"
    "    Points Possible,,,,,4,10,(read only),(read only)\n"
    '"Smith, Bob",1001,S1001,bsmith,Section A,,7,70,70\n'
    '"Smith, Bob",1002,S1002,bsmith2,Section A,,8,80,80\n'
    '"Student, Test",9999,,,Section A,,,,\n')


def test_export_fills_canvas_and_moodle_files_shaped_as_theirs(course, tmp_path):
    hand.grade(course, "1001", {"test_two": 1, "test_negative": 2}, manual={"explain": 1},
               first_name="Bob", last_name="Smith")
    hand.grade(course, "1002", {"test_two": 1}, timestamp=tiny.DUE - datetime.timedelta(hours=1),
               first_name="Bob", last_name="Smith")
    hand.grade(course, "1234567", {"test_two": 1, "test_negative": 2}, first_name="Ana", last_name="López",
               email="ana@example.org")
    (tmp_path / "canvas.csv").write_text(CANVAS_EXPORT)
    (tmp_path / "moodle.csv").write_text(
        'Identifier,"Full name","Email address",Status,Grade,"Maximum Grade","Grade can be changed",'
        '"Last modified (submission)","Last modified (grade)","Feedback comments"\n'
        '"Participant 1234567","Ana López",ana@example.org,"Submitted for grading",,100.00,Yes,"",-,\n'
        '"Participant 7777777","Nobody Here",no@example.org,"No submission",,100.00,Yes,"",-,\n')
    paths, notes = export_lms(course, tmp_path / "canvas.csv",
                              moodle_templates={tiny.ASSIGNMENT: tmp_path / "moodle.csv"}, folder=tmp_path)
    rows = list(csv.reader(open(paths[0], newline="")))
    original = list(csv.reader(CANVAS_EXPORT.splitlines()))
    assert rows[0] == original[0] and rows[1] == original[1]                 # header and Points Possible kept
    assert rows[2][5] == "4" and rows[3][5] == "1" and rows[2][6] == "7"    # only our column filled in
    assert rows[4] == original[4]                                            # Canvas's test student untouched
    assert any("1234567" in n and "not in the Canvas export" in n for n in notes)
    moodle = list(csv.DictReader(open(paths[1], newline="")))
    assert moodle[0]["Grade"] == "75" and moodle[1]["Grade"] == ""           # 3 of 4 on Moodle's 100
    assert any("scaled" in n for n in notes)


def test_export_without_templates_writes_their_columns(course, tmp_path):
    hand.grade(course, "1001", {"test_two": 1, "test_negative": 2}, first_name="Bob", last_name="Smith")
    assert cli(["export", "--root", str(course.root)]) == 0
    rows = list(csv.reader(open(course.course / "grades_canvas.csv", newline="")))
    assert rows[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", tiny.ASSIGNMENT]
    assert rows[1][0].strip() == "Points Possible" and rows[1][5] == "4"
    assert rows[2] == ["Smith, Bob", "1001", "", "", "", "3"]
    moodle = list(csv.DictReader(open(course.course / f"grades_moodle_{tiny.ASSIGNMENT}.csv", newline="")))
    assert moodle == [{"Identifier": "Participant 1001", "Full name": "Bob Smith", "Email address": "",
                       "Status": "Submitted for grading", "Grade": "3", "Maximum Grade": "4",
                       "Grade can be changed": "Yes", "Last modified (submission)": "", "Last modified (grade)": "",
                       "Feedback comments": ""}]
    grades = list(csv.DictReader(open(course.course / "grades.csv", newline="")))   # nbgrader's own, as before
    assert grades[0]["student_id"] == "1001" and float(grades[0]["score"]) == 3.0
