"""Autograding on a Dask distributed cluster: `coursekit autograde --scheduler tcp://HOST:8786` or
`--cluster local:N`.

One Dask task grades one submission, on whichever worker the scheduler picks, exactly as the local path does
(``Course.grade_one``: the submission staged as regular files, nbgrader in a subprocess, the kernel sandboxed), but
into a gradebook of its own: a copy of a snapshot of the course gradebook, in the task's private temporary folder.
The task returns plain data (``gradebook.dump_submission``: every field of that one submission, JSON-compatible)
and the client, the only writer of the course gradebook, replaces the submission there with it
(``gradebook.load_submission``). So a task that runs twice (its worker died mid-grade and the scheduler ran it
again elsewhere) cannot count a grade twice, and one that never finishes leaves nothing behind.

Where the files live: the workers need the course (the release, nbgrader_config.py, checks/, the submissions) at
the same path as the client, i.e. a shared filesystem, the usual set-up of a SLURM or PBS cluster (home or project
directories mounted everywhere) and trivially true for a local cluster. Workers only read it, except for the
graded notebooks, which a task writes into its own temporary folder and moves into the course's autograded folder
(one folder per student and assignment) after nbgrader has finished; the snapshot of the gradebook is a file in the
course's .grading-dask folder. Workers also need the same Python environment (coursekit, nbgrader, bubblewrap for
the sandbox).

A worker killed while grading takes its nbgrader subprocess with it (Linux: the child asks for SIGKILL when its
parent dies; the sandboxed kernel follows through bubblewrap's --die-with-parent).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import uuid
from dataclasses import asdict
from pathlib import Path

from .config import environment_overrides
from .pipeline import Course, GradingResult, NbgraderError, warn_if_oversubscribed

__all__ = ["autograde_distributed", "close", "connect", "grade_submission", "parse_cluster"]

# a task whose worker dies is run again elsewhere by the scheduler (distributed.scheduler.allowed-failures, 3 by
# default); `retries` also re-runs a task that raised, e.g. a worker whose disk is full
RETRIES = 2
WORKER_WAIT = 600  # seconds to wait for a first worker (a batch system may take a while to start one)


def parse_cluster(spec: str) -> int:
    """The number of worker processes of a `--cluster local:N` spec."""
    kind, _, count = spec.partition(":")
    if kind != "local" or not count.isdigit() or int(count) < 1:
        raise ValueError(f"cluster={spec!r}: expected 'local:N' with N >= 1 worker processes (for a remote cluster "
                         "start a scheduler and pass its address with --scheduler)")
    return int(count)


def connect(scheduler: str | None = None, cluster: str | None = None):
    """A dask.distributed Client: to the scheduler at that address (or named in that JSON scheduler file, as
    `dask scheduler --scheduler-file` writes), or to a new LocalCluster of N single-threaded worker processes for
    cluster='local:N'. Exactly one of the two must be given."""
    if (scheduler is None) == (cluster is None):
        raise ValueError(f"give exactly one of scheduler= (got {scheduler!r}) and cluster= (got {cluster!r})")
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise NbgraderError("distributed grading needs dask.distributed: pip install 'coursekit[course]' "
                            "(or pip install distributed)") from exc
    if scheduler is not None:
        if scheduler.endswith(".json") and Path(scheduler).is_file():
            return Client(scheduler_file=scheduler)
        return Client(scheduler)
    # one thread per worker: each grading task runs a kernel that gets its share of the cores by itself
    local = LocalCluster(n_workers=parse_cluster(cluster), threads_per_worker=1, processes=True,
                         dashboard_address=None)
    return Client(local)


def close(client) -> None:
    """Close a client and, when it made one, its local cluster. Worker processes that are slow to stop on a busy
    machine are killed by their nanny after a few seconds, which is expected here, so its warning is not shown."""
    import logging

    cluster = client.cluster
    nanny_log = logging.getLogger("distributed.nanny")
    level = nanny_log.level
    nanny_log.setLevel(logging.ERROR)
    try:
        client.close()
        if cluster is not None:
            cluster.close()
    finally:
        nanny_log.setLevel(level)


def _threads_per_host(client) -> dict[str, int]:
    """How many tasks may run at once on each host: the kernels there share its cores (COURSEKIT_GRADING_JOBS)."""
    from urllib.parse import urlparse

    per_host: dict[str, int] = {}
    for address, info in client.scheduler_info()["workers"].items():
        host = urlparse(address).hostname
        per_host[host] = per_host.get(host, 0) + int(info.get("nthreads", 1))
    return per_host


def _replace_folder(source: Path, dest: Path) -> None:
    """Put source where dest is, replacing dest; the old dest is moved aside first so dest is never half written."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    old = dest.with_name(f".{dest.name}.old-{uuid.uuid4().hex[:8]}")
    staged = dest.with_name(f".{dest.name}.new-{uuid.uuid4().hex[:8]}")
    shutil.copytree(source, staged, symlinks=True)
    if dest.exists():
        os.rename(dest, old)
    os.rename(staged, dest)
    shutil.rmtree(old, ignore_errors=True)


def grade_submission(root: str, student: str, assignment: str, snapshot: str, timeout: float | None = None,
                     jobs_per_host: dict | None = None, no_sandbox: bool = False) -> dict:
    """The Dask task: grade one submission on this worker into a private copy of the gradebook snapshot and return
    {"result": GradingResult fields, "gradebook": dump_submission(...) or None when grading failed}."""
    from urllib.parse import urlparse

    from ..threads import usable_cores
    from .gradebook import dump_submission

    try:
        from distributed import get_worker

        worker = get_worker().address
    except (ImportError, ValueError):  # called outside a worker (tests, a debugger)
        worker = "local"
    if no_sandbox:
        # the client's --no-sandbox, the same for every task it sends; the worker's nbgrader gets it as a flag
        os.environ["COURSEKIT_NO_SANDBOX"] = "1"
    # a host that joined after the client looked is taken as full: one thread per kernel, never oversubscribed
    jobs = (jobs_per_host or {}).get(urlparse(worker).hostname) or usable_cores()
    course = Course(root)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="coursekit-task-") as tmp:
        tmp = Path(tmp)
        try:
            from .config import environment_overrides
            from .kernel_manager import sandbox_kernel_manager

            # as Course.autograde does: refused without bubblewrap unless the client said --no-sandbox (above)
            sandbox_kernel_manager(require=environment_overrides().get("require_sandbox", True))
        except Exception as exc:  # noqa: BLE001 - SandboxUnavailable and its causes: this worker cannot grade
            result = GradingResult(student, assignment, time.perf_counter() - start, False,
                                   f"worker {worker}: {exc}", worker)
            return {"result": asdict(result), "gradebook": None}
        shutil.copyfile(snapshot, tmp / "gradebook.db")
        db_url = f"sqlite:///{tmp / 'gradebook.db'}"
        result = course.grade_one(student, assignment, tmp / "submitted", db_url, timeout=timeout, jobs=jobs,
                                  worker=worker, autograded=tmp / "autograded")
        dump = None
        if result.ok:
            dump = dump_submission(db_url, assignment, student)
            graded = tmp / "autograded" / student / assignment
            if graded.is_dir():
                _replace_folder(graded, course.autograded_dir / student / assignment)
        return {"result": asdict(result), "gradebook": dump}


def _snapshot(course: Course, folder: Path) -> Path:
    """A consistent copy of the course gradebook (SQLite's online backup, safe while formgrader writes to it)."""
    import sqlite3
    from urllib.parse import unquote

    if not course.db_url.startswith("sqlite:///"):
        raise NbgraderError(f"distributed grading copies the gradebook for each task and supports SQLite gradebooks "
                            f"only; this course's is {course.db_url.split(':', 1)[0]}")
    path = folder / "gradebook.db"
    database = Path(unquote(course.db_url[len("sqlite:///"):]))
    if not database.is_file():
        raise NbgraderError(f"no gradebook at {database}: release the assignments first (coursekit release)")
    source = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    target = sqlite3.connect(path)
    try:
        source.backup(target)
    finally:
        source.close()
        target.close()
    return path


def autograde_distributed(course: Course, pairs, *, client=None, scheduler: str | None = None,
                          cluster: str | None = None, timeout: float | None = None, progress=print,
                          retries: int = RETRIES) -> list[GradingResult]:
    """Autograde every (student, assignment) on a Dask cluster; one result per submission, in input order.

    client: an existing distributed.Client; otherwise one is made from scheduler= (an address such as
    tcp://HOST:8786) or cluster='local:N', and closed at the end. Each graded submission is merged into the course
    gradebook as soon as its task returns. A submission whose task failed on every try (e.g. its workers kept
    dying) comes back with ok=False and the reason; nothing of it reaches the gradebook.
    """
    from distributed import as_completed

    from .gradebook import load_submission

    pairs = list(pairs)
    own_client = client is None
    if own_client:
        client = connect(scheduler, cluster)
    work = course.course / ".grading-dask" / uuid.uuid4().hex
    work.mkdir(parents=True, mode=0o700)
    results: dict = {}
    try:
        snapshot = _snapshot(course, work)
        try:
            client.wait_for_workers(1, timeout=WORKER_WAIT)
        except TimeoutError:
            raise NbgraderError(f"no Dask worker joined the scheduler at {client.scheduler.address} within "
                                f"{WORKER_WAIT} s") from None
        per_host = _threads_per_host(client)
        if progress:
            workers = sum(per_host.values())
            progress(f"   dask: {len(pairs)} submission(s) on {workers} worker thread(s) across {len(per_host)} "
                     f"host(s), scheduler {client.scheduler.address}")
        warn_if_oversubscribed(max(per_host.values(), default=1), progress)
        no_sandbox = environment_overrides().get("require_sandbox", True) is False
        futures = {}
        for student, assignment in pairs:
            future = client.submit(grade_submission, str(course.root), student, assignment, str(snapshot), timeout,
                                   per_host, no_sandbox, key=f"autograde-{assignment}-{student}-{work.name}",
                                   retries=retries, pure=False)
            futures[future] = (student, assignment)
        for future in as_completed(futures):
            student, assignment = futures[future]
            try:
                outcome = future.result()
                result = GradingResult(**outcome["result"])
                if result.ok:
                    load_submission(course.db_url, outcome["gradebook"])
            except Exception as exc:  # noqa: BLE001 - KilledWorker, a lost scheduler: that submission failed
                result = GradingResult(student, assignment, 0.0, False, f"{type(exc).__name__}: {exc}", "")
            results[(student, assignment)] = result
            if progress:
                status = "graded" if result.ok else "FAILED"
                progress(f"   {status:<7} {assignment:<22} {student:<20} {result.seconds:6.1f} s  {result.worker}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if own_client:
            close(client)
    return [results[p] for p in pairs]
