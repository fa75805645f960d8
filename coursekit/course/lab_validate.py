"""nbgrader's Validate button in JupyterLab, answered by `coursekit check`.

nbgrader's own handler runs nbgrader's validator: a plain kernel, without coursekit's sandbox, per-cell limits or
normalisation against the release, so its verdict could differ from the grade. This Jupyter server extension
takes over the same URL (`POST /assignments/validate`, and `GET /nbgrader_version` that the button asks first),
runs `coursekit check NOTEBOOK` in a subprocess (the same command a student types, so the same sandbox and time
limits) and answers in the format nbgrader's button renders: a success message when every visible test passes,
otherwise one entry per failing cell with coursekit's verdict, the first one also listing the tests that pass.

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

VERDICTS = ("pass", "FAIL", "TODO", "ERROR")


def parse_report(output: str) -> dict | None:
    """The verdict lines of `coursekit check`'s report, by grade id; None if the output has no report."""
    if "visible tests:" not in output:
        return None
    verdicts = []
    for line in output.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] in VERDICTS:
            verdicts.append({"verdict": words[0], "grade_id": words[1].rstrip(":"), "line": line.strip()})
    summary = next(line.strip() for line in output.splitlines() if line.startswith("visible tests:"))
    changed, in_changes = [], False
    for line in output.splitlines():
        if line.startswith("changed or deleted cells"):
            in_changes = True
        elif in_changes and line.startswith("  "):
            changed.append(line.strip())
        else:
            in_changes = False
    return {"verdicts": verdicts, "summary": summary, "changed": changed}


def nbgrader_result(output: str, returncode: int, notebook: dict | None) -> dict:
    """What nbgrader's Validate button shows, built from `coursekit check`'s output."""
    report = parse_report(output) if returncode == 0 else None
    if report is None:
        return {"success": False, "value": f"coursekit check failed (exit status {returncode}):\n{output}"}
    problems = [v for v in report["verdicts"] if v["verdict"] != "pass"]
    if not problems and not report["changed"]:
        return {"success": True, "value": {}}  # nbgrader shows "Success! Your notebook passes all the tests."
    sources = {}
    for cell in (notebook or {}).get("cells", []):
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if grade_id:
            sources[grade_id] = "".join(cell.get("source", ""))
    passed = [v["grade_id"] for v in report["verdicts"] if v["verdict"] == "pass"]
    overview = (f"coursekit check: {report['summary']}\n"
                f"passing: {', '.join(passed) if passed else 'none yet'}")
    failed = [{"source": sources.get(v["grade_id"], v["grade_id"]), "error": html.escape(v["line"])}
              for v in problems]
    for line in report["changed"]:
        failed.append({"source": line.split(" was changed")[0].split(" is missing")[0], "error": html.escape(line)})
    failed[0]["error"] += html.escape("\n\n" + overview)
    return {"success": True, "value": {"failed": failed}}


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
            try:
                notebook = json.loads(target.read_text())
            except (OSError, ValueError):
                notebook = None
            self.finish(json.dumps(nbgrader_result(output, returncode, notebook)))

    return [(r"/assignments/validate", CoursekitValidateHandler), (r"/nbgrader_version", NbGraderVersionHandler)]


def _jupyter_server_extension_points():
    return [{"module": "coursekit.course.lab_validate"}]


def _load_jupyter_server_extension(serverapp):
    from jupyter_server.utils import url_path_join

    base = serverapp.web_app.settings["base_url"]
    serverapp.web_app.settings["coursekit_root_dir"] = serverapp.root_dir
    serverapp.web_app.add_handlers(".*$", [(url_path_join(base, pattern), handler) for pattern, handler in _handlers()])
    serverapp.log.info("coursekit.course.lab_validate: Validate runs `coursekit check`")
