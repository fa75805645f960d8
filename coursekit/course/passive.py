"""Passive notebooks: what the instructor's browser may render of a graded notebook.

The formgrader and the feedback render graded notebooks in the browser, in the origin of the instructor's Jupyter
server, so nothing a kernel or a student wrote may become live HTML or script there: only text, PNG and JPEG
outputs, streams and errors are kept, and raw HTML in student-written markdown and raw cells is escaped.
"""

from __future__ import annotations

import re

from .cells import is_readonly

__all__ = ["PASSIVE_MIMETYPES", "passive_markdown", "passive_outputs", "make_passive", "image_sizes"]

PASSIVE_MIMETYPES = ("text/plain", "image/png", "image/jpeg")
_PASSIVE_OUTPUT_TYPES = ("stream", "error", "execute_result", "display_data")
_ENTITY = re.compile(r"&(?=#?[0-9A-Za-z]+;)")
_SCRIPT_SCHEME = re.compile(r"(?i)(j\s*a\s*v\s*a|v\s*b)\s*s\s*c\s*r\s*i\s*p\s*t\s*:|d\s*a\s*t\s*a\s*:\s*text/html")


_REMOTE_IMAGE = re.compile(r"!\[(?![^\]\n]*\]\(\s*attachment:)")


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
    # an image the page would fetch from elsewhere (a tracking pixel, a request in the instructor's name) becomes a
    # plain link; the cell's own attachments stay images
    source = _REMOTE_IMAGE.sub("[", source)
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
        data = {k: v for k, v in (output.get("data") or {}).items() if k in PASSIVE_MIMETYPES
                and (k == "text/plain" or is_base64(v))}
        if not data:
            if kind != "execute_result":
                continue
            data = {"text/plain": "[coursekit: rich output removed by the grader]"}
        output["data"] = data
        output["metadata"] = image_sizes(output.get("metadata"), data)
        kept.append(output)
    return kept


_BASE64 = re.compile(r"^[A-Za-z0-9+/=\s]*$")
_ATTACHMENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")


def is_base64(value) -> bool:
    """An image's data as nbformat stores it: base64 text and nothing else (templates put it inside a quoted src)."""
    if isinstance(value, list):
        value = "".join(value)
    return isinstance(value, str) and bool(_BASE64.match(value))


def image_sizes(metadata, data) -> dict:
    """Of an output's metadata, only what was validated: each image's width and height as positive whole numbers.

    nbconvert's templates write them into the <img> tag unquoted (``width=...``), so anything else there (``1
    onerror=...``) would become a live attribute in the instructor's browser; every other key (file names,
    backgrounds, confinement) is dropped."""
    kept = {}
    for mimetype in ("image/png", "image/jpeg"):
        sizes = (metadata or {}).get(mimetype) if mimetype in data else None
        if not isinstance(sizes, dict):
            continue
        valid = {}
        for key in ("width", "height"):
            value = sizes.get(key)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            if value == value and 0 < value < 100_000:
                valid[key] = int(value)
        if valid:
            kept[mimetype] = valid
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
                bundle = {k: v for k, v in (bundle or {}).items() if k in ("image/png", "image/jpeg")
                          and is_base64(v)}
                if bundle and _ATTACHMENT_NAME.match(str(name)):
                    attachments[name] = bundle
            cell["attachments"] = attachments
        if is_readonly(cell):
            continue
        cell.source = passive_markdown(cell.source)

