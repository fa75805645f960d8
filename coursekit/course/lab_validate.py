"""nbgrader's Validate button in JupyterLab, answered by `coursekit check`.

nbgrader's own handler runs nbgrader's validator: a plain kernel, without coursekit's sandbox, per-cell limits or
normalisation against the release, so its verdict could differ from the grade. This Jupyter server extension
takes over the same URL (`POST /assignments/validate`, and `GET /nbgrader_version` that the button asks first),
runs `coursekit check NOTEBOOK` in a subprocess (the same command a student types, so the same sandbox and time
limits) and answers in the format nbgrader's button renders: nbgrader's success message when every visible test
passes and no test cell was changed, otherwise one entry holding `coursekit check`'s own report, so the dialog
says what the terminal says: its verdict line first (where nbgrader would show a cell's source), then one line per
thing to do, never a cell's starter code. The entry carries a marker (``REPORT_CLASS``) by which coursekit's lab
extension hides nbgrader's "The following cell failed:" heading above it.

Enabled by jupyter_server_config.py in the repository root (which `make lab` passes with --config), where
nbgrader's own validate_assignment extension is switched off.
"""

from __future__ import annotations

import asyncio
import html
import json
import os
import sys
from pathlib import Path

VERDICTS = ("FAIL", "TODO", "ERROR")
REPORT_CLASS = "coursekit-check-report"
_HEAD = "coursekit check "


def parse_report(output: str) -> dict | None:
    """`coursekit check`'s report: {"summary": the verdict line, "details": the lines after it, "problems": the
    TODO/FAIL/ERROR lines, "changed": the changed or deleted cells}; None if the output holds no report."""
    lines = output.splitlines()
    head = next((i for i, line in enumerate(lines)
                 if line.startswith(_HEAD) and line.rstrip().endswith(" from visible tests.")), None)
    if head is None:
        return None
    summary = lines[head][len(_HEAD):].split(": ", 1)[-1].strip()
    details = [line for line in lines[head + 1:] if line.strip()]
    problems = [line.strip() for line in details if line.startswith("  ") and line.split()[0] in VERDICTS]
    changed, in_changes = [], False
    for line in details:
        if line.endswith("changed or deleted cells:"):
            in_changes = True
        elif in_changes and line.startswith("  "):
            changed.append(line.strip())
        else:
            in_changes = False
    return {"summary": summary, "details": details, "problems": problems, "changed": changed,
            "notebook": lines[head][len(_HEAD):].split(": ", 1)[0]}


def nbgrader_result(output: str, returncode: int) -> dict:
    """What nbgrader's Validate button shows, built from `coursekit check`'s output: nbgrader's success when
    nothing is left to do, else one entry whose "source" (shown first, as text) is the verdict line and whose
    "error" (inserted as HTML, so escaped here) is the rest of the report, which names cells by their ids and never
    quotes their code."""
    report = parse_report(output) if returncode == 0 else None
    if report is None:
        return {"success": False, "value": f"coursekit check failed (exit status {returncode}):\n{output}"}
    if not report["problems"] and not report["changed"]:
        return {"success": True, "value": {}}  # nbgrader shows "Success! Your notebook passes all the tests."
    verdict = f"coursekit check {report['notebook']}: {report['summary']}"
    details = html.escape("\n".join(report["details"]))
    return {"success": True, "value": {"failed": [
        {"source": verdict, "error": f'<span class="{REPORT_CLASS}"></span>{details}'}]}}


async def run_check(path: Path) -> tuple[str, int]:
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "coursekit.cli", "check", str(path), cwd=str(path.parent), env=env,
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    output, _ = await process.communicate()
    return output.decode(errors="replace"), process.returncode


def _handlers():
    from jupyter_server.base.handlers import JupyterHandler
    from nbgrader.server_extensions.validate_assignment.handlers import NbGraderVersionHandler
    from tornado import web

    class CoursekitValidateHandler(JupyterHandler):
        @web.authenticated
        async def post(self):
            try:
                path = self.get_argument("path")
            except web.MissingArgumentError:
                path = (self.get_json_body() or {}).get("path", "")
            root = Path(self.settings["coursekit_root_dir"]).resolve()
            target = (root / path).resolve()
            if not target.is_relative_to(root) or target.suffix != ".ipynb" or not target.is_file():
                raise web.HTTPError(403 if not target.is_relative_to(root) else 404, f"no notebook at {path}")
            output, returncode = await run_check(target)
            self.log.info("coursekit check %s: exit %s", path, returncode)
            self.finish(json.dumps(nbgrader_result(output, returncode)))

    return [(r"/assignments/validate", CoursekitValidateHandler), (r"/nbgrader_version", NbGraderVersionHandler)]


def _jupyter_server_extension_points():
    return [{"module": "coursekit.course.lab_validate"}]


def _load_jupyter_server_extension(serverapp):
    from jupyter_server.utils import url_path_join

    base = serverapp.web_app.settings["base_url"]
    serverapp.web_app.settings["coursekit_root_dir"] = serverapp.root_dir
    serverapp.web_app.add_handlers(".*$", [(url_path_join(base, pattern), handler) for pattern, handler in _handlers()])
    serverapp.log.info("coursekit.course.lab_validate: Validate runs `coursekit check`")
