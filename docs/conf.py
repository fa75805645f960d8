# Sphinx configuration of the course website. scripts/build_site.py copies this folder, the lectures (with their
# stored outputs, widgets made static), the student release of the assignments and generated pages into
# _build/site-src and builds that into _build/html; nothing is executed and nothing is fetched from outside.
import os
import sys

ROOT = os.environ.get("COURSEKIT_ROOT") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, ROOT)  # the API reference documents the coursekit of this checkout

project = "coursekit"
author = "the coursekit authors"
copyright = "the coursekit authors, MIT licence"
extensions = ["myst_nb", "sphinx.ext.autodoc", "sphinx.ext.mathjax", "sphinx.ext.viewcode"]
exclude_patterns = ["_build", "**.ipynb_checkpoints", "_mathjax"]
root_doc = "index"

# Notebooks are shown as stored: never executed here (make lectures executes and stores them)
nb_execution_mode = "off"
nb_ipywidgets_js = {}          # widgets are static HTML (scripts/site_widgets.py): no widget manager from a CDN
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 3
myst_dmath_double_inline = True

# MathJax from the jupyter-server-mathjax package (MathJax 2.7), copied into _static/mathjax/ by build_site.py;
# STIX-Web is the web font that package ships
mathjax_path = "mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full"
mathjax2_config = {
    "tex2jax": {"inlineMath": [["\\(", "\\)"]], "displayMath": [["\\[", "\\]"]], "processEscapes": True,
                "ignoreClass": "document", "processClass": "math|output_area|cell_output"},
    # MathJax 2 names a placeholder font "url('about:blank')", which Chromium reports as a blocked request
    "HTML-CSS": {"availableFonts": [], "preferredFont": None, "webFont": "STIX-Web", "imageFont": None,
                 "styles": {"@font-face": {"font-family": "MathJax_Blank", "src": "local('MathJax_Blank')"}}},
    "messageStyle": "none",
    "menuSettings": {"zoom": "None"},
}

autodoc_default_options = {"members": True, "undoc-members": False, "show-inheritance": True}
autodoc_member_order = "bysource"
autodoc_typehints = "signature"

html_theme = "sphinx_book_theme"
html_title = "coursekit: convolutional networks for vision"
html_static_path = ["_static", "_mathjax"]
html_css_files = ["coursekit.css"]
html_favicon = "_static/favicon.svg"  # a page without one makes the browser ask for /favicon.ico
html_theme_options = {
    "use_download_button": False,
    "use_fullscreen_button": False,
    "use_repository_button": False,
    "home_page_in_toc": False,
    "show_navbar_depth": 1,
    "navigation_with_keys": False,
}
html_last_updated_fmt = None
html_copy_source = False
html_show_sourcelink = False
# a docstring's cross-references to names Sphinx cannot resolve (torch, numpy) are not errors of the site
suppress_warnings = ["myst.xref_missing", "myst.header", "ref.python"]


# coursekit's docstrings are written to be read with help(): shapes on their own lines, |x| for absolute values,
# "Returns:" blocks. One that reads as clean reStructuredText is rendered as such; any other is shown exactly as
# help() shows it (a literal block), rather than mangled by markup it never meant.
_SPHINX_ONLY = ("Unknown interpreted text role", "Unknown directive type", 'No role entry for', 'No directive entry')


def _as_written(app, what, name, obj, options, lines):
    import io
    import re

    from docutils import nodes
    from docutils.core import publish_doctree

    text = "\n".join(lines)
    if not text.strip():
        return
    # a section heading ("Dtype rules" over a row of dashes) cannot stand inside an API entry: it becomes a rubric
    text = re.sub(r"^(\S[^\n]*)\n([-=~^])\2{2,}[ \t]*$", lambda m: f".. rubric:: {m.group(1)}\n", text, flags=re.M)
    stream = io.StringIO()
    try:
        tree = publish_doctree(text, settings_overrides={"report_level": 2, "halt_level": 5,
                                                         "warning_stream": stream})
    except Exception:  # noqa: BLE001 - whatever docutils cannot parse is shown as written
        tree = None
    problems = [line for line in stream.getvalue().splitlines()
                if ("WARNING" in line or "ERROR" in line or "SEVERE" in line)
                and not any(s in line for s in _SPHINX_ONLY)]
    # "x: (N, C, H, W)" / "Returns: ..." lines are a layout of their own, which reST would run together
    labelled = re.search(r"^\s*[A-Za-z_][\w, ]*:\s+\S", "\n".join(lines[1:]), flags=re.M)
    if tree is None or problems or labelled or tree.next_node(nodes.section) is not None:
        lines[:] = [".. code-block:: text", "   :class: ck-docstring", ""] + \
            ["   " + line for line in "\n".join(lines).splitlines()] + [""]
    else:
        lines[:] = text.splitlines() + [""]


def setup(app):
    app.connect("autodoc-process-docstring", _as_written)

# the theme's light/dark switch starts from the reader's system setting; unset, its script logs an error
html_context = {"default_mode": "auto"}
