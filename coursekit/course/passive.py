"""Passive notebooks: what the instructor's browser may render of a graded notebook.

The formgrader and the feedback render graded notebooks in the browser, in the origin of the instructor's Jupyter
server, so nothing a kernel or a student wrote may become live HTML or script there: only text, PNG and JPEG
outputs, streams and errors are kept, and raw HTML in student-written markdown and raw cells is escaped.
"""

from __future__ import annotations

import re

from .cells import is_readonly

__all__ = ["PASSIVE_MIMETYPES", "passive_markdown", "passive_outputs", "make_passive"]

PASSIVE_MIMETYPES = ("text/plain", "image/png", "image/jpeg")
_PASSIVE_OUTPUT_TYPES = ("stream", "error", "execute_result", "display_data")
_ENTITY = re.compile(r"&(?=#?[0-9A-Za-z]+;)")
_SCRIPT_SCHEME = re.compile(r"(?i)(j\s*a\s*v\s*a|v\s*b)\s*s\s*c\s*r\s*i\s*p\s*t\s*:|d\s*a\s*t\s*a\s*:\s*text/html")


def passive_markdown(source: str) -> str:
    """Markdown without raw HTML: character entities decoded first (so none can hide a URL scheme), script-running
    link schemes defused, then every ``<`` and any ``&`` that would start an entity escaped (a renderer shows them
    as text: no tag, handler, style, iframe or object survives)."""
    import html

    for _ in range(8):
        decoded = html.unescape(source)
        if decoded == source:
            break
        source = decoded
    source = _SCRIPT_SCHEME.sub(lambda m: "blocked-" + re.sub(r"\s+", "", m.group(0)).replace(":", "-"), source)
    return _ENTITY.sub("&amp;", source).replace("<", "&lt;")


def passive_outputs(outputs) -> list:
    """Only passive outputs: streams, errors, and results/displays reduced to text/plain, PNG and JPEG."""
    kept = []
    for output in outputs or []:
        kind = output.get("output_type")
        if kind not in _PASSIVE_OUTPUT_TYPES:
            continue
        if kind in ("stream", "error"):
            kept.append(output)
            continue
        data = {k: v for k, v in (output.get("data") or {}).items() if k in PASSIVE_MIMETYPES}
        if not data:
            if kind != "execute_result":
                continue
            data = {"text/plain": "[coursekit: rich output removed by the grader]"}
        output["data"] = data
        metadata = output.get("metadata") or {}
        output["metadata"] = {k: v for k, v in metadata.items() if k in data and isinstance(v, dict)}
        kept.append(output)
    return kept


def make_passive(nb) -> None:
    """In place: the notebook as safe to render in the instructor's browser (outputs of every cell passive, raw
    HTML of student-written markdown and raw cells escaped, widget state and non-image attachments dropped).
    Read-only cells keep their source, which normalisation restored from the release."""
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = passive_outputs(cell.get("outputs"))
            continue
        if cell.cell_type == "raw":  # nbconvert's HTML writes raw cells out verbatim
            for key in ("raw_mimetype", "format"):
                cell.metadata.pop(key, None)
        if "attachments" in cell:
            attachments = {}
            for name, bundle in (cell.attachments or {}).items():
                bundle = {k: v for k, v in (bundle or {}).items() if k in ("image/png", "image/jpeg")}
                if bundle:
                    attachments[name] = bundle
            cell["attachments"] = attachments
        if is_readonly(cell):
            continue
        cell.source = passive_markdown(cell.source)

