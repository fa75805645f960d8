"""The student's JupyterLab: every lecture and released assignment opens without being modified, every lecture
runs from the Run menu with no error output, its plots are visible and every widget answers when moved."""

from __future__ import annotations

import json
import re
import time

import pytest
from lab_session import (
    DIRTY_TAB,
    error_outputs,
    images,
    move,
    open_notebook,
    run_all,
    settled_signature,
    wait_for_change,
    widget_controls,
)

from conftest import REPO

LECTURES = sorted(p.relative_to(REPO).as_posix() for p in (REPO / "lectures").glob("*.ipynb"))
# Run All in the browser for the lectures with widgets (to move them); every lecture also runs under nbval, and
# the size of every stored plot is checked in tests/test_lectures.py
WIDGET_LECTURES = [p for p in LECTURES if '"application/vnd.jupyter.widget-view+json"' in (REPO / p).read_text()]
ASSIGNMENTS = sorted(p.relative_to(REPO).as_posix() for p in (REPO / "assignments").glob("*/*.ipynb"))

# JupyterLab applies a notebook's metadata fixes within moments of opening it; this is well past that
SETTLE_S = 4
# a lecture's Run All on a loaded 2-core machine; Lecture 4, the longest, took 175 s at load 2
RUN_ALL_TIMEOUT_S = 480
# a widget must redraw within a couple of seconds of being moved
WIDGET_RESPONSE_S = 3.0
# smallest plot a student can read, in pixels: its shorter side (a strip of digits is 864x99) and its longer side
MIN_SHORT_SIDE, MIN_LONG_SIDE = 60, 200


@pytest.mark.parametrize("path", LECTURES + ASSIGNMENTS)
def test_opening_leaves_the_notebook_unmodified(student_lab, page, path):
    stored = (REPO / path).read_bytes()
    open_notebook(page, student_lab, path)
    time.sleep(SETTLE_S)
    page.steps("opened")
    dirty = page.locator(DIRTY_TAB).all_inner_texts()
    assert not dirty, f"{path} is marked modified as soon as it opens (tabs {dirty}): autosave would rewrite it"
    assert (student_lab.root / path).read_bytes() == stored, f"opening {path} changed the file on disk"
    assert not page.console_errors, f"console errors while opening {path}: {page.console_errors}"


@pytest.mark.slow
@pytest.mark.parametrize("path", WIDGET_LECTURES)
def test_lecture_runs_and_its_widgets_respond(student_lab, page, path):
    panel = open_notebook(page, student_lab, path)
    page.steps("opened")
    seconds = run_all(page, student_lab, path, timeout=RUN_ALL_TIMEOUT_S)
    print(f"{path}: Run All took {seconds:.0f} s")
    page.steps("ran all")
    errors = error_outputs(panel)
    assert not errors, f"{path}: error output after Run All:\n" + "\n---\n".join(errors)

    plots = images(panel)
    assert plots, f"{path}: no plot is shown after Run All"
    for plot in plots:
        where = f"{path}, cell {plot['cell']}: {plot['tag'].lower()} {plot['width']}x{plot['height']}"
        assert plot["colours"] > 1, f"{where} is blank (one colour)"
        for size in ((plot["width"], plot["height"]), (plot["shownWidth"], plot["shownHeight"])):
            assert min(size) >= MIN_SHORT_SIDE and max(size) >= MIN_LONG_SIDE, (
                f"{where} is shown at {plot['shownWidth']:.0f}x{plot['shownHeight']:.0f} px: too small to read")

    lecture_has_widgets = '"application/vnd.jupyter.widget-view+json"' in (REPO / path).read_text()
    controls = widget_controls(panel)
    assert bool(controls) == lecture_has_widgets, (
        f"{path}: {len(controls)} widget controls rendered; the stored lecture "
        f"{'has' if lecture_has_widgets else 'has no'} widgets")
    sources = ["".join(c["source"]) for c in json.loads((REPO / path).read_text())["cells"]]
    slow = []
    for index, control, kind in controls:
        cell = panel.locator(".jp-Cell").nth(index)
        cell.scroll_into_view_if_needed()
        if kind == "slider":  # a slider written in the cell starts where its code says (not snapped by step)
            label = control.locator("xpath=ancestor::*[contains(@class, 'widget-slider')][1]//label").first
            stated = dict((d, float(v)) for v, d in re.findall(
                r'Slider\(value=([-\d.]+)[^)]*?description="([^"]+)"', sources[index], flags=re.S))
            name = label.inner_text().strip() if label.count() else ""
            if name in stated:
                shown = float(control.get_attribute("aria-valuenow"))
                assert shown == pytest.approx(stated[name]), (
                    f"{path}, cell {index}: slider {name!r} starts at {shown:g}; its code says {stated[name]:g}")
        before = settled_signature(cell)
        assert before, f"{path}, cell {index}: the {kind}'s cell shows no output to change"
        move(control, kind)
        took = wait_for_change(cell, before, timeout=WIDGET_RESPONSE_S)
        page.steps(f"cell{index}-{kind}-moved", cell)
        if took is None:
            slow.append(f"cell {index}: moving its {kind} changed nothing within {WIDGET_RESPONSE_S:g} s")
        else:
            print(f"{path}, cell {index}: the {kind} redrew in {took:.2f} s")
    assert not slow, f"{path}: widgets that did not respond: {slow}"
    errors = error_outputs(panel)
    assert not errors, f"{path}: error output after moving the widgets:\n" + "\n---\n".join(errors)
    assert not page.console_errors, f"console errors in {path}: {page.console_errors}"
