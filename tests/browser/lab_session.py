"""What the browser tests do in JupyterLab, written once: open a notebook, Run All, wait for the kernel, read the
outputs, move widgets. Selectors are JupyterLab 4's and ipywidgets 8's."""

from __future__ import annotations

import time
from urllib.parse import quote

DIRTY_TAB = ".lm-TabBar-tab.jp-mod-dirty"
ERROR_OUTPUT = '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'


def open_notebook(page, lab, path: str):
    """Open `path` (relative to the server's root) in a fresh workspace and wait until its kernel is idle."""
    page.goto(lab.link(f"/lab/tree/{quote(path)}?reset"))
    panel = page.locator(".jp-NotebookPanel:visible").first
    panel.wait_for(state="visible", timeout=60_000)
    panel.locator(".jp-Cell").first.wait_for(state="attached", timeout=60_000)
    wait_idle(lab, path, timeout=120)
    return panel


def session_kernel(lab, path: str) -> dict | None:
    for session in lab.api("/api/sessions") or []:
        if session.get("path") == path and session.get("kernel"):
            return session["kernel"]
    return None


def wait_idle(lab, path: str, timeout: float, settle: float = 1.0) -> float:
    """Wait until the notebook's kernel has been idle for `settle` seconds; return the seconds waited."""
    start = time.monotonic()
    idle_since = None
    while time.monotonic() - start < timeout:
        kernel = session_kernel(lab, path)
        if kernel and kernel.get("execution_state") == "idle":
            idle_since = idle_since or time.monotonic()
            if time.monotonic() - idle_since >= settle:
                return time.monotonic() - start
        else:
            idle_since = None
        time.sleep(0.25)
    raise AssertionError(f"the kernel of {path} was not idle within {timeout:.0f} s: {session_kernel(lab, path)}")


def run_all(page, lab, path: str, timeout: float) -> float:
    """Run > Run All Cells from the menu bar, as a student would; return the seconds until every cell has run."""
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()
    start = time.monotonic()
    # Run All queues every cell at once, each showing [*] until it has run; the stored outputs carry numbers too
    page.wait_for_function(
        """() => Array.from(document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-InputPrompt'))
                      .some(e => e.textContent.includes('*'))""", timeout=15_000, polling="raf")
    # finished: no cell is queued any more, and the fresh kernel numbered every code cell 1, 2, 3, ... in order.
    # A cell whose input is collapsed (a lecture's answer) shows no input prompt: its number is read from its output
    # prompt, and a collapsed cell without output shows none; the kernel's being idle for a while covers those.
    deadline = time.monotonic() + timeout
    while True:
        state = page.evaluate(RUN_STATE_JS)
        if not state["queued"] and all(c is None or c == i + 1 for i, c in enumerate(state["counts"])):
            kernel = session_kernel(lab, path)
            if kernel and kernel.get("execution_state") == "idle":
                wait_idle(lab, path, timeout=60, settle=3.0)
                state = page.evaluate(RUN_STATE_JS)
                if not state["queued"]:
                    break
        if time.monotonic() > deadline:
            raise AssertionError(f"{path}: Run All did not finish within {timeout:.0f} s: {state}")
        time.sleep(0.5)
    return time.monotonic() - start


# Per code cell of the open notebook: its execution count (input prompt, else output prompt; None where neither
# shows one), and whether any cell is queued or running ([*])
RUN_STATE_JS = r"""() => {
  const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
  const cells = Array.from(panel.querySelectorAll('.jp-CodeCell'));
  let queued = false;
  const counts = cells.map(cell => {
    const texts = Array.from(cell.querySelectorAll('.jp-InputPrompt, .jp-OutputPrompt')).map(e => e.textContent);
    if (texts.some(t => t.includes('*'))) queued = true;
    for (const t of texts) { const m = t.match(/\[(\d+)\]/); if (m) return Number(m[1]); }
    return null;
  });
  return {queued, counts};
}"""


def error_outputs(panel) -> list[str]:
    """Tracebacks and other text on stderr (JupyterLab renders both with the stderr MIME type)."""
    return [text[:2000] for text in panel.locator(ERROR_OUTPUT).all_inner_texts() if text.strip()]


# Every image and canvas in the notebook's outputs: its natural and rendered size, and how many distinct colours
# a sample of its pixels has (one colour: a blank plot).
IMAGES_JS = """panel => Promise.all(
  Array.from(panel.querySelectorAll('.jp-OutputArea-output img, .jp-OutputArea-output canvas')).map(async e => {
    if (e.tagName === 'IMG' && !e.complete) await new Promise(r => { e.onload = r; e.onerror = r; });
    const w = e.naturalWidth || e.width, h = e.naturalHeight || e.height;
    const r = e.getBoundingClientRect();
    let colours = 0;
    try {
      const c = document.createElement('canvas'); c.width = w; c.height = h;
      const g = c.getContext('2d'); g.drawImage(e, 0, 0);
      const d = g.getImageData(0, 0, w, h).data, seen = new Set();
      const step = Math.max(4, 4 * Math.floor(d.length / 4 / 20000));
      for (let i = 0; i < d.length && seen.size < 50; i += step) seen.add(d[i] + ',' + d[i+1] + ',' + d[i+2]);
      colours = seen.size;
    } catch (err) { colours = -1; }
    const cell = e.closest('.jp-Cell');
    const index = Array.from(panel.querySelectorAll('.jp-Cell')).indexOf(cell);
    return {tag: e.tagName, width: w, height: h, shownWidth: r.width, shownHeight: r.height, colours, cell: index};
  }))"""


def images(panel) -> list[dict]:
    return panel.evaluate(IMAGES_JS)


# What a widget's cell shows, without its controls: image sources, canvases and the text of outputs and HTML.
SIGNATURE_JS = """cell => {
  const parts = [];
  cell.querySelectorAll('.jp-OutputArea-output img')
      .forEach(e => parts.push('img:' + e.src.length + ':' + e.src.slice(-200)));
  cell.querySelectorAll('.jp-OutputArea-output canvas')
      .forEach(e => { try { parts.push('canvas:' + e.toDataURL().slice(-200)); } catch (err) {} });
  cell.querySelectorAll('.widget-output .jp-OutputArea-output, .widget-html-content, .jp-RenderedText, '
                        + '.jp-RenderedHTMLCommon')
      .forEach(e => { if (!e.querySelector('img')) parts.push('text:' + e.innerText); });
  return parts.join('\\n');
}"""

CONTROLS = (".widget-slider:not(.widget-readout), .widget-dropdown select, .widget-toggle-buttons button, "
            ".widget-checkbox input, .widget-radio-box input")


def widget_controls(panel):
    """(cell index, control locator, kind) for every interactive widget control in the notebook's outputs."""
    found = []
    cells = panel.locator(".jp-Cell")
    for index in range(cells.count()):
        cell = cells.nth(index)
        for kind, selector in (("slider", ".jp-OutputArea-output .widget-slider .noUi-handle"),
                               ("dropdown", ".jp-OutputArea-output .widget-dropdown select"),
                               ("toggle", ".jp-OutputArea-output .widget-toggle-buttons"),
                               ("checkbox", ".jp-OutputArea-output .widget-checkbox input")):
            controls = cell.locator(selector)
            for k in range(controls.count()):
                found.append((index, controls.nth(k), kind))
    return found


def signature(cell) -> str:
    return cell.evaluate(SIGNATURE_JS)


def settled_signature(cell, quiet: float = 0.5, timeout: float = 10.0) -> str:
    """The cell's outputs once they have stopped changing (a redraw from the last move may still be arriving)."""
    start = time.monotonic()
    last, since = signature(cell), time.monotonic()
    while time.monotonic() - start < timeout:
        time.sleep(0.1)
        now = signature(cell)
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            break
    return last


def move(control, kind: str) -> None:
    """Change a control's value the way a user would: the keyboard on a slider, a new choice in a dropdown."""
    if kind == "slider":
        before = control.get_attribute("aria-valuenow")
        control.focus()
        for key in ("ArrowRight", "ArrowLeft"):  # at its maximum the first does nothing
            control.press(key)
            if _changed(control, before):
                return
        # the keyboard did not reach it: drag the handle, as with a mouse
        box = control.bounding_box()
        page = control.page
        for dx in (40, -40):
            page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
            page.mouse.down()
            page.mouse.move(box["x"] + box["width"] / 2 + dx, box["y"] + box["height"] / 2, steps=5)
            page.mouse.up()
            if _changed(control, before):
                return
        raise AssertionError(f"the slider did not move from {before} with the keyboard or the mouse")
    elif kind == "dropdown":
        options = control.locator("option")
        current = control.input_value()
        values = [options.nth(k).get_attribute("value") for k in range(options.count())]
        other = next(v for v in values if v != current)
        control.select_option(value=other)
    elif kind == "toggle":
        buttons = control.locator("button")
        target = next(buttons.nth(k) for k in range(buttons.count())
                      if "mod-active" not in (buttons.nth(k).get_attribute("class") or ""))
        target.click()
    elif kind == "checkbox":
        control.click()
    else:
        raise ValueError(f"unknown widget kind {kind!r}")


def _changed(control, before: str, timeout: float = 1.0) -> bool:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if control.get_attribute("aria-valuenow") != before:
            return True
        time.sleep(0.05)
    return False


def wait_for_change(cell, before: str, timeout: float) -> float | None:
    """Seconds until the cell's outputs differ from `before`, or None if they did not within `timeout`."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if signature(cell) != before:
            return time.monotonic() - start
        time.sleep(0.1)
    return None
