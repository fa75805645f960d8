"""`coursekit collect`: an LMS download (a zip of student files) into course/submitted/ through nbgrader's
zip_collect; the archive is hostile input, and nothing already collected is overwritten silently."""

from __future__ import annotations

import stat
import zipfile

import pytest

nbformat = pytest.importorskip("nbformat")  # the course extra; skipped in a numpy-only environment
import tiny_course as tiny  # noqa: E402

from coursekit.cli import main as cli  # noqa: E402
from coursekit.course.collect import DEFAULT_PATTERN, collect  # noqa: E402
from coursekit.course.pipeline import Course  # noqa: E402


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    root = tmp_path_factory.mktemp("collect") / "course"
    course = Course(tiny.make_course(root))
    course.release(tiny.ASSIGNMENT)
    return course


@pytest.fixture
def course(released, tmp_path):
    import shutil

    shutil.copytree(released.root, tmp_path / "course", symlinks=True)
    return Course(tmp_path / "course")


def notebook(answer: str) -> bytes:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(answer)]
    return nbformat.writes(nb).encode()


def make_zip(path, entries):
    """entries: name -> bytes, or name -> ("link", target) for a symbolic-link entry."""
    with zipfile.ZipFile(path, "w") as bundle:
        for name, data in entries.items():
            if isinstance(data, tuple):
                info = zipfile.ZipInfo(name)
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
                bundle.writestr(info, data[1])
            else:
                bundle.writestr(zipfile.ZipInfo(name), data)
    return path


def test_a_hostile_download_is_collected_and_every_other_file_reported(course, tmp_path):
    # the old default (Canvas's names with the name part as the id), as a custom pattern
    archive = make_zip(tmp_path / "submissions.zip", {
        "alice_1001_5001_tiny.ipynb": notebook("alice"),
        "bob_LATE_1002_5002_tiny-1.ipynb": notebook("bob"),
        "carol_1003_5003_homework.ipynb": notebook("carol"),   # not a notebook of the release
        "notes.txt": b"hello",
        "stray.ipynb": notebook("stray"),                      # matches no pattern
        "../escape_1_1_tiny.ipynb": notebook("escape"),
        "/tmp/absolute_1_1_tiny.ipynb": notebook("absolute"),
        "link_1_1_tiny.ipynb": ("link", "/etc/passwd"),
        "..%2f_1_1_tiny.ipynb": notebook("odd but harmless name"),
        "erin_1005_5005_tiny.ipynb": notebook("erin"),         # two files for one notebook, no timestamps
        "erin_1005_5006_tiny.ipynb": notebook("erin again"),
    })
    report = collect(course, tiny.ASSIGNMENT, archive, pattern=DEFAULT_PATTERN)

    assert sorted(report.collected) == ["alice", "bob"]
    for student in ("alice", "bob"):
        handed_in = course.submitted_dir / student / tiny.ASSIGNMENT / f"{tiny.ASSIGNMENT}.ipynb"
        assert nbformat.read(handed_in, as_version=4).cells[0].source == student
    unmatched = dict(report.unmatched)
    assert set(unmatched) == {"carol_1003_5003_homework.ipynb", "notes.txt", "stray.ipynb", "..%2f_1_1_tiny.ipynb",
                              "erin_1005_5005_tiny.ipynb", "erin_1005_5006_tiny.ipynb"}
    assert "no timestamp" in unmatched["erin_1005_5005_tiny.ipynb"]
    assert "not a notebook of the release" in unmatched["carol_1003_5003_homework.ipynb"]
    refused = dict(report.refused)
    assert set(refused) == {"../escape_1_1_tiny.ipynb", "/tmp/absolute_1_1_tiny.ipynb", "link_1_1_tiny.ipynb"}
    assert "link" in refused["link_1_1_tiny.ipynb"]
    # nothing landed outside submitted/<student>/<assignment>
    assert sorted(p.name for p in course.submitted_dir.iterdir()) == ["alice", "bob"]
    assert not (tmp_path / "escape_1_1_tiny.ipynb").exists()
    text = str(report)
    assert "stray.ipynb: its name does not match the pattern" in text and "refused" in text


def test_an_earlier_submission_is_kept_unless_forced(course, tmp_path, capsys):
    earlier = course.submitted_dir / "alice" / tiny.ASSIGNMENT
    earlier.mkdir(parents=True)
    (earlier / f"{tiny.ASSIGNMENT}.ipynb").write_bytes(notebook("earlier"))
    archive = make_zip(tmp_path / "again.zip", {"alice_1001_5009_tiny.ipynb": notebook("later")})

    report = collect(course, tiny.ASSIGNMENT, archive, pattern=DEFAULT_PATTERN)
    assert report.kept == ["alice"] and not report.collected
    assert nbformat.read(earlier / f"{tiny.ASSIGNMENT}.ipynb", as_version=4).cells[0].source == "earlier"
    assert "NOT overwritten (use --force to replace)" in str(report)

    assert cli(["collect", tiny.ASSIGNMENT, str(archive), "--root", str(course.root), "--force",
                "--pattern", DEFAULT_PATTERN]) == 0
    assert "replaced the earlier submission" in capsys.readouterr().out
    assert nbformat.read(earlier / f"{tiny.ASSIGNMENT}.ipynb", as_version=4).cells[0].source == "later"


def test_a_custom_pattern_with_a_timestamp(course, tmp_path):
    # nbgrader's documented example of a collector pattern, anchored to the file's own name
    pattern = r".*/(?P<student_id>\w+)_attempt_(?P<timestamp>[0-9\-]+ [0-9:]+)_(?P<file_id>\w+)"
    archive = make_zip(tmp_path / "lms.zip", {
        "Homework/hacker_attempt_2030-01-01 13:00:00_tiny.ipynb": notebook("hacker")})
    report = collect(course, tiny.ASSIGNMENT, archive, pattern=pattern)
    assert report.collected == {"hacker": [f"{tiny.ASSIGNMENT}.ipynb"]}
    stamp = (course.submitted_dir / "hacker" / tiny.ASSIGNMENT / "timestamp.txt").read_text()
    assert stamp.startswith("2030-01-01 13:00:00")


def test_ids_taken_from_file_names_must_be_plain_names(course, tmp_path):
    # a permissive pattern would hand nbgrader the student id "..": submitted/../tiny/ is outside submitted/
    pattern = r".*/(?P<student_id>[^_/]+)_\d+_\d+_(?P<file_id>[^/]+)"
    archive = make_zip(tmp_path / "dots.zip", {".._1_1_tiny.ipynb": notebook("dots"),
                                               "dave_1_1_tiny.ipynb": notebook("dave")})
    report = collect(course, tiny.ASSIGNMENT, archive, pattern=pattern)
    assert list(report.collected) == ["dave"]
    assert report.unmatched == [(".._1_1_tiny.ipynb", "student id '..' is not a plain name")]
    assert not (course.submitted_dir.parent / tiny.ASSIGNMENT).exists()


def test_bad_arguments_are_named(course, tmp_path):
    with pytest.raises(ValueError, match="pattern=.*student_id"):
        collect(course, tiny.ASSIGNMENT, tmp_path / "x.zip", pattern=r"(?P<file_id>.*)")
    (tmp_path / "not.zip").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="archive=.*not a readable zip"):
        collect(course, tiny.ASSIGNMENT, tmp_path / "not.zip")
    with pytest.raises(ValueError, match="lms='blackboard'"):
        collect(course, tiny.ASSIGNMENT, tmp_path / "not.zip", lms_name="blackboard")
    with pytest.raises(ValueError, match="assignment='nope'"):
        collect(course, "nope", tmp_path / "not.zip")
