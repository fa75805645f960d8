"""`coursekit report`: one self-contained page with the class's distributions, failing checks with grouped verdict
messages, CPU time and limits, late and edited flags, similar pairs side by side, feedback links and the audit log;
every string a student could write comes out inert."""

from __future__ import annotations

import html.parser
from urllib.parse import unquote

import hand_gradebook as hand
import pytest
import tiny_course as tiny

from coursekit.cli import main as cli


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    course = hand.report_course(tmp_path_factory.mktemp("report") / "course")
    assert cli(["report", tiny.ASSIGNMENT, "--root", str(course.root), "--threshold", "0.5"]) == 0
    page = course.course / "reports" / f"report_{tiny.ASSIGNMENT}.html"
    return course, page, page.read_text()


class Elements(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def test_the_page_holds_the_class_at_a_glance(report):
    course, page, text = report
    assert "5 submission(s)" in text
    assert "2 students: pooling rounds up" in text                    # verdicts grouped across students
    assert "1 student: half right: the sign of negative inputs" in text
    # test_two: Mallory's judged verdict is grouped; Erin's kernel printed its own "verdict" there, never shown
    assert "1 student: &lt;img src=x onerror=alert(1)&gt;" in text
    assert hand.FAKE_VERDICT not in text and "reference implementation" not in text
    assert "late 3.0 h</span>, penalty 1" in text and "<span class=flag>edited</span>" in text
    assert "carol: test_negative (memory)" in text                  # the kernel that hit a limit
    assert "not recorded" in text                                  # Mallory's submission has no run record
    assert "carol ~ javascript:alert(1): 100%" in text                # the planted copy
    assert text.count("<mark>") >= 4                               # matched lines, side by side
    assert "prof" in text and "Regrades (audit log)" in text
    pngs = sorted(p.name for p in page.parent.glob("*.png"))
    assert pngs == [f"{tiny.ASSIGNMENT}_{k}.png" for k in ("cells", "cpu", "scores")]


def test_hostile_strings_come_out_inert(report):
    course, page, text = report
    parser = Elements()
    parser.feed(text)
    tags = {tag for tag, _ in parser.tags}
    assert "script" not in tags and "iframe" not in tags and "object" not in tags
    for tag, attrs in parser.tags:
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        if tag == "img":
            assert attrs["src"].startswith("data:image/png;base64,")
        if tag == "a":
            assert attrs["href"].startswith(("./", "#")), attrs["href"]
            assert "javascript:" not in attrs["href"].lower()
    assert hand.HOSTILE not in text and "&lt;img src=x onerror=alert(1)&gt;" in text
    assert "<script>" not in text and "&lt;script&gt;alert(3)&lt;/script&gt;" in text
    assert 'http-equiv="Content-Security-Policy"' in text and "default-src 'none'" in text
    # the feedback link of the student whose id is a javascript: URL is a relative path to its page
    link = next(a["href"] for t, a in parser.tags if t == "a" and "javascript" in a["href"])
    target = course.feedback_dir / "javascript:alert(1)" / tiny.ASSIGNMENT / f"{tiny.ASSIGNMENT}.html"
    assert (page.parent / unquote(link)).resolve() == target.resolve()


def test_every_assignment_by_default_and_nothing_external(report):
    course, _, _ = report
    assert cli(["report", "--root", str(course.root)]) == 0
    text = (course.course / "reports" / "report.html").read_text()
    assert "http://" not in text and "https://" not in text and "src=\"//" not in text


def test_verdicts_are_read_from_judged_cells_only(tmp_path):
    """A verdict message comes from a cell the executor judged (VERDICT_KEY); the same output in an unmarked cell
    was made by the kernel and is not a verdict, nor is a mark that is not exactly True."""
    from coursekit.course.report import VERDICT_KEY, verdict_messages

    course = hand.released_course(tmp_path / "course")
    path = hand.graded_notebook(course, "dave", {"test_negative": (0, "pooling rounds up")},
                                kernel_errors={"test_two": ("HiddenTestFailed", hand.FAKE_VERDICT)})
    assert verdict_messages(path) == {"test_negative": "pooling rounds up"}
    text = path.read_text()
    path.write_text(text.replace(f'"{VERDICT_KEY}": true', f'"{VERDICT_KEY}": "yes"'))
    assert verdict_messages(path) == {}


def test_every_limit_the_executor_records_has_words():
    from coursekit.course.execute import Limit
    from coursekit.course.report import LIMIT_NAMES

    assert set(LIMIT_NAMES) == {limit.value for limit in Limit}
