"""The class report in a real browser: the page loads with no console error and no request beyond itself, every
image is shown, and nothing a student wrote runs (no dialog, no script)."""

from __future__ import annotations

import hand_gradebook as hand
import tiny_course as tiny

from coursekit.course.report import write_report


def test_the_report_loads_inert_with_every_image_shown(page, tmp_path):
    course = hand.report_course(tmp_path / "course")
    report = write_report(course, tiny.ASSIGNMENT)
    requests, dialogs = [], []
    page.on("request", lambda request: requests.append(request.url))
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(report.as_uri())
    page.wait_for_load_state("load")
    page.steps("report loaded")
    images = page.eval_on_selector_all("img", "els => els.map(e => [e.complete, e.naturalWidth, e.naturalHeight,"
                                              " e.getBoundingClientRect().width])")
    assert len(images) == 3 and all(done and w > 100 and h > 50 and shown > 100 for done, w, h, shown in images)
    assert page.console_errors == []
    assert dialogs == []
    assert all(url == report.as_uri() or url.startswith("data:") for url in requests), requests
    assert page.eval_on_selector_all("script", "els => els.length") == 0
    # a hostile student's feedback link stays a link to a file under the course
    link = page.locator("a", has_text=f"{tiny.ASSIGNMENT}.html").nth(3)
    assert link.evaluate("a => a.protocol") == "file:"
    page.locator("h4").first.scroll_into_view_if_needed()
    page.steps("similar pair side by side")
