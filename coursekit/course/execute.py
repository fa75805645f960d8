"""Execution: a submission run in a walled-off kernel, cell by cell, within its limits; then judged here.

``ExecuteAndJudge`` takes nbgrader's ``Execute`` place in the autograde stage (``config.PREPROCESSORS``):

1. *Cases*: every test cell with a hidden test (``course/judges/<assignment>.py``) gets its cases, drawn here with a
   seed the kernel cannot derive (``seeds``), written into the kernel's scratch folder (``answers.write_cases``);
   its judge stays in this process.
2. *Kernel*: started in the bubblewrap sandbox (``sandbox``, ``kernel_manager``) on a private scratch folder holding
   a copy of the notebook only, with the assignment's view of coursekit (``package_view``) and its packages
   (``kernel_packages``).
3. *Cells*: each code cell runs as a ``CellRun`` watched four times a second (``_watch``): CPU seconds of the
   kernel's whole process tree against the cell's limit (``limits``), the tree's private memory, the scratch
   folder's size, messages dropped at the socket for their size; the cell's text and display output are counted
   as they arrive (``output``). The first limit a cell hits is recorded in ``CellRun.hits``; over a time or size
   limit the kernel is interrupted (then killed if it ignores that), over memory or disk it is killed, and a dead
   kernel fails the cells that did not run.
4. *Judging*: after the run, each judged test cell's outputs (whatever the kernel printed or displayed there) are
   replaced by the verdict (``verdicts.verdict_outputs``); unjudged test cells are graded the nbgrader way. The
   notebook is made passive (``passive``), and a run record (CPU seconds and limits per cell) is written to the
   course's ``run_records/<student>/<assignment>.json`` for the class report.
"""

from __future__ import annotations

import asyncio
import enum
import json
import os
import shutil
import signal
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat
from traitlets import Bool, Float, Integer, Unicode, default

from ..grading.wire import case_file
from .cells import HIDDEN_REGION, is_test, nbgrader_meta, without_hidden_tests
from .config import COURSE_DIR
from .kernel_manager import MAX_MESSAGE_BYTES
from .limits import (
    CgroupAccount,
    cell_seconds,
    folder_bytes,
    load_timeouts,
    tree_cpu_seconds,
    tree_memory_bytes,
    wall_backstop_seconds,
)
from .normalise import EDITED_KEY, kernel_problem
from .passive import make_passive
from .sandbox import Limits
from .verdicts import EDIT_REPORTED_KEY, VERDICT_KEY, edit_note, edited_zero_output, verdict_outputs

__all__ = ["ExecuteAndJudge", "CellRun", "Limit", "RUN_RECORDS"]

RUN_RECORDS = "run_records"  # in the course directory: one JSON per graded submission (see write_run_record)
FLOOD_FACTOR = 16  # output beyond this many times its limit is a flood: the kernel is interrupted

try:
    from nbgrader.preprocessors import Execute as _Execute
except ImportError:  # pragma: no cover - nbgrader is a course dependency
    _Execute = object


class Limit(str, enum.Enum):
    """The limits a cell can run into (the names the run record and the class report use)."""

    CPU = "cpu"
    MEMORY = "memory"
    DISK = "disk"
    MESSAGE = "message"
    OUTPUT = "output"
    FLOOD = "flood"
    DIED = "died"


@dataclass
class CellRun:
    """One code cell's execution as the executor watches it.

    cpu_limit: the CPU seconds it may use; cpu_used: what the kernel's process tree used since it started;
    text_bytes / display_bytes: output received so far; hits: the limits it ran into, in order;
    interrupted_at: CPU seconds used when the kernel was interrupted for its time limit (the grace starts there).
    """

    index: int
    grade_id: str | None
    cpu_limit: float
    cpu_used: float = 0.0
    wall_seconds: float = 0.0
    text_bytes: int = 0
    display_bytes: int = 0
    hits: list = field(default_factory=list)
    interrupted_at: float | None = None
    cpu_start: float | None = None

    def account(self, cpu_seconds) -> None:
        """Bring cpu_used up to date; cpu_seconds() reads the kernel's total so far."""
        if self.cpu_start is not None:
            try:
                self.cpu_used = max(self.cpu_used, cpu_seconds() - self.cpu_start)
            except OSError:
                pass

    def hit(self, limit: Limit) -> bool:
        """Record that the cell ran into limit; False if it had already."""
        if limit in self.hits:
            return False
        self.hits.append(limit)
        return True

    def has_hit(self, limit: Limit) -> bool:
        return limit in self.hits

    def record(self) -> dict:
        return {"grade_id": self.grade_id, "index": self.index, "cpu_seconds": round(self.cpu_used, 3),
                "wall_seconds": round(self.wall_seconds, 3), "limit": self.hits[0].value if self.hits else None}


def _limit_error(ename: str, message: str):
    return nbformat.v4.new_output("error", ename=ename, evalue=message, traceback=[f"{ename}: {message}"])


def _without_interrupt_errors(outputs) -> list:
    """The outputs without the KeyboardInterrupt our own interrupt caused (its limit error says why instead)."""
    return [o for o in outputs if not (o.get("output_type") == "error" and o.get("ename") == "KeyboardInterrupt")]


def private_hidden_region(source: str) -> str:
    """A judged test cell's source with its hidden region run in a private copy of the notebook's namespace
    (``coursekit.grading.hidden.run_region``): the student's names are visible to it, but no helper it defines
    (a correct implementation included) stays in the kernel for later cells."""
    match = HIDDEN_REGION.search(source)
    if match is None:
        return source
    call = (f"__import__('coursekit.grading.hidden', fromlist=['run_region']).run_region({match.group(0)!r}, "
            "globals())\n")
    return source[:match.start()] + call + source[match.end():]


def _remove_inside(folder: Path, name: str) -> None:
    """Remove folder/name, whatever the kernel made of it (a folder, a file, a link), never following a link."""
    path = folder / name
    try:
        if path.is_symlink() or not path.is_dir():
            path.unlink()
        else:
            shutil.rmtree(path)  # fd-based on Linux: a link inside is removed, not followed
    except FileNotFoundError:
        pass


class ExecuteAndJudge(_Execute):
    """nbgrader's Execute with the kernel walled off and every judged test cell judged in this process (see the
    module docstring for the steps)."""

    # -- where things are
    course_directory = Unicode("", help="The course folder (judges/, grading_secret, timeouts.json); default: "
                               "coursekit's course/.").tag(config=True)
    timeouts_file = Unicode("", help="The per-cell CPU-second table (timeouts.json); empty: default_timeout for "
                            "every cell.").tag(config=True)
    default_timeout = Float(30.0, help="CPU seconds per cell without a timeouts_file.").tag(config=True)
    kernels_side_by_side = Integer(1, help="Kernels graded at once on this machine: each gets a share of the cores "
                                   "for its numerical libraries' threads.").tag(config=True)
    student_override = Unicode("", help="Seed the hidden tests as this student (coursekit check)").tag(config=True)
    require_sandbox = Bool(True, help="Refuse to run without bubblewrap (coursekit check, on a student's machine, "
                           "and --no-sandbox run without one)").tag(config=True)
    edited_test_scores_zero = Bool(False, help="An edited test cell scores 0 (default: it runs as the instructor "
                                   "wrote it and keeps what it earns).").tag(config=True)
    # -- limits watched from here
    max_output_bytes = Integer(1 << 20, help="Text output (streams, errors, text/plain) kept per cell; beyond it "
                               "the kernel is interrupted.").tag(config=True)
    max_display_bytes = Integer(16 << 20, help="Rich display data (every mimetype but text/plain: images, HTML, "
                                "...) kept per cell; beyond it the kernel is interrupted.").tag(config=True)
    max_message_bytes = Integer(MAX_MESSAGE_BYTES, help="The largest message accepted from the kernel (dropped at "
                                "the socket beyond it).").tag(config=True)
    scratch_bytes = Integer(512 << 20, help="Disk the kernel may fill in its scratch folder.").tag(config=True)
    tree_memory_bytes = Integer(8 << 30, help="Private memory the kernel's whole process tree may hold (checked 4 "
                                "times a second); beyond it the kernel is killed.").tag(config=True)
    cpu_grace = Float(5.0, help="CPU seconds after an interrupt before the kernel is killed.").tag(config=True)
    # -- limits set where the kernel starts (coursekit.course.sandbox.Limits)
    memory_bytes = Integer(Limits.memory_bytes, help="Address space of each process of the kernel.").tag(config=True)
    max_processes = Integer(Limits.processes, help="Processes and threads the sandbox may hold.").tag(config=True)
    max_file_bytes = Integer(Limits.file_bytes, help="Largest file the kernel may write.").tag(config=True)
    tmp_bytes = Integer(Limits.tmp_bytes, help="Size of the kernel's /tmp.").tag(config=True)

    _scratch: Path | None = None
    _run: CellRun | None = None

    # ------------------------------------------------------------------------------------------ limits
    @property
    def course_dir(self) -> Path:
        return Path(self.course_directory) if self.course_directory else COURSE_DIR

    @property
    def timeout_table(self) -> dict:
        table = getattr(self, "_timeout_table", None)
        if table is None:
            table = self._timeout_table = load_timeouts(self.timeouts_file or None, self.default_timeout)
        return table

    @default("timeout_func")
    def _wall_backstop_by_default(self):
        return self.wall_backstop

    def wall_backstop(self, cell) -> int:
        """nbclient's timeout_func: the cell's wall-clock backstop (its CPU limit is watched in ``_watch``)."""
        return wall_backstop_seconds(cell, self.timeout_table)

    def sandbox_limits(self) -> Limits:
        return Limits(memory_bytes=self.memory_bytes, processes=self.max_processes, file_bytes=self.max_file_bytes,
                      tmp_bytes=self.tmp_bytes)

    # ------------------------------------------------------------------------------------------ output
    def output(self, outs, msg, display_id, cell_index):
        run = self._run if self._run is not None and self._run.index == cell_index else None
        if run is None:
            return super().output(outs, msg, display_id, cell_index)
        content = msg.get("content", {})
        size = len(json.dumps(content, default=str))
        data = content.get("data") if isinstance(content, dict) else None
        rich = sum(len(json.dumps(v, default=str)) for k, v in data.items() if k != "text/plain") \
            if isinstance(data, dict) else 0
        run.text_bytes += size - rich
        run.display_bytes += rich
        over = [(what, limit) for what, used, limit in (
            ("text output", run.text_bytes, self.max_output_bytes),
            ("display data", run.display_bytes, self.max_display_bytes)) if used > limit]
        if not over:
            return super().output(outs, msg, display_id, cell_index)
        what, limit = over[0]
        if run.hit(Limit.OUTPUT):
            # cut, not stopped: a left-over debug print must not cost the answers, which travel as files
            outs.append(nbformat.v4.new_output(
                "stream", name="stdout", text=f"\n[coursekit: {what} limit of {limit:,} bytes reached; further output "
                "of this cell was dropped, the cell kept running]\n"))
            self.log.warning("Output limit reached in cell %s; dropping its further output", cell_index)
        flooding = run.text_bytes > FLOOD_FACTOR * self.max_output_bytes or \
            run.display_bytes > FLOOD_FACTOR * self.max_display_bytes
        if flooding and run.hit(Limit.FLOOD):
            outs.append(nbformat.v4.new_output(
                "stream", name="stdout", text=f"\n[coursekit: this cell sent more than {FLOOD_FACTOR} times its "
                f"{what} limit; the kernel was interrupted]\n"))
            self.log.warning("Cell %s floods its output; interrupting the kernel", cell_index)
            asyncio.ensure_future(self._interrupt())
        return None

    # ------------------------------------------------------------------------------------------ the watch
    def _kernel_pid(self):
        provisioner = getattr(self.km, "provisioner", None)
        process = getattr(provisioner, "process", None)
        return getattr(process, "pid", None)

    def _cpu_seconds(self) -> float:
        """CPU seconds the kernel and everything it ever started have used: its cgroup's count where it has one,
        else the live process tree's from /proc (which misses children that exit between two polls)."""
        account = getattr(self, "_cgroup", None)
        if account is not None:
            if not getattr(self, "_cgroup_joined", False):
                self._cgroup_joined = True
                if not self.km_sandboxed and (pid := self._kernel_pid()) is not None:
                    try:  # without the sandbox the wrapper did not put the kernel in; from here on it is
                        account.add(pid)
                    except OSError:
                        pass
            return account.cpu_seconds()
        pid = self._kernel_pid()
        return tree_cpu_seconds(pid) if pid is not None else 0.0

    @property
    def km_sandboxed(self) -> bool:
        return bool(getattr(self.kernel_manager_class, "sandboxed", False))

    async def _interrupt(self) -> None:
        try:
            await self.km.interrupt_kernel()
        except Exception:  # noqa: BLE001 - a kernel that is already gone
            pass

    def _dropped_channels(self) -> list:
        dropped = getattr(self.kc, "dropped", None)
        return dropped() if dropped is not None else []

    async def _watch(self, run: CellRun) -> None:
        """Four times a second until the cell ends: account for the kernel's process tree, act on a limit."""
        pid = self._kernel_pid()
        if pid is None:
            return
        run.cpu_start = self._cpu_seconds()
        self._dropped_channels()  # disconnections from before this cell are not its doing
        while True:
            await asyncio.sleep(0.25)
            run.account(self._cpu_seconds)
            lost = self._dropped_channels()
            if lost and not await self._alive():
                lost = []  # a kernel that died drops its connections too: nbclient reports that one
            for channel in set(lost):
                self.kc.reconnect(channel)
            if lost and run.hit(Limit.MESSAGE):
                # a message over the size limit was dropped at the socket: the cell cannot be judged on what
                # arrived, so it stops here like one over its output limit
                self.log.warning("Cell %s sent a message over %s bytes: interrupting", run.index,
                                 self.max_message_bytes)
                await self._interrupt()
            if tree_memory_bytes(pid) > self.tree_memory_bytes and run.hit(Limit.MEMORY):
                self.log.warning("The kernel's processes hold more than %s bytes together: killed",
                                 self.tree_memory_bytes)
                self._kill_kernel(pid)
                return
            if self._scratch and folder_bytes(self._scratch) > self.scratch_bytes and run.hit(Limit.DISK):
                self.log.warning("The kernel filled its scratch folder beyond %s bytes: killed", self.scratch_bytes)
                self._kill_kernel(pid)
                return
            if run.interrupted_at is None and run.cpu_used > run.cpu_limit:
                run.hit(Limit.CPU)
                run.interrupted_at = run.cpu_used
                self.log.warning("Cell %s used more than %s CPU seconds: interrupting", run.index, run.cpu_limit)
                await self._interrupt()
            elif run.interrupted_at is not None and run.cpu_used > run.interrupted_at + self.cpu_grace:
                self.log.warning("The kernel ignored the interrupt: killed")
                self._kill_kernel(pid)
                return

    async def _alive(self) -> bool:
        try:
            return bool(await self.km.is_alive())
        except Exception:  # noqa: BLE001
            return False

    async def _resync_iopub(self, attempts: int = 30) -> bool:
        """After a dropped message the output channel reconnects, and what the kernel published meanwhile is lost
        (the next cell's "idle" with it): wait until a kernel_info request's status arrives on it again."""
        import inspect
        from queue import Empty

        for _ in range(attempts):
            try:
                msg_id = self.kc.kernel_info()
                if inspect.isawaitable(msg_id):
                    msg_id = await msg_id
            except Exception:  # noqa: BLE001 - a kernel that is already gone
                return False
            deadline = time.monotonic() + 1.0
            while (left := deadline - time.monotonic()) > 0:
                try:
                    msg = await self.kc.iopub_channel.get_msg(timeout=left)
                except (Empty, asyncio.TimeoutError):
                    break
                if msg.get("parent_header", {}).get("msg_id") == msg_id:
                    return True
            for channel in set(self._dropped_channels()):
                self.kc.reconnect(channel)
        return False

    @staticmethod
    def _kill_kernel(pid):
        if pid is None:
            return
        try:
            os.kill(pid, signal.SIGKILL)  # bwrap: everything in its PID namespace dies with it
        except OSError:
            pass

    # ------------------------------------------------------------------------------------------ one cell
    async def async_execute_cell(self, cell, cell_index, execution_count=None, store_history=True):
        if cell.cell_type != "code" or not cell.source.strip():
            return await super().async_execute_cell(cell, cell_index, execution_count, store_history)
        from nbclient.exceptions import CellTimeoutError

        run = CellRun(cell_index, nbgrader_meta(cell).get("grade_id"), cell_seconds(cell, self.timeout_table))
        self._run = run
        self._runs.append(run)
        judged = run.grade_id in getattr(self, "_judged", {}) and is_test(cell)
        source = cell.source
        if judged:
            self._open_cell(run.grade_id)
            cell.source = private_hidden_region(source)
        started = time.monotonic()
        watcher = asyncio.ensure_future(self._watch(run))
        try:
            return await super().async_execute_cell(cell, cell_index, execution_count, store_history)
        except CellTimeoutError:
            # a dropped oversized message can take the kernel's "idle" with it: the cell then ends here, failed
            lost = self._dropped_channels()
            if not run.has_hit(Limit.MESSAGE) and not (lost and await self._alive()):
                raise
            for channel in set(lost):
                self.kc.reconnect(channel)
            if run.hit(Limit.MESSAGE):
                await self._interrupt()
            return cell
        finally:
            watcher.cancel()
            if judged:
                cell.source = source
                self._seal_cell(run)  # before anything else can run: what is written afterwards never counts
            run.account(self._cpu_seconds)
            run.wall_seconds = time.monotonic() - started
            await self._after_cell(cell, run)

    # ------------------------------------------------------------------------------------------ sealing
    def _open_cell(self, grade_id: str) -> None:
        """Just before a judged test cell runs: its cases (and only its) appear in the kernel's grading area, and
        anything already lying where its answers go (written by earlier code) is removed."""
        from .answers import write_cases

        grading = self._scratch / ".grading"
        for kind in ("answers", "records"):
            _remove_inside(grading / kind, grade_id)
        write_cases(grading, grade_id, self._judged[grade_id][2])
        os.chmod(grading / "cases" / case_file(grade_id), 0o644)

    def _seal_cell(self, run: CellRun) -> None:
        """The moment a judged test cell ends: its answers are read into this process and removed from the kernel's
        reach with its cases, so nothing the kernel does later (a background thread, a hook, a later cell) can
        write or rewrite them."""
        from .answers import read_answers, read_records
        from .judging import CellAnswers

        grading = self._scratch / ".grading"
        n_cases = self._judged[run.grade_id][0]
        self._sealed[run.grade_id] = CellAnswers(read_answers(grading, run.grade_id, n_cases),
                                                 read_records(grading, run.grade_id),
                                                 tuple(limit.value for limit in run.hits))
        for kind in ("answers", "records"):
            _remove_inside(grading / kind, run.grade_id)
        try:
            (grading / "cases" / case_file(run.grade_id)).unlink()
        except OSError:
            pass

    async def _after_cell(self, cell, run: CellRun) -> None:
        """The limit errors a cell gets, once it has ended, for the limits it hit."""
        if run.has_hit(Limit.MESSAGE):
            if await self._alive() and not await self._resync_iopub():
                # the kernel keeps its output channel flooded: nothing it sends can be trusted to arrive
                self.log.warning("The kernel's output channel did not recover: killed")
                self._kill_kernel(self._kernel_pid())
            cell.outputs = _without_interrupt_errors(cell.outputs)
            cell.outputs.append(_limit_error("OutputLimitError", f"this cell sent a message larger than "
                                             f"{self.max_message_bytes:,} bytes, which the grader dropped; the "
                                             "kernel was interrupted"))
        if run.has_hit(Limit.CPU):
            cell.outputs = _without_interrupt_errors(cell.outputs)
            cell.outputs.append(_limit_error("CellTimeoutError",
                                             f"this cell used more than its {run.cpu_limit:g} CPU seconds"))

    # nbclient binds its synchronous wrapper to its own coroutine; rebind it to the one above
    try:
        from nbclient.util import run_sync as _run_sync

        execute_cell = _run_sync(async_execute_cell)
    except ImportError:  # pragma: no cover - nbclient comes with nbconvert
        pass

    # ------------------------------------------------------------------------------------------ the whole run
    def preprocess(self, nb, resources, km=None):
        from nbclient.exceptions import DeadKernelError

        from .kernel_manager import sandbox_kernel_manager
        from .package_view import build_view
        from .sandbox import SandboxSpec, make_scratch

        info = resources.get("nbgrader", {})
        assignment = info.get("assignment", "")
        student = self.student_override or info.get("student", "") or "student"
        if (problem := kernel_problem(nb)) is not None:
            raise ValueError(f"{assignment}/{info.get('notebook', '')}: {problem}")
        for cell in nb.cells:  # only this run's verdicts carry the mark
            cell.get("metadata", {}).pop(VERDICT_KEY, None)
        self._runs: list[CellRun] = []
        self._scratch = make_scratch()
        started = time.monotonic()
        try:
            judged, module = self._prepare_cases(nb, assignment, student)
            self._judged, self._sealed = judged, {}
            # the kernel gets a copy of the notebook (hidden test regions cut: it reads no test before running it)
            # and nothing else handed in beside it
            notebook_copy = self._scratch / f"{Path(info.get('notebook') or 'notebook').name}.ipynb"
            notebook_copy.write_text(nbformat.writes(without_hidden_tests(nb)))
            from ..threads import usable_cores

            self._cgroup, self._cgroup_joined = CgroupAccount.create(f"coursekit-{self._scratch.name}"), False
            if self._cgroup is None and not getattr(ExecuteAndJudge, "_warned_cgroup", False):
                ExecuteAndJudge._warned_cgroup = True
                self.log.warning("No cgroup could be made for the kernel: CPU time is read from /proc, which misses "
                                 "short-lived children (run as root, or with a delegated cgroup, to close that)")
            spec = SandboxSpec(scratch=str(self._scratch), package_view=str(build_view(module.kernel_hides)),
                               cgroup_procs=str(self._cgroup.procs_file) if self._cgroup else None,
                               torch=module.kernel_torch, excludes=list(module.kernel_excludes),
                               packages=module.kernel_packages if module.path is not None else None,
                               threads=max(1, usable_cores() // max(1, self.kernels_side_by_side)),
                               limits=asdict(self.sandbox_limits()))
            manager = sandbox_kernel_manager(require=self.require_sandbox, max_message_bytes=self.max_message_bytes)
            manager.spec = spec
            self.kernel_manager_class = manager
            resources.setdefault("metadata", {})["path"] = str(self._scratch)
            self._run = None
            try:
                nb, resources = super().preprocess(nb, resources, km=km)
            except DeadKernelError as exc:
                died = self._run.index if self._run is not None else 0
                if self._run is not None:
                    self._run.hit(Limit.DIED)
                self.log.warning("The kernel died while running cell %s: %s", died, exc)
                self._fail_unrun_cells(nb, died)
            self._judge(nb, judged)
            make_passive(nb)  # the autograded notebook is rendered in the instructor's browser
        finally:
            if getattr(self, "_cgroup", None) is not None:
                self._cgroup.close()  # and whatever the kernel left running dies with it
                self._cgroup = None
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None
        self.write_run_record(info, student, time.monotonic() - started)
        return nb, resources

    def _prepare_cases(self, nb, assignment: str, student: str):
        """Draw every judged test cell's cases with its secret seed (kept here until the cell runs: ``_open_cell``).
        Returns ({grade_id: (number of cases, judge, cases)}, the assignment's JudgeModule)."""
        import numpy as np

        from .judging import load_judges
        from .seeds import course_secret, seed_for

        module = load_judges(assignment, self.course_dir)
        grading = self._scratch / ".grading"
        for sub in ("cases", "answers", "records"):
            (grading / sub).mkdir(parents=True)
        os.chmod(grading, 0o755)
        os.chmod(grading / "cases", 0o755)
        secret = course_secret(self.course_dir) if module.tests else b""
        judged = {}
        for cell in nb.cells:
            grade_id = nbgrader_meta(cell).get("grade_id")
            if cell.cell_type == "code" and is_test(cell) and grade_id in module.tests:
                rng = np.random.default_rng(seed_for(secret, student, assignment, grade_id))
                cases, judge = module.tests[grade_id](rng)
                if not isinstance(cases, list) or not all(isinstance(c, dict) for c in cases):
                    raise ValueError(f"hidden test {grade_id!r} must return a list of dicts as its cases")
                judged[grade_id] = (len(cases), judge, cases)
        return judged, module

    def _judge(self, nb, judged: dict) -> None:
        from .judging import CellAnswers, Missing, Verdict, call_judge

        cells = {grade_id: self._sealed.get(grade_id) or CellAnswers([Missing] * n_cases, {}, ())
                 for grade_id, (n_cases, _, _) in judged.items()}
        runs = {run.grade_id: run for run in self._runs if run.grade_id in judged}
        for cell in nb.cells:
            grade_id = nbgrader_meta(cell).get("grade_id")
            if grade_id not in judged:
                continue
            judge, sealed = judged[grade_id][1], cells[grade_id]
            try:
                verdict = call_judge(judge, sealed.answers, sealed.records, cells)
            except Exception as exc:  # noqa: BLE001 - an answer of a shape the judge did not foresee
                self.log.error("The judge of %s failed on this submission's answers: %r", grade_id, exc)
                verdict = Verdict(0.0, f"the answers of this cell could not be judged ({type(exc).__name__}): "
                                  "check that your functions return what the task asks for")
            if not isinstance(verdict, Verdict):  # the judge itself is wrong: the instructor must hear of it
                raise TypeError(f"the judge of {grade_id!r} returned {type(verdict).__name__}, not a Verdict")
            note = self._limit_note(runs.get(grade_id))
            if note and verdict.score < 1:
                verdict = Verdict(verdict.score, note + "\n" + verdict.message)
            edited = bool(cell.metadata.pop(EDITED_KEY, False))
            cell.outputs = verdict_outputs(verdict, float(nbgrader_meta(cell).get("points", 0)), edited,
                                           self.edited_test_scores_zero)
            cell.metadata[VERDICT_KEY] = True  # its outputs are the grader's: feedback may show them
            if edited:
                cell.metadata[EDIT_REPORTED_KEY] = True
        for cell in nb.cells:  # unjudged test cells that were edited: the note goes into their output
            if cell.metadata.pop(EDITED_KEY, False):
                cell.setdefault("outputs", []).insert(0, edit_note())
                if self.edited_test_scores_zero:
                    cell.outputs.append(edited_zero_output())
                cell.metadata[EDIT_REPORTED_KEY] = True

    def _limit_note(self, run: CellRun | None) -> str | None:
        """What stopped or cut a judged cell, in words, for the top of its verdict (None: nothing did)."""
        if run is None:
            return "this cell did not run (the kernel had stopped before it)"
        words = {Limit.CPU: f"this cell was interrupted at its limit of {run.cpu_limit:g} CPU seconds",
                 Limit.MEMORY: f"the kernel was killed: its processes held more than {self.tree_memory_bytes:,} "
                               "bytes of memory together",
                 Limit.DISK: f"the kernel was killed: it wrote more than {self.scratch_bytes:,} bytes to disk",
                 Limit.MESSAGE: f"this cell sent a message over {self.max_message_bytes:,} bytes and was interrupted",
                 Limit.OUTPUT: "this cell's output passed its limit and was cut (answers still counted)",
                 Limit.FLOOD: "this cell flooded its output and was interrupted",
                 Limit.DIED: "the kernel stopped while this cell ran (it exited, or was killed at a memory, process "
                             "or disk limit)"}
        found = [words[limit] for limit in run.hits]
        return "; ".join(found) if found else None

    @staticmethod
    def _fail_unrun_cells(nb, died: int) -> None:
        culprit = nb.cells[died] if died < len(nb.cells) else None
        where = (nbgrader_meta(culprit).get("grade_id") or culprit.get("id") or f"#{died}"
                 if culprit is not None else "the last cell")
        message = (f"the kernel stopped while running cell {where} (the code exited the kernel, or it was killed "
                   "for exceeding a memory, process, time or disk limit), so this cell did not run")
        for index, cell in enumerate(nb.cells):
            if index >= died and cell.cell_type == "code":
                cell.setdefault("outputs", []).append(_limit_error("KernelDied", message))

    # ------------------------------------------------------------------------------------------ run record
    def write_run_record(self, info: dict, student: str, wall_seconds: float) -> None:
        """CPU seconds and limits of every cell of this notebook, for the class report: the course's
        run_records/<student>/<assignment>.json (one entry per notebook of the assignment). Written by this
        process only, from what it measured; never read back for a grade."""
        assignment, notebook = info.get("assignment"), info.get("notebook") or "notebook"
        if not assignment or self.student_override or not self.course_directory:
            return  # coursekit check, or a run outside a course
        folder = self.course_dir / RUN_RECORDS / student
        path = folder / f"{assignment}.json"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            try:
                previous = json.loads(path.read_text())
                notebooks = previous.get("notebooks", {}) if isinstance(previous, dict) else {}
            except (OSError, ValueError):
                notebooks = {}
            runs = getattr(self, "_runs", [])
            notebooks[notebook] = {"cpu_seconds": round(sum(r.cpu_used for r in runs), 3),
                                   "wall_seconds": round(wall_seconds, 3),
                                   "cells": [dict(r.record(), notebook=notebook) for r in runs]}
            record = {"format": 1, "assignment": assignment, "student": student,
                      "cpu_seconds": round(sum(n["cpu_seconds"] for n in notebooks.values()), 3),
                      "wall_seconds": round(sum(n["wall_seconds"] for n in notebooks.values()), 3),
                      "cells": [c for n in notebooks.values() for c in n["cells"]], "notebooks": notebooks}
            partial = path.with_name(path.name + ".partial")
            partial.write_text(json.dumps(record, indent=1) + "\n")
            os.replace(partial, path)
        except OSError as exc:  # the record serves the report; grading goes on without it
            self.log.warning("could not write the run record %s: %s", path, exc)
