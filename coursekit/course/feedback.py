"""Feedback: what a student reads of their graded notebook, with the hidden tests kept hidden.

``HideTestCode`` (nbgrader's generate_feedback stage) cuts each hidden-test region from the source, cuts error
outputs down to their message (a traceback quotes the test's lines), redacts every occurrence of hidden test text
that student code recorded and printed from every output (``hidden_texts``, ``redact_outputs``), and makes the
notebook passive again (``passive.make_passive``) before it becomes HTML.
"""

from __future__ import annotations

from nbgrader.preprocessors import ClearHiddenTests

from .cells import HIDDEN_REGION, is_test
from .passive import make_passive
from .verdicts import VERDICT_KEY

__all__ = ["REDACTED", "hidden_texts", "redact_outputs", "HideTestCode", "first_hidden_test", "withheld_outputs",
           "OUTPUT_WITHHELD"]

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
        nb, resources = super().preprocess(nb, resources)
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            if first is not None and index >= first and not cell.metadata.get(VERDICT_KEY):
                cell.outputs = withheld_outputs(cell)
            redact_outputs(cell.get("outputs", []), secrets_)
        make_passive(nb)
        return nb, resources

    def preprocess_cell(self, cell, resources, index):
        if not is_test(cell):
            return cell, resources
        if self._remove_hidden_test_region(cell):
            cell.source = cell.source.rstrip("\n") + "\n# (hidden tests were run here; their code is not shown)\n"
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                output["traceback"] = [f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"]
        return cell, resources


def withheld_outputs(cell) -> list:
    """What feedback shows of a kernel-made cell after hidden tests began: a note, and for a test cell the type of
    its error (nbgrader scored it by that error), with the message where the cell's visible code holds it."""
    import nbformat

    kept = []
    errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    if is_test(cell) and errors:
        error = errors[-1]
        ename = str(error.get("ename", "Error"))
        ename = ename if ename.isidentifier() and len(ename) <= 80 else "Error"
        evalue = str(error.get("evalue", "")).strip()
        if not (evalue and len(evalue) <= 500 and evalue in cell.source):
            evalue = MESSAGE_WITHHELD if evalue else ""
        kept.append(nbformat.v4.new_output("error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"]))
    if cell.get("outputs"):
        kept.insert(0, nbformat.v4.new_output("stream", name="stdout", text=OUTPUT_WITHHELD))
    return kept
