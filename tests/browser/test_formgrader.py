"""The instructor's side: nbgrader's formgrader under JupyterLab started the `make lab` way on the session's graded
sample run (tests/conftest.py), feedback generated for `off_by_one` and `html_injection`."""

from __future__ import annotations

import json
import re

import pytest
from offline import INSPECT_JS, refuse_outside, serve

pytestmark = pytest.mark.slow  # the session's sample run grades the representative samples first

ASSIGNMENT, NOTEBOOK = "a1_conv_arithmetic", "conv_arithmetic"
STUDENTS = ("off_by_one", "reference")


def gradebook_scores(course) -> dict:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course.course / 'gradebook.db'}") as gradebook:
        return {student: (gradebook.find_submission(ASSIGNMENT, student).score,
                          gradebook.find_assignment(ASSIGNMENT).max_score) for student in STUDENTS}


def open_formgrader(page, lab, path: str) -> None:
    # the token in the first URL logs the browser in (a cookie), as the link `make lab` prints does; the
    # formgrader's pages then call its API with that cookie
    page.goto(lab.link("/formgrader"))
    page.wait_for_url("**/formgrader/manage_assignments**")
    if path != "/formgrader":
        page.goto(f"{lab.url}{path}")


def fmt(points: float) -> str:
    return f"{points:g}"


def test_formgrader_lists_the_assignments(instructor_lab, graded_course, page):
    open_formgrader(page, instructor_lab, "/formgrader")
    table = page.locator("table").first
    page.locator("td", has_text=ASSIGNMENT).first.wait_for(timeout=120_000)
    page.steps("manage-assignments")
    text = table.inner_text()
    for assignment in graded_course.assignments():
        assert assignment in text, f"the formgrader does not list {assignment}:\n{text}"
    assert not page.console_errors, page.console_errors
    assert "alembic" not in instructor_lab.server_log(), "the formgrader could not run alembic (PATH)"


def test_formgrader_shows_the_gradebook_grades(instructor_lab, graded_course, page):
    scores = gradebook_scores(graded_course)
    assert scores["reference"][0] > scores["off_by_one"][0], scores  # the two samples differ: the check can fail
    open_formgrader(page, instructor_lab, f"/formgrader/manage_submissions/{ASSIGNMENT}")
    rows = page.locator("tr")
    # the formgrader's API reads every submission of the assignment from the gradebook: slow on a loaded machine
    page.locator("td", has_text="off_by_one").first.wait_for(timeout=180_000)
    page.steps("manage-submissions")
    for student, (score, max_score) in scores.items():
        row = rows.filter(has=page.locator("td", has_text=re.compile(rf"^{student}$"))).first
        text = row.inner_text()
        assert "graded" in text and f"{fmt(score)} / {fmt(max_score)}" in text, (
            f"{student}: the gradebook says {score:g} / {max_score:g}; the formgrader shows {text!r}")
    assert not page.console_errors, page.console_errors


def test_manual_grading_view_renders(instructor_lab, graded_course, page):
    # offline: every request that does not go to the Jupyter server is refused (MathJax comes from the server)
    record = refuse_outside(page.context, instructor_lab.url + "/")
    page.set_viewport_size({"width": 1200, "height": 900})
    open_formgrader(page, instructor_lab, f"/formgrader/gradebook/{ASSIGNMENT}/{NOTEBOOK}")
    page.locator("a", has_text="Submission #1").first.wait_for(timeout=120_000)
    page.steps("notebook-submissions")
    page.locator("a", has_text="Submission #1").first.click()
    # the submission: its cells, each graded cell with its score box
    page.locator(".nbgrader_cell").first.wait_for(timeout=60_000)
    page.steps("submission")
    graded = page.locator(".nbgrader_cell")
    assert graded.count() >= 10, f"only {graded.count()} graded cells rendered"
    assert page.locator("input.score").count() >= 10, "the grading view shows no score inputs"
    body = page.locator("body").inner_text()
    assert "a1-conv-size" in body and "conv_output_size" in body, body[:2000]
    seen = page.evaluate(INSPECT_JS)
    page.steps("submission-typeset")
    assert record["outside"] == [], f"requests leaving the machine: {record['outside'][:5]}"
    assert not [f for f in record["failed"] if "MathJax" in f or "mathjax" in f], record["failed"]
    # A1's prose has formulas: typeset by the server's MathJax (jupyter-server-mathjax), not left as TeX
    assert seen["mathjax"] and seen["typeset"] >= 5 and seen["errors"] == 0, seen
    assert seen["output"] == "HTML-CSS", seen
    assert not seen["wide"], f"text outputs wider than their box at 1200 px: {seen['wide'][:3]}"
    assert not page.console_errors, page.console_errors


def test_feedback_shows_failures_without_hidden_tests(instructor_lab, graded_course, page):
    feedback = f"course/feedback/off_by_one/{ASSIGNMENT}/{NOTEBOOK}.html"
    assert (graded_course.root / feedback).is_file()
    # opened from JupyterLab's file browser, feedback shows in JupyterLab's HTML viewer (a sandboxed frame)
    page.goto(instructor_lab.link(f"/lab/tree/{feedback}?reset"))
    document = page.frame_locator(".jp-HTMLViewer iframe").first
    document.locator("[name='a1-conv-size']").first.wait_for(state="attached", timeout=60_000)
    page.steps("feedback")
    text = document.locator("body").inner_text()

    autograded = json.loads((graded_course.course / "autograded" / "off_by_one" / ASSIGNMENT /
                             f"{NOTEBOOK}.ipynb").read_text())
    failures = [output["evalue"] for cell in autograded["cells"] for output in cell.get("outputs", [])
                if output.get("output_type") == "error"]
    assert failures, "off_by_one failed no test: the sample no longer shows what feedback must"
    for message in failures:
        assert message in text, f"the feedback does not show the failure {message!r}"

    solution = json.loads((graded_course.root / "solutions" / ASSIGNMENT / f"{NOTEBOOK}.ipynb").read_text())
    hidden = []
    for cell in solution["cells"]:
        source = "".join(cell["source"])
        for block in re.findall(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", source, flags=re.S):
            hidden += [line.strip() for line in block.splitlines() if len(line.strip()) > 12]
    assert hidden, "A1 has no hidden tests to look for"
    leaked = [line for line in hidden if line in text]
    assert not leaked, f"the feedback shows hidden test code: {leaked}"
    assert "HIDDEN TESTS" not in text


def _outside(lab, urls):
    """Requests that left the Jupyter server (the page's own origin) and are not the template's own MathJax."""
    return [u for u in urls if not u.startswith(lab.url) and not u.startswith(("data:", "blob:", "about:"))
            and "mathjax" not in u.lower()]


def test_a_hostile_submission_runs_no_script_in_the_formgrader(instructor_lab, graded_course, page):
    """html_injection's outputs and markdown were built to run script in whoever renders them: the formgrader's
    grading view shows the submission in the instructor's Jupyter origin, and nothing of it may run or fetch."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{graded_course.course / 'gradebook.db'}") as gradebook:
        submission = gradebook.find_submission_notebook(NOTEBOOK, ASSIGNMENT, "html_injection").id
    open_formgrader(page, instructor_lab, f"/formgrader/submissions/{submission}/")
    page.locator(".nbgrader_cell").first.wait_for(timeout=60_000)
    page.wait_for_timeout(3000)  # an onerror or onload fires as soon as its element loads
    page.steps("hostile-submission")
    assert "a pixel" in page.locator("body").inner_text() or page.locator("img").count() > 0
    assert page.dialogs == [], f"script from the submission ran in the formgrader: {page.dialogs}"
    assert _outside(instructor_lab, page.requests) == [], _outside(instructor_lab, page.requests)


def test_a_hostile_submissions_feedback_runs_no_script(instructor_lab, graded_course, page):
    feedback = f"course/feedback/html_injection/{ASSIGNMENT}/{NOTEBOOK}.html"
    assert (graded_course.root / feedback).is_file()
    page.goto(instructor_lab.link(f"/files/{feedback}"))  # opened directly, as a student opens the file
    page.locator("body").wait_for()
    page.wait_for_timeout(3000)
    page.steps("hostile-feedback")
    assert page.dialogs == [], f"script from the submission ran in its feedback: {page.dialogs}"
    assert _outside(instructor_lab, page.requests) == [], _outside(instructor_lab, page.requests)


def test_feedback_reads_offline_where_a_student_opens_it(graded_course, browser):
    """The page `coursekit feedback` wrote, opened in a browser from its own folder with the network off (an exam
    room, a download): formulas typeset by the MathJax copy beside it, no request outside, verdicts wrap."""
    folder = graded_course.root / "course" / "feedback" / "off_by_one" / ASSIGNMENT
    assert (folder / "mathjax" / "MathJax.js").is_file(), sorted(p.name for p in folder.iterdir())
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    with serve(folder) as url:
        record = refuse_outside(context, url + "/")
        page = context.new_page()
        page.goto(f"{url}/{NOTEBOOK}.html", wait_until="load")
        seen = page.evaluate(INSPECT_JS)
        context.close()
    assert record == {"outside": [], "failed": []}, record
    assert seen["mathjax"] and seen["typeset"] >= 5 and seen["errors"] == 0, seen
    assert not seen["wide"] and seen["page"] == [1200, 1200], seen
