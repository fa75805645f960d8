"""Feedback: what a student reads of their graded notebook, with the hidden tests kept hidden.

``HideTestCode`` (nbgrader's generate_feedback stage) cuts each hidden-test region from the source, cuts error
outputs down to their message (a traceback quotes the test's lines), redacts every occurrence of hidden test text
that student code recorded and printed from every output (``hidden_texts``, ``redact_outputs``), and makes the
notebook passive again (``passive.make_passive``) before it becomes HTML.

``FeedbackExporter`` (nbgrader's ``GenerateFeedback.exporter_class``) writes that HTML with nbgrader's feedback
template made to work offline (templates/coursekit_feedback): MathJax from a copy written beside the page
(``mathjax.files``) instead of a CDN, and verdicts that wrap.
"""

from __future__ import annotations

from nbconvert.exporters import HTMLExporter
from nbgrader.preprocessors import ClearHiddenTests

from .cells import HIDDEN_REGION, is_test
from .check_report import failed_line
from .mathjax import FEEDBACK_DIR
from .mathjax import files as mathjax_files
from .passive import make_passive
from .verdicts import VERDICT_KEY

__all__ = ["REDACTED", "hidden_texts", "redact_outputs", "explain_bare_error", "HideTestCode", "first_hidden_test",
           "withheld_outputs", "OUTPUT_WITHHELD", "FeedbackExporter"]

REDACTED = "[hidden test code redacted]"
_MIN_SECRET_LINE = 12  # shorter lines (``)``, ``else:``, ``x = f(a)``) say nothing and would redact innocent text


def hidden_texts(nb) -> list[str]:
    """The texts feedback must not show: each hidden region of every test cell, whole, and its non-trivial lines
    (stripped, at least _MIN_SECRET_LINE characters, not a delimiter or a bare comment marker); longest first."""
    found = set()
    for cell in nb.cells:
        if not is_test(cell):
            continue
        for match in HIDDEN_REGION.finditer(cell.source):
            region = match.group(0)
            found.add(region.strip("\n"))
            for line in region.splitlines():
                line = line.strip()
                if len(line) >= _MIN_SECRET_LINE and "HIDDEN TESTS" not in line:
                    found.add(line)
    return sorted((t for t in found if t.strip()), key=len, reverse=True)


def _redact(text, secrets_):
    if isinstance(text, list):
        return [_redact(t, secrets_) for t in text]
    if not isinstance(text, str):
        return text
    for secret in secrets_:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def redact_outputs(outputs, secrets_) -> None:
    """In place: every occurrence of each of secrets_ in the outputs' text (streams, errors, text data) replaced."""
    if not secrets_:
        return
    for output in outputs:
        if output.get("output_type") == "stream":
            output["text"] = _redact(output.get("text", ""), secrets_)
        elif output.get("output_type") == "error":
            output["ename"] = _redact(output.get("ename", ""), secrets_)
            output["evalue"] = _redact(output.get("evalue", ""), secrets_)
            output["traceback"] = _redact(output.get("traceback", []), secrets_)
        for mimetype, value in list((output.get("data") or {}).items()):
            if isinstance(value, (str, list)):
                output["data"][mimetype] = _redact(value, secrets_)



OUTPUT_WITHHELD = ("[coursekit: output not shown in feedback. Hidden tests had started running in the kernel by "
                   "then, and code in the kernel could copy their text into any later output; your own notebook "
                   "shows it]\n")
MESSAGE_WITHHELD = "(message not shown in feedback: it did not come from this cell's visible test code)"


def explain_bare_error(source: str, error: dict) -> str:
    """The message feedback shows for an error raised without one (a plain ``assert`` of a course that writes its
    tests that way), so a student never reads a bare "AssertionError:" under visible asserts that pass for them:
    which assert failed when it is a visible one, or that a hidden one did (its code stays hidden). ``source`` is
    the test cell as graded (hidden regions still in it); the line comes from the traceback, the code from the
    source, never from the traceback's text."""
    where = failed_line(error.get("traceback"))
    if where is None:
        return "a test failed without a message"
    number = where[0]
    lines = source.splitlines()
    hidden = set()
    for match in HIDDEN_REGION.finditer(source):
        first = source.count("\n", 0, match.start()) + 1
        hidden.update(range(first, first + match.group(0).count("\n") + 1))
    if number in hidden or not 1 <= number <= len(lines):
        return "a hidden test failed (an assert without a message; its code is not shown)"
    return f"this line failed: {lines[number - 1].strip()}"


def first_hidden_test(nb) -> int | None:
    """The index of the first cell that ran hidden test code in the kernel (None: no hidden tests)."""
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and is_test(cell) and HIDDEN_REGION.search(cell.source):
            return index
    return None


class HideTestCode(ClearHiddenTests):
    """Feedback shows a hidden test's verdict, never its code.

    * nbgrader's own hidden-region removal, applied to the graded notebook, and error outputs of test cells cut
      down to their message (a traceback quotes the test's lines).
    * From the first cell that ran hidden test code on, the kernel could have seen that code (its history, a hook)
      and copied it into any output in any encoding (base64, reversed, an image): every output the kernel made from
      there on is withheld, with a note. Only the grader's own verdicts (judged test cells, marked by the
      executor) are shown, and for an unjudged test cell its error's type, with its message only where that message
      is text of the cell's visible test code.
    * Before that point the kernel had seen no hidden code; every occurrence of each hidden region, and of each of
      its non-trivial lines, is still redacted from every output as a second line of defence.
    * The notebook is made passive again (``make_passive``) before it becomes HTML.
    """

    def preprocess(self, nb, resources):
        secrets_ = hidden_texts(nb)
        first = first_hidden_test(nb)
        self._explained = {}
        nb, resources = super().preprocess(nb, resources)
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            if first is not None and index >= first and not cell.metadata.get(VERDICT_KEY):
                cell.outputs = withheld_outputs(cell, self._explained.get(index))
            redact_outputs(cell.get("outputs", []), secrets_)
        make_passive(nb)
        return nb, resources

    def preprocess_cell(self, cell, resources, index):
        if not is_test(cell):
            return cell, resources
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error" and not str(output.get("evalue") or "").strip():
                # the grader's own words (a visible line of the source, chosen by the traceback's line number)
                output["evalue"] = self._explained[index] = explain_bare_error(cell.source, output)
        if self._remove_hidden_test_region(cell):
            cell.source = cell.source.rstrip("\n") + "\n# (hidden tests were run here; their code is not shown)\n"
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                output["traceback"] = [f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"]
        return cell, resources


def withheld_outputs(cell, explanation: str | None = None) -> list:
    """What feedback shows of a kernel-made cell after hidden tests began: a note, and for a test cell the type of
    its error (nbgrader scored it by that error), with the message where the cell's visible code holds it or where
    the grader wrote it (``explanation``, from ``explain_bare_error``: a bare error's failing visible line)."""
    import nbformat

    kept = []
    errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    if is_test(cell) and errors:
        error = errors[-1]
        ename = str(error.get("ename", "Error"))
        ename = ename if ename.isidentifier() and len(ename) <= 80 else "Error"
        evalue = str(error.get("evalue", "")).strip()
        if not (evalue and len(evalue) <= 500 and (evalue in cell.source or evalue == explanation)):
            evalue = MESSAGE_WITHHELD if evalue else ""
        kept.append(nbformat.v4.new_output("error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"]))
    if cell.get("outputs"):
        kept.insert(0, nbformat.v4.new_output("stream", name="stdout", text=OUTPUT_WITHHELD))
    return kept


class FeedbackExporter(HTMLExporter):
    """The HTML of a feedback page, readable offline: nbgrader's feedback template with MathJax loaded from
    ``mathjax_url``, and, when that is the relative copy (``mathjax.FEEDBACK_URL``), the copy itself among the
    page's outputs, so that nbgrader writes it into the page's folder (``mathjax/``, about 2 MB).

    A page carries no link outside itself: opened from a disk, a zip or an LMS download with no network, its formulas
    are typeset. Its template, paths and MathJax URL are set by ``config.GradingConfig`` (the course's
    nbgrader_config.py and the pipeline's flags say the same). nbgrader's ``release_feedback`` hands students the
    HTML file alone; with that exchange, formulas show as TeX unless the folder travels too."""

    def from_notebook_node(self, nb, resources=None, **kw):
        output, resources = super().from_notebook_node(nb, resources, **kw)
        if self.mathjax_url.startswith(FEEDBACK_DIR + "/"):
            resources.setdefault("outputs", {}).update(mathjax_files())
        return output, resources

