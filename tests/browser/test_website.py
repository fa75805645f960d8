"""The course website (`make site`, scripts/build_site.py) in a real browser: built once, served on localhost,
every page opened in one Chromium. Every page loads with no console error and no request leaving the site, every
image is shown, every formula is typeset (MathJax served from the site) and no raw TeX is left in the text; search
finds the lectures; widgets show their stored state."""

from __future__ import annotations

import functools
import http.server
import importlib.util
import json
import re
import threading
import time
from pathlib import Path

import pytest

from conftest import REPO

pytestmark = [pytest.mark.slow]
pytest.importorskip("myst_nb", reason="the site needs the site extra: pip install -e '.[site]'")
pytest.importorskip("jupyter_server_mathjax", reason="the site needs the site extra: pip install -e '.[site]'")

_spec = importlib.util.spec_from_file_location("build_site", REPO / "scripts" / "build_site.py")
build_site = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build_site)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The site, built once from the stored notebooks, served by a local HTTP server: (its folder, its URL)."""
    work = tmp_path_factory.mktemp("site")
    out = work / "html"
    started = time.perf_counter()
    staged = build_site.build(out=out, stage_dir=work / "src", doctrees=work / "doctrees")
    print(f"site built in {time.perf_counter() - started:.0f} s")
    handler = functools.partial(_QuietHandler, directory=str(out))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield out, f"http://127.0.0.1:{server.server_address[1]}", staged
    server.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


# What a page shows, read once it has settled: images and their natural size, math elements and whether MathJax
# typeset each, and text outside code and typeset maths that still looks like TeX.
INSPECT_JS = r"""async () => {
  if (window.MathJax && MathJax.Hub) await new Promise(r => MathJax.Hub.Queue(r));
  const images = await Promise.all(Array.from(document.images).map(async img => {
    if (!img.complete) await new Promise(r => { img.onload = r; img.onerror = r; });
    return {src: img.src.slice(0, 80), width: img.naturalWidth, shown: img.getBoundingClientRect().width};
  }));
  // Sphinx's maths elements (MathJax 2 calls some of its own inner spans "math" too: those are not counted)
  const maths = Array.from(document.querySelectorAll('.math.notranslate'));
  const untypeset = maths.filter(m => !m.querySelector('.MathJax, .MathJax_Display, .MathJax_Preview + script, '
                                                      + 'script[type^="math/tex"]'))
                         .map(m => m.textContent.slice(0, 80));
  const raw = [];
  const walker = document.createTreeWalker(document.querySelector('main') || document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    if (n.parentElement.closest('pre, code, script, style, .MathJax, .MathJax_Display, .math, textarea')) continue;
    const t = n.textContent;
    if (/\$[^$\s][^$]*\$/.test(t) || /\\\(|\\\[|\\begin\{/.test(t)) raw.push(t.trim().slice(0, 120));
  }
  return {images, maths: maths.length, untypeset, raw,
          typeset: document.querySelectorAll('.MathJax, .MathJax_Display').length,
          widgets: document.querySelectorAll('.ck-widget').length,
          widgetImages: document.querySelectorAll('.ck-widget img').length};
}"""


def _pages(out: Path) -> list[str]:
    """Every page of the site (the theme's templates under _static/ are not pages)."""
    pages = (p.relative_to(out) for p in out.rglob("*.html"))
    return sorted(p.as_posix() for p in pages if p.parts[0] != "_static")


def _stored_images(path: Path) -> int:
    """Image outputs a stored notebook holds, its widgets' stored figures included."""
    nb = json.loads(path.read_text())
    count = sum(1 for c in nb["cells"] for o in c.get("outputs", []) if "image/png" in o.get("data", {})
                or "image/jpeg" in o.get("data", {}))
    state = nb.get("metadata", {}).get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {})
    for model in state.get("state", {}).values():
        count += sum(1 for o in model.get("state", {}).get("outputs", []) if "image/png" in o.get("data", {}))
    return count


def test_every_page_loads_offline_with_figures_and_typeset_maths(site, browser):
    out, url, staged = site
    pages = _pages(out)
    lectures = sorted(p.name for p in (REPO / "lectures").glob("*.ipynb"))
    assignments = sorted(p.relative_to(REPO / "assignments").with_suffix(".html").as_posix()
                         for p in (REPO / "assignments").glob("*/*.ipynb"))
    assert {f"lectures/{Path(n).stem}.html" for n in lectures} <= set(pages)       # a page per stored notebook
    assert {f"assignments/{a}" for a in assignments} <= set(pages)
    assert "index.html" in pages and "search.html" in pages and "api/index.html" in pages

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    outside, errors = [], []

    def route(r):
        if r.request.url.startswith(url + "/") or r.request.url.startswith("data:"):
            r.continue_()
        else:
            outside.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.on("console", lambda m: errors.append(f"{page.url}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"{page.url}: uncaught {e}"))
    # a missing file of the site (also reported on the console); a request the next navigation cancels is not one
    page.on("response", lambda r: errors.append(f"{page.url}: HTTP {r.status} {r.url}") if r.status >= 400 else None)
    page.on("requestfailed", lambda r: errors.append(f"{page.url}: failed {r.url} ({r.failure})")
            if r.url.startswith(url) and "ERR_ABORTED" not in (r.failure or "") else None)
    started, report = time.perf_counter(), {}
    for path in pages:
        response = page.goto(f"{url}/{path}", wait_until="load")
        assert response is not None and response.ok, f"{path}: HTTP {response and response.status}"
        report[path] = page.evaluate(INSPECT_JS)
    print(f"{len(pages)} pages checked in {time.perf_counter() - started:.0f} s")
    context.close()

    assert not outside, f"requests leaving the site: {sorted(set(outside))[:10]}"
    assert not errors, errors[:10]
    for path, seen in report.items():
        blank = [i for i in seen["images"] if i["width"] == 0]
        assert not blank, f"{path}: images not shown: {blank[:3]}"
        assert not seen["untypeset"], f"{path}: formulas MathJax did not typeset: {seen['untypeset'][:3]}"
        assert not seen["raw"], f"{path}: raw TeX in the text: {seen['raw'][:3]}"
    for name in lectures:
        seen = report[f"lectures/{Path(name).stem}.html"]
        # every figure the notebook stores is on its page (widget figures inside their static view)
        assert len(seen["images"]) >= _stored_images(REPO / "lectures" / name), (name, len(seen["images"]))
    maths = sum(r["maths"] for p, r in report.items() if p.startswith("lectures/"))
    assert maths > 100 and sum(r["typeset"] for r in report.values()) >= maths          # the lectures have formulas
    widgets = sum(p["widgets"] for p in staged["lectures"])
    assert sum(r["widgets"] for r in report.values()) == widgets
    assert widgets == 0 or sum(r["widgetImages"] for r in report.values()) > 0


def test_search_finds_the_lectures(site, browser):
    out, url, _ = site
    page = browser.new_page()
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{url}/search.html?q=convolution")
    results = page.locator("#search-results ul.search li")
    results.first.wait_for(timeout=30_000)
    links = results.locator("a").evaluate_all("els => els.map(e => e.getAttribute('href'))")
    assert any(link.startswith("lectures/01_convolution") for link in links), links[:10]
    assert not errors, errors
    page.close()


def test_assignment_pages_hold_no_solutions(site):
    out, _, _ = site
    for page in (out / "assignments").rglob("*.html"):
        text = page.read_text()
        assert not re.search(r"BEGIN (SOLUTION|HIDDEN TESTS)", text), page
        assert "# YOUR CODE HERE" in text, f"{page}: the starter code is missing"
