"""Verdicts into what nbgrader records: the outputs that give a judged test cell its score, and the note on edits.

nbgrader scores a test cell from its outputs (an error: 0; a numeric execute_result: partial credit; otherwise
full marks). ``verdict_outputs`` turns a judge's ``Verdict`` into exactly those outputs, written by the grader in
place of whatever the kernel printed. A test cell the student edited runs as the instructor wrote it and says so
(``edit_note``); ``ReportEdits`` (after ``SaveAutoGrades``) flags the notebook in the gradebook and names those
cells in a comment.
"""

from __future__ import annotations

import nbformat
from nbgrader.preprocessors import NbGraderPreprocessor

from .cells import nbgrader_meta

__all__ = ["verdict_outputs", "edit_note", "edited_zero_output", "ReportEdits", "EDIT_REPORTED_KEY", "VERDICT_KEY"]

EDIT_REPORTED_KEY = "coursekit_edit_reported"
VERDICT_KEY = "coursekit_verdict"  # on a judged test cell: every output it has was written by the grader
_EDIT_NOTE = ("Note: this test cell was edited in the submitted notebook; the grader ran it as the instructor wrote "
              "it.\n")


def edit_note():
    """The stream output that opens an edited test cell's outputs."""
    return nbformat.v4.new_output("stream", name="stdout", text=_EDIT_NOTE)


def edited_zero_output():
    """The error output that makes an edited test cell score 0 in a course that says so."""
    return nbformat.v4.new_output("error", ename="EditedTestCell", evalue="this course scores an edited test cell 0",
                                  traceback=["EditedTestCell: this course scores an edited test cell 0"])


def verdict_outputs(verdict, points: float, edited: bool = False, edited_scores_zero: bool = False) -> list:
    """The outputs that make nbgrader give ``verdict.score`` of ``points``: a message on stdout, a numeric
    execute_result for partial credit, an error output for none."""
    from .judging import Verdict

    if edited and edited_scores_zero:
        verdict = Verdict(0.0, "this test cell was edited in the submitted notebook, which this course scores 0. "
                          + verdict.message)
    outputs = [edit_note()] if edited else []
    score = round(verdict.score * points, 6)
    if verdict.score <= 0:
        outputs.append(nbformat.v4.new_output("error", ename="HiddenTestFailed", evalue=verdict.message,
                                              traceback=[f"HiddenTestFailed: {verdict.message}"]))
        return outputs
    outputs.append(nbformat.v4.new_output("stream", name="stdout", text=verdict.message.rstrip("\n") + "\n"))
    if verdict.score < 1:
        outputs.append(nbformat.v4.new_output("execute_result", data={"text/plain": repr(float(score))},
                                              execution_count=None))
    return outputs


class ReportEdits(NbGraderPreprocessor):
    """After SaveAutoGrades: flag the notebook in the gradebook and say in a comment which test cells were edited.

    nbgrader keeps comments for solution cells only, so the note goes on the notebook's first solution cell."""

    def preprocess(self, nb, resources):
        edited = [nbgrader_meta(c).get("grade_id") for c in nb.cells if c.metadata.pop(EDIT_REPORTED_KEY, False)]
        if not edited:
            return nb, resources
        from nbgrader.api import Gradebook

        info = resources["nbgrader"]
        note = ("Edited test cell(s) " + ", ".join(edited) + ": restored and run as the instructor wrote them.")
        with Gradebook(info["db_url"]) as gb:
            notebook = gb.find_submission_notebook(info["notebook"], info["assignment"], info["student"])
            notebook.flagged = True
            comments = sorted(notebook.comments, key=lambda c: c.name)
            if comments:
                first = comments[0]
                first.auto_comment = ((first.auto_comment + "\n") if first.auto_comment else "") + note
            gb.db.commit()
        self.log.warning(note)
        return nb, resources
