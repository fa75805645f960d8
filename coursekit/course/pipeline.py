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
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Course", "GradingResult", "NbgraderError"]

MAX_NOTEBOOK_BYTES = 32 << 20


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


@dataclass
class Course:
    """A repository laid out as coursekit's: solutions/, assignments/, course/ beside each other."""

    root: Path
    log: list = field(default_factory=list)

    def __post_init__(self):
        self.root = Path(self.root).resolve()
        self.course = self.root / "course"
        if not (self.course / "nbgrader_config.py").is_file():
            raise NbgraderError(f"{self.course / 'nbgrader_config.py'} not found: is {self.root} a coursekit course?")

    # state that grading creates at run time; never part of a copy of the course
    RUN_TIME_STATE = ("gradebook.db", "autograded", "feedback", ".grading", "grades.csv", "__pycache__",
                      "grading_secret", ".ipynb_checkpoints")

    def copy(self, dest) -> Course:
        """A copy of the course (solutions/, assignments/, course/) without its run-time state, e.g. to grade
        scratch runs without touching this one's gradebook."""
        dest = Path(dest)
        for name in ("solutions", "assignments", "course"):
            # links are copied as links: a sample hands in links into the course, which must stay links
            shutil.copytree(self.root / name, dest / name, symlinks=True,
                            ignore=shutil.ignore_patterns(*self.RUN_TIME_STATE))
        return Course(dest)

    # ------------------------------------------------------------------------------------------ running
    def _env(self, db_url: str | None = None, jobs: int | None = None, submitted: Path | None = None) -> dict:
        env = dict(os.environ)
        if jobs is not None:
            # kernels graded side by side must share the cores: OpenMP's and BLAS's default of one thread per
            # core each, spinning while they wait, made two PyTorch trainings 8x slower than one (measured).
            # The kernel's environment is an allow-list built from this (coursekit.course.sandbox.kernel_env).
            env["COURSEKIT_GRADING_JOBS"] = str(jobs)
        if submitted is not None:
            env["COURSEKIT_SUBMITTED_DIR"] = str(submitted)
        # nbgrader runs its own tools (alembic) by name: the interpreter's folder must be on PATH
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        env["PYTHONWARNINGS"] = "ignore"
        env.pop("NBGRADER_EXECUTION", None)
        if db_url:
            env["COURSEKIT_DB_URL"] = db_url
        return env

    def check_config(self) -> None:
        """Load course/nbgrader_config.py here first: nbgrader carries on with its defaults after a config error,
        which would grade with nbgrader's own unsandboxed executor. Raises NbgraderError if it does not load."""
        from traitlets.config import Config

        config = Config()
        try:
            runpy_globals = {"get_config": lambda: config, "__file__": str(self.course / "nbgrader_config.py")}
            exec(compile((self.course / "nbgrader_config.py").read_text(), str(self.course / "nbgrader_config.py"),
                         "exec"), runpy_globals)
        except Exception as exc:  # noqa: BLE001 - any failure means nbgrader would run unconfigured
            raise NbgraderError(f"course/nbgrader_config.py failed to load: {type(exc).__name__}: {exc}") from exc
        if "ExecuteAndJudge" not in str(config.Autograde.get("autograde_preprocessors", "")):
            raise NbgraderError("course/nbgrader_config.py does not grade with ExecuteAndJudge")

    def nbgrader(self, *args: str, db_url: str | None = None, timeout: float | None = None,
                 jobs: int | None = None, submitted: Path | None = None):
        """Run one nbgrader command in the course directory; raise NbgraderError if its exit status says it failed.

        jobs: how many kernels run side by side (they share the cores); submitted: the staging folder of
        sanitised submissions to grade from.
        """
        if not getattr(self, "_config_checked", False):
            self.check_config()
            self._config_checked = True
        cmd = [sys.executable, "-m", "nbgrader", *args]
        try:
            done = subprocess.run(cmd, cwd=self.course, env=self._env(db_url, jobs, submitted), capture_output=True,
                                  text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as exc:
            raise NbgraderError(f"nbgrader {' '.join(args)} took longer than {timeout:.0f} s") from exc
        if done.returncode != 0:
            # shown to the instructor, never interpreted: the last lines of nbgrader's own log
            tail = (done.stdout + done.stderr).strip().splitlines()[-8:]
            raise NbgraderError(f"nbgrader {' '.join(args)} failed (exit {done.returncode}):\n" + "\n".join(tail))
        return done.stdout + done.stderr

    # ------------------------------------------------------------------------------------------ release
    def assignments(self) -> list[str]:
        return sorted(p.name for p in (self.root / "solutions").iterdir()
                      if p.is_dir() and any(p.glob("*.ipynb")))

    def release(self, assignment: str) -> Path:
        """Generate the student version of one assignment into assignments/ (and record it in the gradebook)."""
        self.nbgrader("generate_assignment", assignment, "--create", "--force")
        return self.root / "assignments" / assignment

    def submissions(self) -> list[tuple[str, str]]:
        """(student, assignment) pairs found in course/submitted/."""
        pairs = []
        submitted = self.course / "submitted"
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

        Refuses (SandboxUnavailable) when bubblewrap cannot sandbox the kernels, unless COURSEKIT_NO_SANDBOX=1.
        """
        from .sandbox import sandbox_kernel_manager

        sandbox_kernel_manager(require=True)  # raises with installation advice when the sandbox is missing
        pairs = list(pairs)
        jobs = max(1, min(jobs, len(pairs))) if pairs else 1
        main_db = self.course / "gradebook.db"
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

        queues = [pairs[k::jobs] for k in range(jobs)]
        warn_if_oversubscribed(jobs, progress)

        def run_queue(k):
            results = []
            for student, assignment in queues[k]:
                start = time.perf_counter()
                try:
                    staging = self._stage(student, assignment, work / f"submitted-{k}")
                    limit = timeout if timeout is not None else self.wall_limit(staging / student / assignment)
                    self.nbgrader("autograde", assignment, "--student", student, "--force", db_url=db_urls[k],
                                  timeout=limit, jobs=jobs, submitted=staging)
                    self._require_graded(student, assignment, db_urls[k])
                    result = GradingResult(student, assignment, time.perf_counter() - start, True, worker=k)
                except NbgraderError as exc:
                    result = GradingResult(student, assignment, time.perf_counter() - start, False, str(exc), k)
                if progress:
                    status = "graded" if result.ok else "FAILED"
                    progress(f"   {status:<7} {assignment:<22} {student:<20} {result.seconds:6.1f} s")
                results.append(result)
            return results

        with ThreadPoolExecutor(max_workers=jobs) as pool:
            per_worker = list(pool.map(run_queue, range(jobs)))
        if jobs > 1:
            for k, results in enumerate(per_worker):
                self._merge([r for r in results if r.ok], db_urls[k])
        shutil.rmtree(work)
        by_pair = {(r.student, r.assignment): r for results in per_worker for r in results}
        return [by_pair[p] for p in pairs]

    WALL_MARGIN = 600  # seconds for nbgrader itself: start-up, kernels starting and stopping, the gradebook

    def wall_limit(self, staged: Path, timeouts: dict | None = None) -> float:
        """Wall-clock seconds one staged submission (its folder of notebooks) may take in nbgrader: the sum of the
        per-cell wall-clock backstops (``plugins.wall_backstop``, from course/timeouts.json) of every code cell
        that will run (the submission's and the release's, which normalisation may restore), plus WALL_MARGIN."""
        import nbformat

        from .plugins import load_timeouts, wall_backstop_seconds

        table = timeouts if timeouts is not None else load_timeouts(self.course / "timeouts.json")
        total = 0.0
        for path in sorted(staged.glob("*.ipynb")):
            release = self.root / "assignments" / staged.name / path.name
            for source in (path, release):
                try:
                    nb = nbformat.read(source, as_version=4)
                except Exception:  # noqa: BLE001 - staging replaced what cannot be read; be generous anyway
                    continue
                for cell in nb.cells:
                    if cell.get("cell_type") == "code":
                        total += wall_backstop_seconds(cell, table)
        return total + self.WALL_MARGIN

    def _stage(self, student: str, assignment: str, staging_root: Path) -> Path:
        """Copy one submission into staging_root/<student>/<assignment>: only the notebooks the release has (and
        nbgrader's timestamp.txt), only regular files with a single link, read without following any link, size
        bounded. Anything else handed in (links, other files, hard links to other files) is left behind; a notebook
        that cannot be read that way is replaced by the release with a note saying why (so it scores 0, with a
        reason, instead of failing the grader)."""
        dest = staging_root / student / assignment
        if dest.exists():
            shutil.rmtree(dest)
        dest.mkdir(parents=True)
        notebooks = sorted(p.name for p in (self.root / "assignments" / assignment).glob("*.ipynb"))
        fd = None
        try:
            fd = os.open(self.course / "submitted", os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
            for part in (student, assignment):
                inner = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
                os.close(fd)
                fd = inner
        except OSError:
            if fd is not None:
                os.close(fd)
            fd = None
        if fd is not None:
            self._copy_regular(fd, [*notebooks, "timestamp.txt"], dest)
        for name in notebooks:
            if not (dest / name).is_file():
                self._stage_unreadable(assignment, name, dest)
            elif (problem := notebook_problem(dest / name)) is not None:
                self._stage_unreadable(assignment, name, dest, problem)
        return staging_root

    def _stage_unreadable(self, assignment: str, name: str, dest: Path, problem: str | None = None) -> None:
        """In place of a notebook that was not handed in as a plain file, or is not a notebook nbformat can read:
        the release, saying why it scores 0."""
        import nbformat

        release = nbformat.read(self.root / "assignments" / assignment / name, as_version=4)
        if problem is None:
            text = (f"**{name} was not handed in as a regular file** (missing, a link, a folder, or too large), so "
                    "the grader could not read it; this is the released notebook, unanswered.")
        else:
            text = (f"**{name} is not a valid notebook** ({problem}), so the grader could not read it; this is the "
                    "released notebook, unanswered.")
        note = nbformat.v4.new_markdown_cell(text)
        note["id"] = "coursekit-unreadable-notice"
        release.cells.insert(0, note)
        nbformat.write(release, dest / name)

    @staticmethod
    def _copy_regular(fd: int, names, dest: Path) -> None:
        """Copy the named regular, single-link, size-bounded files of the folder fd into dest; skip the rest."""
        import stat

        try:
            for name in names:
                try:
                    src = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=fd)
                except OSError:
                    continue
                info = os.fstat(src)
                if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1 or info.st_size > MAX_NOTEBOOK_BYTES:
                    os.close(src)
                    continue
                with os.fdopen(src, "rb") as f:
                    (dest / name).write_bytes(f.read(MAX_NOTEBOOK_BYTES + 1)[:MAX_NOTEBOOK_BYTES])
        finally:
            os.close(fd)

    def _require_graded(self, student: str, assignment: str, db_url: str | None) -> None:
        """The gradebook, not nbgrader's log, says whether the submission was graded: every notebook's test cells
        have an automatic score."""
        import warnings

        from nbgrader.api import Gradebook, MissingEntry

        warnings.filterwarnings("ignore", module="nbgrader.api")
        with Gradebook(db_url or f"sqlite:///{self.course / 'gradebook.db'}") as gb:
            try:
                submission = gb.find_submission(assignment, student)
            except MissingEntry:
                raise NbgraderError(f"nbgrader left no grades for {student}/{assignment}") from None
            for notebook in submission.notebooks:
                for grade in notebook.grades:
                    if grade.auto_score is None and not grade.needs_manual_grade:
                        raise NbgraderError(f"{student}/{assignment}: cell {grade.name} has no automatic score")

    def _merge(self, results, worker_url: str) -> None:
        """Copy the grades of these submissions from a worker's gradebook into the course gradebook."""
        import warnings

        from nbgrader.api import Gradebook

        warnings.filterwarnings("ignore", module="nbgrader.api")  # SQLAlchemy chatter about lazy relationships
        main_url = f"sqlite:///{self.course / 'gradebook.db'}"
        with Gradebook(worker_url) as worker, Gradebook(main_url) as main:
            for r in results:
                theirs = worker.find_submission(r.assignment, r.student)
                main.update_or_create_student(r.student)
                main.update_or_create_submission(r.assignment, r.student, timestamp=theirs.timestamp)
                for nb in theirs.notebooks:
                    mine = main.find_submission_notebook(nb.name, r.assignment, r.student)
                    mine.flagged = nb.flagged
                    for grade in nb.grades:
                        target = main.find_grade(grade.name, nb.name, r.assignment, r.student)
                        target.auto_score = grade.auto_score
                        target.manual_score = grade.manual_score
                        target.extra_credit = grade.extra_credit
                        target.needs_manual_grade = grade.needs_manual_grade
                    for comment in nb.comments:
                        target = main.find_comment(comment.name, nb.name, r.assignment, r.student)
                        target.auto_comment = comment.auto_comment
                        target.manual_comment = comment.manual_comment
            main.db.commit()

    # -------------------------------------------------------------------------------- feedback and export
    def feedback(self, assignment: str, student: str) -> Path:
        # feedback is generated from autograded/ (written by nbgrader alone), never from what a kernel touched
        self.nbgrader("generate_feedback", assignment, "--student", student, "--force")
        return self.course / "feedback" / student / assignment

    def export(self, path: Path | None = None) -> Path:
        """Write the grades in nbgrader's CSV export format (course/grades.csv by default)."""
        path = Path(path) if path else self.course / "grades.csv"
        self.nbgrader("export", "--to", str(path))
        return path


def notebook_problem(path: Path) -> str | None:
    """Why nbgrader could not read the notebook at path (truncated or not JSON, not a notebook, invalid against
    the nbformat schema), in a few words; None when it reads. A notebook that only needs nbformat's own repairs
    (e.g. missing cell ids) is repaired in place."""
    import json

    import nbformat
    from nbformat.validator import ValidationError

    try:
        text = path.read_text(encoding="utf-8")
        nb = nbformat.reads(text, as_version=4)
    except (UnicodeDecodeError, json.JSONDecodeError, nbformat.reader.NotJSONError):
        return "it is not complete, well-formed JSON"
    except Exception as exc:  # noqa: BLE001 - nbformat's many ways of saying "not a notebook"
        return f"nbformat cannot read it: {type(exc).__name__}"
    try:
        nbformat.validate(nb)
    except ValidationError:
        try:
            _, repaired = nbformat.validator.normalize(json.loads(json.dumps(nb)), strip_invalid_metadata=True)
            repaired = nbformat.from_dict(repaired)
            nbformat.validate(repaired)
            nbformat.write(repaired, path)
        except Exception:  # noqa: BLE001 - still invalid after repair
            return "it does not follow the notebook format"
    except Exception as exc:  # noqa: BLE001
        return f"it does not follow the notebook format ({type(exc).__name__})"
    return None


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
