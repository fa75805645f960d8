"""MathJax from the installed environment, for pages the grader writes or serves: nothing loads from a CDN.

nbgrader's feedback and formgrader templates load MathJax from a CDN, so offline (an exam room, a locked-down hub)
formulas stay TeX source. coursekit takes MathJax 2.7 from the jupyter-server-mathjax package instead (the course
extra installs it; the course website uses the same copy):

* the formgrader is a page of the Jupyter server, and jupyter-server-mathjax is a server extension that serves
  MathJax at ``<base_url>/static/jupyter_server_mathjax/`` (``SERVER_PATH``);
* a feedback page is a file a student opens anywhere, so ``files()`` is the part of MathJax a page needs, written
  into a ``mathjax/`` folder beside each feedback page (``FEEDBACK_URL``: about 2.5 MB; the whole package is 12 MB,
  most of it accessibility maps and an SVG font no page here uses).

The package ships the STIX-Web web font only (not MathJax's default TeX font): the pages' MathJax configuration
(templates/coursekit_page.html.j2) says so, or MathJax asks for font files that are not there.
"""

from __future__ import annotations

import functools
from pathlib import Path

__all__ = ["CONFIG", "FEEDBACK_DIR", "FEEDBACK_URL", "SERVER_PATH", "static_dir", "files"]

# the one combined configuration the package ships (TeX and MathML in, HTML-CSS out), with the Safe extension
# (no javascript: links or styles from a notebook's maths)
CONFIG = "TeX-AMS-MML_HTMLorMML-full,Safe"
FEEDBACK_DIR = "mathjax"
FEEDBACK_URL = f"{FEEDBACK_DIR}/MathJax.js?config={CONFIG}"
SERVER_PATH = f"/static/jupyter_server_mathjax/MathJax.js?config={CONFIG}"

# what a page of HTML-CSS output can load: the loader, the combined configuration, TeX input and its extensions,
# the element jax with its operator tables, HTML-CSS output with the STIX-Web font data and the font itself
_KEEP = ("MathJax.js", "LICENSE", "config/", "extensions/", "jax/input/", "jax/element/", "jax/output/HTML-CSS/",
         "fonts/HTML-CSS/STIX-Web/woff/")
# loaded only from MathJax's menu (accessibility explorer, speech rules: 3.7 MB), never by typesetting
_SKIP = ("extensions/a11y/",)


def static_dir() -> Path:
    """The MathJax folder of the installed jupyter-server-mathjax package."""
    try:
        import jupyter_server_mathjax
    except ImportError:
        raise ModuleNotFoundError(
            "formulas in feedback and the formgrader need MathJax from the jupyter-server-mathjax package, which "
            "the course extra installs: pip install -e '.[course]' in a clone (pip install 'coursekit[course]' "
            "otherwise)", name="jupyter_server_mathjax") from None
    folder = Path(jupyter_server_mathjax.__file__).resolve().parent / "static"
    if not (folder / "MathJax.js").is_file():
        raise FileNotFoundError(f"jupyter-server-mathjax is installed without its MathJax files ({folder})")
    return folder


@functools.lru_cache(maxsize=1)
def files() -> dict[str, bytes]:
    """{path under mathjax/: contents} of every file a feedback page's MathJax may load (read once a process)."""
    root = static_dir()
    found = {}
    for path in sorted(root.rglob("*")):
        name = path.relative_to(root).as_posix()
        if path.is_file() and name.startswith(_KEEP) and not name.startswith(_SKIP):
            found[f"{FEEDBACK_DIR}/{name}"] = path.read_bytes()
    return found
