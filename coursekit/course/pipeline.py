"""The instructor's pipeline over nbgrader: release, autograde (in parallel), merge, export, report.

nbgrader runs in subprocesses, one per submission, so a submission that crashes or hangs its grader cannot take
the others down. Success is decided by nbgrader's exit status and by what the gradebook holds afterwards, never by
reading text (the kernel's output never reaches this process, and a student's notebook can put arbitrary strings
into nbgrader's log). nbgrader never reads course/submitted/ itself: each submission is first copied, regular
files only and without following links, into a staging folder that nbgrader is pointed at instead.

nbgrader's gradebook is a single SQLite file and its autograder is not safe to run twice at once, so parallel
grading gives each worker its own copy of the gradebook (made after the release) and merges the workers' grades
back into the course gradebook at the end, in this process, one writer at a time.
"""

from __future__ import annotations

import csv
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Course", "GradingResult", "NbgraderError"]



class NbgraderError(RuntimeError):
    pass


@dataclass
class GradingResult:
    student: str
    assignment: str
    seconds: float
    ok: bool
    detail: str = ""
    worker: int = 0
    score: float | None = None       # what the gradebook holds once it was graded
    max_score: float | None = None


@dataclass
class Course:
    """An nbgrader course: a repository laid out as coursekit's (root/course/ holds nbgrader_config.py, with
    solutions/ and assignments/ beside it), or any nbgrader course directory (root itself holds
    nbgrader_config.py, or at least source/).

    Every location and the database URL come from the course's nbgrader configuration, loaded as nbgrader loads it
    (``load_nbgrader_config``); where it sets none: in coursekit's layout ../solutions and ../assignments, otherwise
    nbgrader's own defaults (source/, release/, submitted/, autograded/, feedback/, gradebook.db in the course
    directory). Attributes: ``course`` (nbgrader's CourseDirectory.root), ``source_dir``, ``release_dir``,
    ``submitted_dir``, ``autograded_dir``, ``feedback_dir`` (each holding one folder per assignment, or per
    student), ``db_url``, and ``coursekit_configured`` (the course's own configuration already grades with
    coursekit's ExecuteAndJudge; otherwise coursekit layers its grading configuration over it on nbgrader's
    command line: ``grading_arguments``).
    """

    root: Path
    log: list = field(default_factory=list)

    def __post_init__(self):
        self.root = Path(self.root).resolve()
        if (self.root / "course" / "nbgrader_config.py").is_file():
            self.repository_layout, course_dir = True, self.root / "course"
        elif (self.root / "nbgrader_config.py").is_file() or (self.root / "source").is_dir():
            self.repository_layout, course_dir = False, self.root
        else:
            raise NbgraderError(f"{self.root} is not an nbgrader course: neither {self.root / 'course'} nor "
                                f"{self.root} holds an nbgrader_config.py (nor a source/ folder)")
        self.config = load_nbgrader_config(course_dir)
        self._locate(course_dir)

    def _locate(self, course_dir: Path) -> None:
        from nbgrader.coursedir import CourseDirectory

        settings = self.config.CourseDirectory
        root = Path(settings["root"]) if "root" in settings else course_dir
        directories = CourseDirectory(config=self.config, root=str(course_dir / root))
        if "directory_structure" in settings and directories.directory_structure != os.path.join(
                "{nbgrader_step}", "{student_id}", "{assignment_id}"):
            raise NbgraderError(f"{course_dir}: CourseDirectory.directory_structure is "
                                f"{directories.directory_structure!r}; coursekit supports nbgrader's default only")
        self.course = Path(directories.root).resolve()
        defaults = {"source_directory": "../solutions", "release_directory": "../assignments"} \
            if self.repository_layout else {}

        def folder(name):
            step = settings[name] if name in settings else defaults.get(name, getattr(directories, name))
            return Path(os.path.normpath(self.course / step))

        self.source_dir, self.release_dir = folder("source_directory"), folder("release_directory")
        self.submitted_dir, self.autograded_dir = folder("submitted_directory"), folder("autograded_directory")
        self.feedback_dir = folder("feedback_directory")
        self.db_url = directories.db_url
        # coursekit's defaults travel to nbgrader with every command (they are not in the course's own config)
        self._location_arguments = [f"--CourseDirectory.{name}={folder(name)}" for name in defaults
                                    if name not in settings]
        self.coursekit_configured = "ExecuteAndJudge" in str(self.config.Autograde.get("autograde_preprocessors", ""))

    # state that grading creates at run time; never part of a copy of the course
    RUN_TIME_STATE = ("gradebook.db", "autograded", "feedback", ".grading", ".grading-dask", "grades.csv",
                      "run_records", "__pycache__", "grading_secret", ".ipynb_checkpoints")

    def copy(self, dest) -> Course:
        """A copy of the course (solutions/, assignments/, course/; or the course directory) without its run-time
        state, e.g. to grade scratch runs without touching this one's gradebook."""
        dest = Path(dest)
        if not self.repository_layout:
            shutil.copytree(self.root, dest, symlinks=True, ignore=shutil.ignore_patterns(*self.RUN_TIME_STATE))
            return Course(dest)
        for name in ("solutions", "assignments", "course"):
            # links are copied as links: a sample hands in links into the course, which must stay links
            shutil.copytree(self.root / name, dest / name, symlinks=True,
                            ignore=shutil.ignore_patterns(*self.RUN_TIME_STATE))
        return Course(dest)

    # ------------------------------------------------------------------------------------------ running
    def _env(self) -> dict:
        """The nbgrader process's environment. Every grading setting travels on its command line instead
        (``grading_arguments``), so nothing here decides how a kernel is limited or where a grade goes."""
        env = dict(os.environ)
        # nbgrader runs its own tools (alembic) by name: the interpreter's folder must be on PATH
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        env["PYTHONWARNINGS"] = "ignore"
        env.pop("NBGRADER_EXECUTION", None)
        return env

    def check_config(self) -> None:
        """Reload the course's configuration (it may have changed since this Course was made; nbgrader carries on
        with its defaults after a config error, which would grade with nbgrader's own unsandboxed executor) and
        make sure grading will be sandboxed: either the course grades with ExecuteAndJudge, or coursekit can layer
        its own grading over the course's configuration. Raises NbgraderError otherwise, with the reason."""
        self.config = load_nbgrader_config(self.config_dir)
        self.coursekit_configured = "ExecuteAndJudge" in str(self.config.Autograde.get("autograde_preprocessors", ""))
        if self.coursekit_configured:
            return
        custom = [f"Autograde.{name}" for name in ("sanitize_preprocessors", "autograde_preprocessors")
                  if name in self.config.Autograde]
        if custom:
            raise NbgraderError(
                f"{self.config_dir / 'nbgrader_config.py'} sets its own {' and '.join(custom)}: coursekit grades "
                "only with its sandboxed executor (ExecuteAndJudge) and will not replace a custom pipeline "
                "silently. Remove the setting, or put coursekit.course.execute.ExecuteAndJudge in place of "
                "nbgrader's Execute.")

    @property
    def config_dir(self) -> Path:
        """The folder whose nbgrader_config.py is the course's (nbgrader runs there)."""
        return self.root / "course" if self.repository_layout else self.root

    def default_timeout(self) -> float:
        """CPU seconds per cell where the course has no timeouts.json: its configured nbgrader timeout
        (Execute.timeout, else ExecutePreprocessor.timeout, else NotebookClient.timeout), else nbgrader's 30 s. A
        timeout of None or 0 (no limit in nbgrader) becomes an hour: a kernel is never given unlimited time."""
        # not ExecuteAndJudge.timeout: in coursekit's own configuration that is the wall-clock ceiling only
        for section in ("Execute", "ExecutePreprocessor", "NotebookClient"):
            if "timeout" in self.config[section]:
                value = self.config[section]["timeout"]
                try:
                    value = float(value) if value is not None else 0.0
                except (TypeError, ValueError):
                    raise NbgraderError(f"{section}.timeout is {value!r}, not a number of seconds") from None
                return value if value > 0 else 3600.0
        return 30.0

    def timeout_settings(self) -> dict:
        """The executor's per-cell limit settings for this course: its timeouts.json, else its configured nbgrader
        timeout for every cell."""
        path = self.course / "timeouts.json"
        return {"timeouts_file": str(path) if path.is_file() else "", "default_timeout": self.default_timeout()}

    def timeouts(self) -> dict:
        """The per-cell CPU-second table the kernels get."""
        from .limits import load_timeouts

        settings = self.timeout_settings()
        return load_timeouts(settings["timeouts_file"] or None, settings["default_timeout"])

    def grading_config(self, jobs: int | None = None):
        """This course's ``config.GradingConfig``: its folders and limits, the instructor's COURSEKIT_* overrides,
        and how many kernels run side by side (their numerical libraries share the cores: OpenMP's and BLAS's
        default of one spinning thread per core each made two PyTorch trainings 8x slower than one, measured)."""
        from .config import GradingConfig, environment_overrides

        overrides = environment_overrides()
        if jobs is not None:
            overrides["kernels_side_by_side"] = int(jobs)
        return GradingConfig(self.course, self.release_dir, default_timeout=self.default_timeout(),
                             overrides=overrides)

    def grading_arguments(self, command: str, jobs: int | None = None) -> list[str]:
        """nbgrader command-line settings (they take precedence over every config file): for a course configured
        for stock nbgrader, all of coursekit's grading (``GradingConfig.arguments``: the sandboxed executor,
        normalisation, feedback that hides test code); for one whose configuration already is coursekit's, the
        settings of this run only (limits, kernels side by side, per-cell timeouts)."""
        config = self.grading_config(jobs)
        if not self.coursekit_configured:
            return config.arguments(command)
        if command != "autograde":
            return []
        run_only = {"ExecuteAndJudge." + name for name in ("timeouts_file", "default_timeout", *config.overrides)}
        return [f"--{name}={value}" for name, value in config.settings().items() if name in run_only]

    def nbgrader(self, *args: str, db_url: str | None = None, timeout: float | None = None,
                 jobs: int | None = None, submitted: Path | None = None):
        """Run one nbgrader command in the course directory; raise NbgraderError if its exit status says it failed.

        jobs: how many kernels run side by side (they share the cores); submitted: the staging folder of
        sanitised submissions to grade from.
        """
        if not getattr(self, "_config_checked", False):
            self.check_config()
            self._config_checked = True
        cmd = [sys.executable, "-m", "nbgrader", *args, *self._location_arguments,
               *self.grading_arguments(args[0], jobs)]
        if db_url:
            cmd.append(f"--CourseDirectory.db_url={db_url}")
        if submitted is not None:
            cmd.append(f"--CourseDirectory.submitted_directory={submitted}")
        try:
            done = subprocess.run(cmd, cwd=self.config_dir, env=self._env(), capture_output=True,
                                  text=True, timeout=timeout, stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)
        except subprocess.TimeoutExpired as exc:
            raise NbgraderError(f"nbgrader {' '.join(args)} took longer than {timeout:.0f} s") from exc
        if done.returncode != 0:
            # shown to the instructor, never interpreted: the last lines of nbgrader's own log
            tail = (done.stdout + done.stderr).strip().splitlines()[-8:]
            raise NbgraderError(f"nbgrader {' '.join(args)} failed (exit {done.returncode}):\n" + "\n".join(tail))
        return done.stdout + done.stderr

    # ------------------------------------------------------------------------------------------ release
    def assignments(self) -> list[str]:
        """The assignments of the source directory: its folders that hold notebooks."""
        if not self.source_dir.is_dir():
            raise NbgraderError(f"the source directory {self.source_dir} does not exist")
        return sorted(p.name for p in self.source_dir.iterdir() if p.is_dir() and any(p.glob("*.ipynb")))

    def release(self, assignment: str, progress=print) -> Path:
        """Generate the student version of one assignment into the release directory, record it in the gradebook,
        and add its test and read-only cells to the course's release history (``release_history.record_release``:
        a cell equal to any released version is never taken for an edit). Returns the released folder.

        A released notebook that differs from what the last release wrote (a student's work in assignments/) is
        copied aside first (``release_guard``); ``progress`` is told where."""
        from .release_guard import load_written, protect, record_written
        from .release_history import RELEASE_HISTORY, record_release

        self.check_kernels([assignment], released=False)
        released = self.release_dir / assignment
        history = self.course / RELEASE_HISTORY
        guarded = protect(history, released, assignment)
        self.nbgrader("generate_assignment", assignment, "--create", "--force")
        for message in guarded.settle(released):
            (progress or print)(f"   {message}")
        earlier = load_written(history)  # record_release rewrites the history with its own keys only
        record_release(history, assignment, released)
        record_written(history, assignment, released, earlier)
        return released

    # ------------------------------------------------------------------------------------ the release's record
    def release_notebook_names(self, assignment: str) -> list[str]:
        """The released notebooks' file names: from the release folder, else from the gradebook's record."""
        folder = self.release_dir / assignment
        if folder.is_dir() and any(folder.glob("*.ipynb")):
            return sorted(p.name for p in folder.glob("*.ipynb"))
        from nbgrader.api import MissingEntry

        with _quiet_gradebook(self.db_url) as gb:
            try:
                return sorted(f"{nb.name}.ipynb" for nb in gb.find_assignment(assignment).notebooks)
            except MissingEntry:
                raise NbgraderError(f"{assignment} was never released: neither {folder} nor the gradebook "
                                    "knows it") from None

    def release_notebook(self, assignment: str, name: str):
        """One released notebook: the file in the release folder, else rebuilt from the gradebook's record of its
        graded, solution, task and read-only cells (``release_history.release_from_gradebook``)."""
        import nbformat

        from .release_history import release_from_gradebook

        path = self.release_dir / assignment / name
        if path.is_file():
            return nbformat.read(path, as_version=4)
        return release_from_gradebook(self.db_url, assignment, Path(name).stem)

    def check_kernels(self, assignments, released: bool = True) -> None:
        """Refuse, naming the kernel, any assignment whose notebooks do not run on a Python kernel: coursekit's
        sandbox, limits and hidden checks are Python's (released=False: look at the source notebooks)."""
        import nbformat

        from .normalise import kernel_problem

        for assignment in sorted(set(assignments)):
            if released:
                notebooks = [(name, self.release_notebook(assignment, name))
                             for name in self.release_notebook_names(assignment)]
            else:
                notebooks = [(p.name, nbformat.read(p, as_version=4))
                             for p in sorted((self.source_dir / assignment).glob("*.ipynb"))]
            for name, nb in notebooks:
                problem = kernel_problem(nb)
                if problem:
                    raise NbgraderError(f"{assignment}/{name}: {problem}")

    def submissions(self) -> list[tuple[str, str]]:
        """(student, assignment) pairs found in the submitted directory."""
        pairs = []
        submitted = self.submitted_dir
        for student in sorted(p for p in submitted.iterdir() if p.is_dir()) if submitted.is_dir() else []:
            for assignment in sorted(p.name for p in student.iterdir() if p.is_dir()):
                pairs.append((student.name, assignment))
        return pairs

    # ---------------------------------------------------------------------------------------- autograde
    def autograde(self, pairs, jobs: int = 1, timeout: float | None = None, progress=print) -> list[GradingResult]:
        """Autograde every (student, assignment); returns one result per submission, in input order.

        timeout: wall-clock seconds one submission's nbgrader may take; None (the default): the sum of the
        wall-clock backstops of the cells that will run plus a margin (``wall_limit``), so that only the per-cell
        limits, in CPU seconds, decide whether a cell ran out of time, however loaded the machine is.

        Refuses (SandboxUnavailable) when bubblewrap cannot sandbox the kernels, unless COURSEKIT_NO_SANDBOX=1
        (``--no-sandbox``).
        """
        from .config import environment_overrides
        from .kernel_manager import sandbox_kernel_manager

        # raises with installation advice when the sandbox is missing
        sandbox_kernel_manager(require=environment_overrides().get("require_sandbox", True))
        pairs = list(pairs)
        self.check_config()
        self.check_kernels({a for _, a in pairs})  # before anything is graded
        jobs = max(1, min(jobs, len(pairs))) if pairs else 1
        main_db = sqlite_path(self.db_url)
        if jobs > 1 and main_db is None:
            (progress or print)(f"   note: the gradebook ({self.db_url.split(':', 1)[0]}) is not an SQLite file that "
                                "workers can copy: grading one submission at a time")
            jobs = 1
        if jobs > 1:
            with _quiet_gradebook(self.db_url):
                pass  # creates the course's gradebook if grading comes before any release
        work = self.course / ".grading"
        if work.exists():
            shutil.rmtree(work)
        work.mkdir(mode=0o700)
        db_urls = [None]
        if jobs > 1:
            db_urls = []
            for k in range(jobs):
                copy = work / f"gradebook-{k}.db"
                shutil.copyfile(main_db, copy)
                db_urls.append(f"sqlite:///{copy}")

        # one queue all workers draw from, the heaviest assignments first, so no worker idles at the end
        order = sorted(range(len(pairs)), key=lambda i: -self._expected_cost(pairs[i][1]))
        queue = [pairs[i] for i in order]
        lock = threading.Lock()
        warn_if_oversubscribed(jobs, progress)
        meter = Progress(len(pairs), progress)

        def run_queue(k):
            results = []
            while True:
                with lock:
                    if not queue:
                        return results
                    student, assignment = queue.pop(0)
                result = self.grade_one(student, assignment, work / f"submitted-{k}", db_urls[k], timeout=timeout,
                                        jobs=jobs, worker=k)
                meter.done(result)
                results.append(result)

        with ThreadPoolExecutor(max_workers=jobs) as pool:
            per_worker = list(pool.map(run_queue, range(jobs)))
        if jobs > 1:
            for k, results in enumerate(per_worker):
                self._merge([r for r in results if r.ok], db_urls[k])
        shutil.rmtree(work)
        by_pair = {(r.student, r.assignment): r for results in per_worker for r in results}
        return [by_pair[p] for p in pairs]

    def _expected_cost(self, assignment: str) -> float:
        """What grading one submission of the assignment costs, roughly: the CPU seconds its cells may use."""
        cache = self.__dict__.setdefault("_costs", {})
        if assignment not in cache:
            try:
                table = self.timeouts()
                cache[assignment] = sum(
                    table.get("cells", {}).get(grade_id, 0) for name in self.release_notebook_names(assignment)
                    for grade_id in _grade_ids(self.release_notebook(assignment, name)))
            except Exception:  # noqa: BLE001 - only the order of the queue depends on it
                cache[assignment] = 0.0
        return cache[assignment]

    def grade_one(self, student: str, assignment: str, staging_root: Path, db_url: str | None = None,
                  timeout: float | None = None, jobs: int = 1, worker=0,
                  autograded: Path | None = None) -> GradingResult:
        """Grade one submission into the gradebook at db_url (the course's when None): stage it under staging_root,
        run nbgrader on the staged copy (kernels sandboxed), and check from the gradebook that it was graded.
        autograded: where nbgrader writes the graded notebooks (default: the course's autograded folder).

        The local worker threads of ``autograde`` and the Dask tasks of ``coursekit.course.distributed`` both grade
        through here. Grader errors come back as a result with ok=False, never as an exception.
        """
        start = time.perf_counter()
        try:
            staging = self._stage(student, assignment, staging_root)
            self._apply_extension(student, assignment, db_url)
            limit = timeout if timeout is not None else self.wall_limit(staging / student / assignment)
            elsewhere = [f"--CourseDirectory.autograded_directory={autograded}"] if autograded else []
            self.nbgrader("autograde", assignment, "--student", student, "--force", *elsewhere, db_url=db_url,
                          timeout=limit, jobs=jobs, submitted=staging)
            score, max_score = self._require_graded(student, assignment, db_url) or (None, None)
            return GradingResult(student, assignment, time.perf_counter() - start, True, worker=worker, score=score,
                                 max_score=max_score)
        except NbgraderError as exc:
            return GradingResult(student, assignment, time.perf_counter() - start, False, str(exc), worker)

    def _apply_extension(self, student: str, assignment: str, db_url: str | None) -> None:
        """course/extensions.json's entry for this submission into the gradebook it is graded into, so nbgrader's
        late penalty honours it (``coursekit.course.extensions``)."""
        from .extensions import apply_extension

        try:
            apply_extension(self, student, assignment, db_url)
        except ValueError as exc:
            raise NbgraderError(str(exc)) from None

    WALL_MARGIN = 600  # seconds for nbgrader itself: start-up, kernels starting and stopping, the gradebook

    def wall_limit(self, staged: Path, timeouts: dict | None = None) -> float:
        """Wall-clock seconds one staged submission (its folder of notebooks) may take in nbgrader: the sum of the
        per-cell wall-clock backstops (``limits.wall_backstop_seconds``, from course/timeouts.json) of every code cell
        that will run (the submission's and the release's, which normalisation may restore), plus WALL_MARGIN."""
        import nbformat

        from .limits import wall_backstop_seconds

        table = timeouts if timeouts is not None else self.timeouts()
        total = 0.0
        for path in sorted(staged.glob("*.ipynb")):
            for source in (path, None):
                try:
                    nb = (nbformat.read(path, as_version=4) if source is not None
                          else self.release_notebook(staged.name, path.name))
                except Exception:  # noqa: BLE001 - staging replaced what cannot be read; be generous anyway
                    continue
                for cell in nb.cells:
                    if cell.get("cell_type") == "code":
                        total += wall_backstop_seconds(cell, table)
        return total + self.WALL_MARGIN

    def _stage(self, student: str, assignment: str, staging_root: Path) -> Path:
        """One submission copied into staging_root/<student>/<assignment> (``staging.stage``)."""
        from .staging import stage

        return stage(self, student, assignment, staging_root)

    def _require_graded(self, student: str, assignment: str, db_url: str | None) -> tuple[float, float]:
        """The gradebook, not nbgrader's log, says whether the submission was graded: every notebook's test cells
        have an automatic score."""
        import warnings

        from nbgrader.api import Gradebook, MissingEntry

        warnings.filterwarnings("ignore", module="nbgrader.api")
        with Gradebook(db_url or self.db_url) as gb:
            try:
                submission = gb.find_submission(assignment, student)
            except MissingEntry:
                raise NbgraderError(f"nbgrader left no grades for {student}/{assignment}") from None
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    if grade.auto_score is None and not grade.needs_manual_grade:
                        raise NbgraderError(f"{student}/{assignment}: cell {grade.name} has no automatic score")
            return float(submission.score), float(submission.max_score)

    def _merge(self, results, worker_url: str) -> None:
        """Copy these graded submissions from a worker's gradebook into the course gradebook, every field of each
        replaced (coursekit.course.gradebook), so a rerun leaves nothing of an earlier one."""
        from .gradebook import merge_submission

        for r in results:
            merge_submission(worker_url, self.db_url, r.assignment, r.student)

    # -------------------------------------------------------------------------------- feedback and export
    def feedback(self, assignment: str, student: str) -> Path:
        """HTML feedback for one graded submission, in feedback/<student>/<assignment>/. Generated from
        autograded/ (written by nbgrader alone), never from what a kernel touched, always through the feedback
        pipeline of ``config.PREPROCESSORS`` (``feedback.HideTestCode``: hidden tests stay hidden), in a stock
        nbgrader course as in coursekit's. nbgrader's GenerateFeedback runs in this process: its start-up was
        most of the command's time, and nothing of the student's runs here (converting a graded notebook to HTML
        executes nothing)."""
        import copy
        import logging

        from nbgrader.converters import GenerateFeedback
        from nbgrader.converters.base import NbGraderException
        from nbgrader.coursedir import CourseDirectory
        from traitlets.config import Config

        from .config import PREPROCESSORS, page_settings

        self.check_config()
        config = copy.deepcopy(self.config)
        config.merge(Config({"CourseDirectory": {"root": str(self.course),
                                                 "autograded_directory": str(self.autograded_dir),
                                                 "feedback_directory": str(self.feedback_dir)}}))
        # one source for the feedback pipeline (config.PREPROCESSORS, with feedback.HideTestCode), whatever the
        # course's own file says: hidden tests stay hidden in a stock nbgrader course as in coursekit's
        config.GenerateFeedback.preprocessors = list(PREPROCESSORS["GenerateFeedback.preprocessors"])
        # and one source for how the page is written (FeedbackExporter: offline MathJax beside it, verdicts that
        # wrap), which a stock course's config file does not set
        for name, value in page_settings().items():
            section, trait = name.split(".")
            if section in ("GenerateFeedback", "FeedbackExporter"):
                config[section][trait] = value
        coursedir = CourseDirectory(config=config)
        coursedir.assignment_id, coursedir.student_id = assignment, student
        log = logging.getLogger("coursekit.feedback")
        log.propagate = False
        if not log.filters:
            # nbconvert's HTMLExporter configures display_data_priority for every NbConvertBase; nbgrader's
            # preprocessors have that trait unconfigurable, and traitlets warns about it on every run
            log.addFilter(_DropMessages("display_data_priority"))
        converter = GenerateFeedback(coursedir=coursedir, config=config, log=log)
        converter.force = True
        try:
            converter.start()
        except NbGraderException as exc:
            raise NbgraderError(f"nbgrader generate_feedback {assignment} --student {student} failed: "
                                f"{exc or 'see the messages above'}") from None
        return self.feedback_dir / student / assignment

    def export(self, path: Path | None = None) -> Path:
        """Write the grades in nbgrader's CSV export format (grades.csv in the course directory by default), with
        nbgrader's own CsvExportPlugin run in this process (nbgrader's start-up was most of the time)."""
        import warnings

        from nbgrader.api import Gradebook
        from nbgrader.plugins import CsvExportPlugin

        path = Path(path) if path else self.course / "grades.csv"
        warnings.filterwarnings("ignore", module="nbgrader.api")
        partial = path.with_name(path.name + ".partial")
        with Gradebook(self.db_url) as gb:
            CsvExportPlugin(to=str(partial)).export(gb)
        os.replace(partial, path)
        return path


class _DropMessages:
    """A logging filter dropping the records whose message contains a text."""

    def __init__(self, text: str):
        self.text = text

    def filter(self, record) -> bool:
        return self.text not in record.getMessage()


def load_nbgrader_config(course_dir: Path):
    """The configuration nbgrader loads when it runs in course_dir: the nbgrader_config.py files of Jupyter's
    configuration path (lowest priority first), then the course's own. Raises NbgraderError when one fails to
    load: nbgrader would carry on with its defaults, unsandboxed."""
    from jupyter_core.paths import jupyter_config_path
    from traitlets.config import Config
    from traitlets.config.loader import ConfigFileNotFound, PyFileConfigLoader

    config = Config()
    for folder in [*reversed(jupyter_config_path()), str(course_dir)]:
        try:
            config.merge(PyFileConfigLoader("nbgrader_config.py", path=folder).load_config())
        except ConfigFileNotFound:
            continue
        except Exception as exc:  # noqa: BLE001 - any failure means nbgrader would run unconfigured
            raise NbgraderError(f"{Path(folder) / 'nbgrader_config.py'} failed to load: "
                                f"{type(exc).__name__}: {exc}") from exc
    return config


def _grade_ids(nb) -> list[str]:
    return [c.metadata["nbgrader"]["grade_id"] for c in nb.cells if c.get("metadata", {}).get("nbgrader", {}).get(
        "grade_id")]


class Progress:
    """[k/n], what each submission scored, and when the rest will be done, as each submission finishes: a tqdm bar
    on a terminal, one line per submission everywhere (a CI log, a pipe)."""

    def __init__(self, total: int, print_line=print):
        self.total, self.print_line, self.finished, self.started = total, print_line, 0, time.perf_counter()
        self._lock = threading.Lock()
        self.bar = None
        if print_line is not None and total and sys.stdout.isatty():
            try:
                from tqdm import tqdm

                self.bar = tqdm(total=total, unit="submission", dynamic_ncols=True, leave=False)
            except ImportError:
                self.bar = None

    def done(self, result: GradingResult) -> None:
        if self.print_line is None:
            return
        with self._lock:
            self.finished += 1
            elapsed = time.perf_counter() - self.started
            left = self.total - self.finished
            eta = f"{_duration(elapsed / self.finished * left)} left" if left else "done"
            if result.ok:
                score = (f"{result.score:g} / {result.max_score:g}" if result.score is not None else "graded")
            else:
                score = "GRADER ERROR"
            width = len(str(self.total))
            line = (f"   [{self.finished:>{width}}/{self.total}] {result.assignment:<20} {result.student:<22} "
                    f"{score:>12}  {result.seconds:5.0f} s   {eta}")
            if self.bar is not None:
                self.bar.write(line)
                self.bar.update(1)
                if not left:
                    self.bar.close()
            else:
                self.print_line(line)


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


def sqlite_path(db_url: str) -> Path | None:
    """The file of an SQLite database URL (sqlite:///PATH); None for any other database."""
    prefix = "sqlite:///"
    return Path(db_url[len(prefix):]) if db_url.startswith(prefix) else None


def _quiet_gradebook(db_url: str):
    import warnings

    from nbgrader.api import Gradebook

    warnings.filterwarnings("ignore", module="nbgrader.api")  # SQLAlchemy chatter about lazy relationships
    return Gradebook(db_url)


def _die_with_parent() -> None:
    """In the nbgrader child before exec: on Linux, ask for SIGKILL when the process that started it dies, so a Dask
    worker (or an instructor's grading run) killed mid-grade leaves no nbgrader behind; its sandboxed kernel follows
    through bubblewrap's --die-with-parent. Elsewhere a no-op."""
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        except (OSError, AttributeError):
            pass


def warn_if_oversubscribed(jobs: int, progress=print) -> bool:
    """Say so when the machine already runs more than it has cores: limits are in CPU seconds, so grades do not
    change, but grading takes longer. Returns whether it warned."""
    from ..threads import usable_cores

    cores = usable_cores()
    try:
        load = os.getloadavg()[0]
    except OSError:
        return False
    if load > cores:
        message = (f"   warning: the machine is oversubscribed (load {load:.1f} on {cores} cores) before grading "
                   f"{jobs} submission(s) at a time; scores are unaffected (limits are CPU seconds), time is not")
        (progress or print)(message)
        return True
    return False


def read_grades(path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def grade_table(rows: list[dict], results: list[GradingResult] | None = None, submitted=None) -> str:
    """A readable table: one line per student, one column per assignment (score / max).

    submitted: the (student, assignment) pairs that exist; nbgrader's export lists every student under every
    assignment, with 0 where nothing was handed in, which the table shows as "-" instead.
    """
    assignments = sorted({r["assignment"] for r in rows})
    students = sorted({r["student_id"] for r in rows})
    score = {(r["student_id"], r["assignment"]): (float(r["score"]), float(r["max_score"])) for r in rows}
    failed = {(r.student, r.assignment) for r in results or [] if not r.ok}
    width = max([len("student")] + [len(s) for s in students])
    cols = [max(len(a), 13) for a in assignments]
    lines = [f"{'student':<{width}}  " + "  ".join(f"{a:>{w}}" for a, w in zip(assignments, cols)) + "    total"]
    lines.append("-" * len(lines[0]))
    for student in students:
        cells, total, out_of = [], 0.0, 0.0
        for a, w in zip(assignments, cols):
            if (student, a) in failed:
                cells.append(f"{'grader error':>{w}}")
            elif submitted is not None and (student, a) not in submitted:
                cells.append(f"{'-':>{w}}")
            elif (student, a) in score:
                s, m = score[(student, a)]
                total, out_of = total + s, out_of + m
                cells.append(f"{s:>{w - 6}g} / {m:<3g}")
            else:
                cells.append(f"{'-':>{w}}")
        lines.append(f"{student:<{width}}  " + "  ".join(cells) + f"    {total:g} / {out_of:g}")
    return "\n".join(lines)
