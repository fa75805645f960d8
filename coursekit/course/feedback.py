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

__all__ = ["REDACTED", "hidden_texts", "redact_outputs", "HideTestCode"]

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



class HideTestCode(ClearHiddenTests):
    """Feedback shows a hidden test's verdict, never its code: nbgrader's own hidden-region removal, applied to the
    graded notebook, plus error outputs cut down to their message (a traceback quotes the test's lines).

    Code the kernel ran can have recorded a test cell's source while it ran (an IPython hook) and printed it from a
    later cell: every occurrence of each hidden region, and of each of its non-trivial lines, is redacted from the
    outputs of every cell. The notebook is made passive again (``make_passive``) before it becomes HTML."""

    def preprocess(self, nb, resources):
        secrets_ = hidden_texts(nb)
        nb, resources = super().preprocess(nb, resources)
        for cell in nb.cells:
            if cell.cell_type == "code":
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


