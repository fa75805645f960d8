"""Opening a page with the network off, written once: every request that does not go to the page's own server is
refused and recorded, and what the page shows is read once MathJax has finished."""

from __future__ import annotations

import functools
import http.server
import threading
from contextlib import contextmanager


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@contextmanager
def serve(folder):
    """A local HTTP server over folder: yields its URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             functools.partial(_QuietHandler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def refuse_outside(context, *allowed: str) -> dict:
    """Route every request of a browser context: those starting with one of allowed go on, the rest are aborted.
    Returns the record: {"outside": refused URLs, "failed": 4xx/5xx answers of the allowed servers}."""
    record = {"outside": [], "failed": []}

    def route(r):
        if r.request.url.startswith(allowed) or r.request.url.startswith("data:"):
            r.continue_()
        else:
            record["outside"].append(r.request.url)
            r.abort()

    context.route("**/*", route)
    context.on("response", lambda r: record["failed"].append(f"HTTP {r.status} {r.url}") if r.status >= 400 else None)
    return record


# What a page shows once MathJax is done: how many formulas it typeset, TeX it left, and what runs past the page's
# width (the document, or a text output whose content is wider than its box).
INSPECT_JS = r"""async () => {
  const mathjax = Boolean(window.MathJax && MathJax.Hub);
  if (mathjax) await new Promise(r => MathJax.Hub.Queue(r));
  const wide = Array.from(document.querySelectorAll('div.output_area pre, div.output_subarea'))
    .filter(e => e.scrollWidth > e.clientWidth + 1 || e.getBoundingClientRect().right > window.innerWidth + 1)
    .map(e => e.textContent.trim().slice(0, 80));
  const seen = {mathjax, wide, page: [document.documentElement.scrollWidth, window.innerWidth]};
  if (mathjax) {
    seen.typeset = MathJax.Hub.getAllJax().length;
    seen.errors = document.querySelectorAll('.MathJax_Error, merror').length;
    seen.output = MathJax.Hub.outputJax['jax/mml'] ? MathJax.Hub.outputJax['jax/mml'][0].id : null;
  }
  return seen;
}"""
