"""Fixtures for the browser tests: a JupyterLab server started the way `make lab` starts it, and a headless
Chromium driven by Playwright.

The server always runs on a temporary copy of what a test needs, so autosave, kernels and checkpoints never touch
the checkout. Chromium is Debian's (`make browser` installs it); Playwright's own `playwright install` is never
used, it downloads browsers from a site that may be unreachable. Every test that drives the browser saves a
screenshot of each step to one folder ($COURSEKIT_SCREENSHOTS, default .browser-screenshots/), whose path the
session prints at the end so that a CI log says where to look.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
SCREENSHOTS = Path(os.environ.get("COURSEKIT_SCREENSHOTS", REPO / ".browser-screenshots")).resolve()
TOKEN = "coursekit-browser-tests"


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _missing_browser() -> str | None:
    """Why the browser tests cannot run here, or None."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install -e '.[dev]')"
    if chromium_path() is None:
        return "no Chromium on PATH (make browser, or apt-get install chromium)"
    return None


def pytest_collection_modifyitems(config, items):
    reason = _missing_browser()
    here = Path(__file__).parent
    needs_browser = {"page", "browser", "student_lab", "instructor_lab"}
    for item in items:
        if here in Path(str(item.fspath)).parents and needs_browser & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.browser)
            if reason:
                item.add_marker(pytest.mark.skip(reason=f"browser test skipped: {reason}"))


def pytest_terminal_summary(terminalreporter):
    if SCREENSHOTS.is_dir() and any(SCREENSHOTS.iterdir()):
        terminalreporter.write_sep("-", "browser tests")
        terminalreporter.write_line(f"screenshots of each step: {SCREENSHOTS}")


# ------------------------------------------------------------------------------------------------ the server
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lab:
    """A running JupyterLab: its root folder, URL and log."""

    def __init__(self, root: Path, log: Path):
        self.root = root
        self.log = log
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        settings = root.parent / f"{root.name}-lab-settings"
        # fresh, empty user settings and workspaces per server: no state from an earlier session. The course's own
        # settings (no news pop-up: jupyter-config/lab/settings) come from jupyter_server_config.py, as in make lab
        (settings / "user").mkdir(parents=True, exist_ok=True)
        (settings / "workspaces").mkdir(exist_ok=True)
        env = dict(os.environ)
        # as `make lab` does: the venv's tools first on PATH (the formgrader runs alembic by name), the
        # repository's jupyter_server_config.py
        env["PATH"] = os.pathsep.join([str(VENV_BIN), env.get("PATH", "")])
        env.pop("JUPYTER_CONFIG_DIR", None)
        cmd = [str(VENV_BIN / "jupyter"), "lab", "--no-browser", f"--port={self.port}", "--ip=127.0.0.1",
               f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={root}",
               f"--LabApp.user_settings_dir={settings / 'user'}",
               f"--LabApp.workspaces_dir={settings / 'workspaces'}",
               f"--config={REPO / 'jupyter_server_config.py'}", "--allow-root"]
        self._log_file = open(log, "w")
        # started in the root folder, as `make lab` is in the repository: nbgrader reads nbgrader_config.py there
        self.process = subprocess.Popen(cmd, cwd=root, env=env, stdout=self._log_file, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL)

    def wait(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with {self.process.returncode}:\n{self.log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/api/status?token={TOKEN}", timeout=5) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        raise RuntimeError(f"JupyterLab did not answer within {timeout:.0f} s:\n{self.log.read_text()[-3000:]}")

    def api(self, path: str, method: str = "GET", body: dict | None = None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.url}{path}", data=data, method=method,
                                         headers={"Authorization": f"token {TOKEN}"})
        with urllib.request.urlopen(request, timeout=60) as response:
            text = response.read().decode()
        return json.loads(text) if text else None

    def close_sessions(self) -> None:
        for session in self.api("/api/sessions") or []:
            self.api(f"/api/sessions/{session['id']}", method="DELETE")

    def link(self, path: str) -> str:
        sep = "&" if "?" in path else "?"
        return f"{self.url}{path}{sep}token={TOKEN}"

    def server_log(self) -> str:
        self._log_file.flush()
        return self.log.read_text()

    def stop(self) -> None:
        # shut kernels down through the API so that none outlives the server
        try:
            for kernel in self.api("/api/kernels") or []:
                self.api(f"/api/kernels/{kernel['id']}", method="DELETE")
        except OSError:
            pass
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._log_file.close()


def start_lab(root: Path) -> Lab:
    shutil.copyfile(REPO / "nbgrader_config.py", root / "nbgrader_config.py")
    lab = Lab(root, root.parent / f"{root.name}-jupyter.log")
    try:
        lab.wait()
    except Exception:
        lab.stop()
        raise
    return lab


@pytest.fixture(scope="session")
def student_lab(tmp_path_factory):
    """JupyterLab on a copy of the student's view of the course: the lectures and the released assignments."""
    root = tmp_path_factory.mktemp("student") / "coursekit"
    for name in ("lectures", "assignments", "course"):
        shutil.copytree(REPO / name, root / name, ignore=shutil.ignore_patterns(
            "submitted", "gradebook.db", "autograded", "feedback", ".grading", "exchange", "grading_secret",
            "grades.csv", "__pycache__", ".ipynb_checkpoints"))
    lab = start_lab(root)
    yield lab
    lab.stop()


@pytest.fixture(scope="session")
def graded_course(sample_run):
    """The session's graded sample run (tests/conftest.py: every sample `make course` grades), with feedback
    generated through the command line for `off_by_one` and `html_injection`."""
    from coursekit.course.pipeline import Course

    env = dict(os.environ, PATH=os.pathsep.join([str(VENV_BIN), os.environ.get("PATH", "")]))
    done = subprocess.run([str(VENV_BIN / "coursekit"), "feedback", "a1_conv_arithmetic", "--student", "off_by_one",
                           "--student", "html_injection", "--root", str(sample_run.root)], env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"coursekit feedback failed:\n{done.stdout}\n{done.stderr}"
    return Course(sample_run.root)


@pytest.fixture(scope="session")
def instructor_lab(graded_course):
    lab = start_lab(graded_course.root)
    yield lab
    lab.stop()


# ----------------------------------------------------------------------------------------------- the browser
# module scope, not session: Playwright's sync API keeps an asyncio loop running in the main thread while it is
# open, and later tests of the suite (nbclient, asyncio.run) must find no running loop
@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), headless=True,
                                             args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield browser
        browser.close()


class Steps:
    """Screenshots of each step of one test, numbered in order."""

    def __init__(self, page, test_name: str):
        self.page = page
        self.prefix = re.sub(r"[^A-Za-z0-9_.-]+", "_", test_name)
        self.count = 0

    def __call__(self, what: str, locator=None) -> Path:
        self.count += 1
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{self.prefix}-{self.count:02d}-{re.sub(r'[^A-Za-z0-9_.-]+', '_', what)}.png"
        try:
            (locator or self.page).screenshot(path=str(path))
        except Exception as exc:  # noqa: BLE001 - a screenshot that fails must not hide the real failure
            print(f"screenshot {path.name} failed: {exc}")
        return path


@pytest.fixture
def page(browser, request):
    """A fresh page (its own context: no storage shared between tests) that records console errors."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.console_errors = []
    page.on("console", lambda message: page.console_errors.append(message.text)
            if message.type == "error" else None)
    page.on("pageerror", lambda error: page.console_errors.append(f"uncaught: {error}"))
    # script that runs where it should not: every dialog it opens is recorded (and dismissed); every request
    page.dialogs, page.requests = [], []
    page.on("dialog", lambda dialog: (page.dialogs.append(dialog.message), dialog.dismiss()))
    page.on("request", lambda req: page.requests.append(req.url))
    page.steps = Steps(page, request.node.name)
    yield page
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        page.steps("failure")
    context.close()
    # the notebooks' kernels go after the screenshot: shutting a busy kernel down interrupts it first
    for name in ("student_lab", "instructor_lab"):
        lab = request.node.funcargs.get(name)
        if lab is not None:
            lab.close_sessions()


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)
