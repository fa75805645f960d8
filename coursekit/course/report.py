"""`coursekit report [ASSIGNMENT]`: the class at a glance, as one self-contained HTML page plus its plots as PNGs.

Per assignment: the score distribution, each graded cell's distribution (full, partial, zero, awaiting a manual
grade), the checks that fail most with their most common verdict messages grouped ("31 students: pooling rounds
up"), CPU time per submission and the kernels that hit a limit (from the executor's run records), late and
edited-test flags (gradebook), similar pairs side by side (``similarity``), links to each student's feedback; and
the regrade audit log.

Where the facts come from: scores, lateness, flags: the gradebook (``scores.read_scores``). Verdict messages: the
graded notebooks in the autograded folder, from the judged test cells only: those the executor marked with
``VERDICT_KEY`` (cell metadata ``coursekit_verdict``) after writing the verdict as their only outputs (a failing
one holds an error output ``HiddenTestFailed: <message>``, a partly passing one the message on stdout). Every other
cell's outputs were made by the student's kernel, which can print anything there (a fake "verdict" that blames
another check, text for the instructor): the report shows no message for them, only that points were lost. CPU
time and limits: ``<course dir>/run_records/<student>/<assignment>.json`` (``{"format": 1, "cpu_seconds",
"wall_seconds", "cells": [{"grade_id", "index", "cpu_seconds", "wall_seconds", "limit", "notebook"}],
"notebooks": {...}}``, written by ``execute``), "not recorded" where absent.

**Everything a student wrote is hostile**: names, ids, messages (a verdict quotes the student's values), code.
Every string goes through ``html.escape``; links are built from path components quoted with ``urllib.parse.quote``
and always start with ``./``, so no scheme (``javascript:``) can appear; the page carries a Content-Security-Policy
that allows no script, no request and images from ``data:`` only, so even a mistake here stays inert. The page
needs no script and loads nothing.
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
import statistics
from collections import Counter
from pathlib import Path
from urllib.parse import quote

from .verdicts import VERDICT_KEY

__all__ = ["gather", "write_report", "verdict_messages", "run_record", "LIMIT_NAMES"]

# the limit values of the executor's run records (limits.py, execute.py), in words
LIMIT_NAMES = {"cpu": "CPU time", "memory": "memory", "disk": "disk", "message": "message size",
               "output": "output size", "flood": "output flood", "died": "kernel died"}
_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
MAX_MESSAGE = 300


def esc(value) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _href(*parts) -> str:
    """A relative link from quoted path components: never a scheme, never outside what the parts name."""
    return "./" + "/".join(quote(str(p), safe="") for p in parts)


# ------------------------------------------------------------------------------------------------- sources
def verdict_messages(path) -> dict:
    """{grade_id: message} of the judged test cells of one autograded notebook: the error output of a failed
    verdict (``HiddenTestFailed: message``), else the stdout text of a partial one.

    Only cells with the executor's ``VERDICT_KEY`` mark are read: their outputs are the grader's verdict, written
    after the kernel ran (and the mark is removed from every cell before a run, so a submission cannot bring its
    own). Any other cell's outputs are the kernel's, under the student's control, and are never shown as a
    verdict."""
    try:
        nb = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    found = {}
    for cell in nb.get("cells", []):
        meta = cell.get("metadata", {}).get("nbgrader", {}) or {}
        if not meta.get("grade") or meta.get("solution") or cell.get("cell_type") != "code":
            continue
        if (cell.get("metadata") or {}).get(VERDICT_KEY) is not True:
            continue  # kernel-made outputs: not a verdict, whatever they say
        outputs = cell.get("outputs", []) or []
        errors = [o for o in outputs if o.get("output_type") == "error"]
        streams = [o for o in outputs if o.get("output_type") == "stream" and o.get("name") == "stdout"]
        if errors:
            e = errors[-1]
            text = e.get("evalue", "") if e.get("ename") == "HiddenTestFailed" else \
                f"{e.get('ename', 'Error')}: {e.get('evalue', '')}"   # EditedTestCell
        elif streams:
            text = "".join("".join(o.get("text", "")) if isinstance(o.get("text"), list) else o.get("text", "")
                           for o in streams)
            lines = [line for line in text.splitlines() if line.strip() and not line.startswith("Note: this test")]
            text = lines[-1] if lines else ""
        else:
            continue
        text = " ".join(str(text).split())
        found[meta.get("grade_id")] = text[:MAX_MESSAGE] + ("..." if len(text) > MAX_MESSAGE else "")
    return found


def run_record(course_dir, student: str, assignment: str) -> dict | None:
    """The executor's run record of one graded submission; None when there is none (or it is not one)."""
    path = Path(course_dir) / "run_records" / student / f"{assignment}.json"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != 1:
        return None
    return data


def gather(course, assignment: str | None = None, threshold: float = 0.5) -> dict:
    """Everything the report shows, as plain data."""
    from .regrade import read_audit_log
    from .scores import read_scores

    table = read_scores(course.db_url, assignment)
    sections = []
    for name in table.assignments:
        subs = [table.submissions[(s, name)] for s in table.students if (s, name) in table.submissions]
        cell_max = table.cell_max[name]
        messages: dict = {cell: Counter() for cell in cell_max}
        students = []
        for sub in subs:
            verdicts = {}
            for notebook in sorted((Path(course.autograded_dir) / sub.student / name).glob("*.ipynb")):
                verdicts.update(verdict_messages(notebook))
            for cell, grade in sub.cells.items():
                if grade.score < grade.max_score and cell in verdicts and cell in messages:
                    messages[cell][verdicts[cell]] += 1
            record = run_record(course.course, sub.student, name)
            limits = [(c.get("grade_id") or f"{c.get('notebook') or 'notebook'} cell {c.get('index')}", c["limit"])
                      for c in (record or {}).get("cells", []) if isinstance(c, dict) and c.get("limit")]
            feedback = sorted((Path(course.feedback_dir) / sub.student / name).glob("*.html"))
            students.append({
                "student": sub.student, "name": " ".join(p for p in table.names.get(sub.student, ()) if p),
                "score": sub.score, "max_score": sub.max_score, "raw_score": sub.raw_score,
                "late_penalty": sub.late_penalty, "seconds_late": sub.seconds_late,
                "extension": sub.extension_seconds, "flagged": sub.flagged,
                "needs_manual_grade": sub.needs_manual_grade,
                "cpu_seconds": None if record is None else record.get("cpu_seconds"),
                "limits": limits, "feedback": [p.name for p in feedback],
                "cells": {c: (g.score, g.max_score, g.needs_manual_grade) for c, g in sub.cells.items()}})
        failing = []
        for cell, points in cell_max.items():
            lost = [s for s in students if cell in s["cells"] and s["cells"][cell][0] < points
                    and not s["cells"][cell][2]]
            if lost:
                failing.append({"cell": cell, "lost": len(lost), "of": len(students),
                                "messages": messages[cell].most_common(5)})
        failing.sort(key=lambda f: -f["lost"])
        similar = []
        try:
            from .similarity import similarity

            pairs, answers, _ = similarity(course, name, threshold=threshold)
            sources = {a.student: a.cells for a in answers}
            similar = [{"a": p.a, "b": p.b, "score": p.score, "matches": p.matches,
                        "cells_a": sources[p.a], "cells_b": sources[p.b]} for p in pairs]
        except Exception as exc:  # noqa: BLE001 - a report without similarity is still a report
            similar = [{"error": f"{type(exc).__name__}: {exc}"}]
        sections.append({"assignment": name, "max_score": table.max_score[name], "duedate": table.duedate[name],
                         "cell_max": cell_max, "students": students, "failing": failing, "similar": similar})
    audit = [e for e in read_audit_log(course.course) if assignment in (None, e.get("assignment"))]
    return {"sections": sections, "audit": audit, "threshold": threshold}


# --------------------------------------------------------------------------------------------------- plots
def _figure_png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return buffer.getvalue()


def _plots(section: dict) -> dict:
    """{name: PNG bytes} for one assignment's section."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    pngs = {}
    students, name = section["students"], section["assignment"]
    scores = [s["score"] for s in students]
    fig, ax = plt.subplots(figsize=(6.4, 3.2))
    top = section["max_score"] or 1
    bins = [top * k / 20 for k in range(21)]
    ax.hist(scores, bins=bins, color="#3b6ea8", edgecolor="white")
    ax.set_xlabel(f"score (of {top:g})")
    ax.set_ylabel("submissions")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(f"{name}: {len(scores)} submissions")
    pngs["scores"] = _figure_png(fig)
    plt.close(fig)

    cells = list(section["cell_max"])
    full, partial, zero, manual = ([0] * len(cells) for _ in range(4))
    for s in students:
        for i, cell in enumerate(cells):
            if cell not in s["cells"]:
                continue
            got, points, needs = s["cells"][cell]
            if needs:
                manual[i] += 1
            elif got >= points:
                full[i] += 1
            elif got > 0:
                partial[i] += 1
            else:
                zero[i] += 1
    fig, ax = plt.subplots(figsize=(6.4, 0.35 * len(cells) + 1.2))
    left = [0] * len(cells)
    for counts, label, color in ((full, "full marks", "#4c9a5b"), (partial, "partial", "#e0b040"),
                                 (zero, "no marks", "#c8553d"), (manual, "awaiting manual grade", "#9a9a9a")):
        ax.barh(range(len(cells)), counts, left=left, label=label, color=color)
        left = [a + b for a, b in zip(left, counts)]
    ax.set_yticks(range(len(cells)), [f"{c} ({section['cell_max'][c]:g})" for c in cells])
    ax.invert_yaxis()
    ax.set_xlabel("submissions")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.25 - 1.2 / (0.35 * len(cells) + 1.2)), fontsize=8,
              ncols=4, frameon=False)
    ax.set_title(f"{name}: each graded cell")
    pngs["cells"] = _figure_png(fig)
    plt.close(fig)

    timed = [(s["student"], s["cpu_seconds"]) for s in students if s["cpu_seconds"] is not None]
    if timed:
        timed.sort(key=lambda t: -t[1])
        fig, ax = plt.subplots(figsize=(6.4, 3.2))
        ax.bar(range(len(timed)), [t for _, t in timed], color="#6a5acd")
        ax.set_xticks([])
        ax.set_xlabel(f"{len(timed)} submissions with a run record, slowest first")
        ax.set_ylabel("kernel CPU seconds")
        ax.set_title(f"{name}: CPU time per submission (median {statistics.median(t for _, t in timed):.1f} s)")
        pngs["cpu"] = _figure_png(fig)
        plt.close(fig)
    return pngs


# ---------------------------------------------------------------------------------------------------- HTML
_STYLE = """
body { font-family: sans-serif; margin: 2em; max-width: 80em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.5em; text-align: left; vertical-align: top; }
td.num { text-align: right; }
.flag { color: #a03020; font-weight: bold; }
pre { margin: 0; font-size: 0.85em; white-space: pre-wrap; }
mark { background: #ffe08a; }
img { max-width: 100%; display: block; margin: 0.5em 0; }
.side { display: grid; grid-template-columns: 1fr 1fr; gap: 0.5em; }
.side div { border: 1px solid #ccc; padding: 0.3em; overflow-x: auto; }
"""


def _duration(seconds: float) -> str:
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def _code(source: str, lines: list) -> str:
    marked = set(lines)
    return "".join(f"<mark>{esc(line)}</mark>\n" if k in marked else f"{esc(line)}\n"
                   for k, line in enumerate(source.splitlines(), start=1))


def _section_html(section: dict, pngs: dict, feedback_base: list, threshold: float) -> str:
    name = section["assignment"]
    students = section["students"]
    out = [f"<h2 id=\"{esc(quote(name, safe=''))}\">{esc(name)}</h2>"]
    scores = [s["score"] for s in students]
    if scores:
        out.append(f"<p>{len(scores)} submission(s); mean {statistics.mean(scores):.2f}, median "
                   f"{statistics.median(scores):g}, best {max(scores):g} of {section['max_score']:g}"
                   + (f"; due {esc(section['duedate'])} UTC" if section["duedate"] else "") + ".</p>")
    else:
        out.append("<p>No submission graded yet.</p>")
    for key, alt in (("scores", "score distribution"), ("cells", "score distribution per graded cell"),
                     ("cpu", "CPU time per submission")):
        if key in pngs:
            data = base64.b64encode(pngs[key]).decode()
            out.append(f'<img alt="{esc(name)}: {alt}" src="data:image/png;base64,{data}">')

    out.append("<h3>Checks that fail most</h3>")
    if section["failing"]:
        out.append("<table><tr><th>cell</th><th>lost points</th><th>most common verdicts</th></tr>")
        for f in section["failing"]:
            verdicts = "<br>".join(f"{n} student{'s' if n != 1 else ''}: {esc(m)}" for m, n in f["messages"]) \
                or "(no verdict message in the graded notebooks)"
            out.append(f"<tr><td>{esc(f['cell'])}</td><td class=num>{f['lost']} of {f['of']}</td>"
                       f"<td>{verdicts}</td></tr>")
        out.append("</table>")
    else:
        out.append("<p>Every automatically graded cell scored full marks.</p>")

    limited = [s for s in students if s["limits"]]
    out.append("<h3>Kernels that hit a limit</h3>")
    if limited:
        out.append("<ul>" + "".join(
            f"<li>{esc(s['student'])}: " + ", ".join(f"{esc(cell)} ({esc(LIMIT_NAMES.get(limit, limit))})"
                                                    for cell, limit in s["limits"]) + "</li>" for s in limited)
            + "</ul>")
    elif all(s["cpu_seconds"] is None for s in students):
        out.append("<p>Not recorded (no run records for this assignment).</p>")
    else:
        out.append("<p>None.</p>")

    out.append("<h3>Students</h3><table><tr><th>student</th><th>name</th><th>score</th><th>late</th>"
               "<th>edited tests</th><th>manual grading</th><th>CPU s</th><th>feedback</th></tr>")
    for s in students:
        late = ""
        if s["seconds_late"] > 0:
            late = f"<span class=flag>late {_duration(s['seconds_late'])}</span>"
            if s["late_penalty"]:
                late += f", penalty {s['late_penalty']:g}"
        if s["extension"]:
            late += ("; " if late else "") + f"extension {_duration(s['extension'])}"
        cpu = "not recorded" if s["cpu_seconds"] is None else f"{s['cpu_seconds']:.1f}"
        links = ", ".join(f'<a href="{esc(_href(*feedback_base, s["student"], name, page))}">{esc(page)}</a>'
                          for page in s["feedback"]) or "not generated"
        out.append(f"<tr><td>{esc(s['student'])}</td><td>{esc(s['name'])}</td>"
                   f"<td class=num>{s['score']:g} / {s['max_score']:g}</td><td>{late}</td>"
                   f"<td>{'<span class=flag>edited</span>' if s['flagged'] else ''}</td>"
                   f"<td>{'needed' if s['needs_manual_grade'] else ''}</td><td class=num>{cpu}</td>"
                   f"<td>{links}</td></tr>")
    out.append("</table>")

    out.append(f"<h3>Similar answers (at least {threshold:.0%} of fingerprints shared)</h3>")
    similar = section["similar"]
    if similar and "error" in similar[0]:
        out.append(f"<p>Not computed: {esc(similar[0]['error'])}</p>")
    elif not similar:
        out.append("<p>No pair above the threshold.</p>")
    for pair in similar if similar and "error" not in similar[0] else []:
        out.append(f"<h4>{esc(pair['a'])} ~ {esc(pair['b'])}: {pair['score']:.0%}</h4>")
        for cell, (lines_a, lines_b) in sorted(pair["matches"].items()):
            out.append(f"<p>{esc(cell)}</p><div class=side>"
                       f"<div><pre>{_code(pair['cells_a'].get(cell, ''), lines_a)}</pre></div>"
                       f"<div><pre>{_code(pair['cells_b'].get(cell, ''), lines_b)}</pre></div></div>")
    return "\n".join(out)


def _audit_html(entries: list) -> str:
    out = ["<h2 id=audit>Regrades (audit log)</h2>"]
    if not entries:
        return out[0] + "\n<p>No regrade recorded.</p>"
    out.append("<table><tr><th>when (UTC)</th><th>who</th><th>submission</th><th>why</th><th>before</th>"
               "<th>after</th></tr>")
    for e in entries:
        if "unreadable" in e:
            out.append(f"<tr><td colspan=6>unreadable line: {esc(e['unreadable'][:200])}</td></tr>")
            continue
        before = "-" if not e.get("before") else f"{e['before'].get('total', 0):g}"
        after = e.get("outcome", "") if not e.get("after") else f"{e['after'].get('total', 0):g}"
        out.append(f"<tr><td>{esc(e.get('time'))}</td><td>{esc(e.get('by'))}</td>"
                   f"<td>{esc(e.get('student'))}/{esc(e.get('assignment'))}</td><td>{esc(e.get('reason'))}</td>"
                   f"<td class=num>{esc(before)}</td><td class=num>{esc(after)}</td></tr>")
    out.append("</table>")
    return "\n".join(out)


def write_report(course, assignment: str | None = None, folder=None, threshold: float = 0.5) -> Path:
    """Write report.html (report_<assignment>.html for one) and its PNGs into folder (course/reports by default);
    returns the page."""
    folder = Path(folder) if folder else Path(course.course) / "reports"
    folder.mkdir(parents=True, exist_ok=True)
    data = gather(course, assignment, threshold)
    # links to the feedback pages, relative to the report's folder
    feedback_base = Path(os.path.relpath(course.feedback_dir, folder)).parts
    title = f"coursekit report: {assignment or 'all assignments'}"
    body = [f"<h1>{esc(title)}</h1>",
            "<p>" + " | ".join(f'<a href="#{esc(quote(s["assignment"], safe=""))}">{esc(s["assignment"])}</a>'
                               for s in data["sections"]) + ' | <a href="#audit">regrades</a></p>']
    for section in data["sections"]:
        pngs = _plots(section)
        for key, png in pngs.items():
            (folder / f"{section['assignment']}_{key}.png").write_bytes(png)
        body.append(_section_html(section, pngs, list(feedback_base), threshold))
    body.append(_audit_html(data["audit"]))
    page = folder / (f"report_{assignment}.html" if assignment else "report.html")
    page.write_text("<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
                    f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
                    f"<title>{esc(title)}</title><style>{_STYLE}</style></head><body>\n"
                    + "\n".join(body) + "\n</body></html>\n", encoding="utf-8")
    return page
