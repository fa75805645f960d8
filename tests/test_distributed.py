"""Autograding on a Dask cluster (coursekit.course.distributed): a local cluster of two worker processes, one of
them killed while it grades; every submission must still be graded exactly once, into a gradebook equal to a
serial run's."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
import tiny_course as tiny
from tiny_course import build, database_rows, grade

from coursekit.course.distributed import autograde_distributed, parse_cluster

distributed = pytest.importorskip("distributed")


def test_cluster_specs_are_checked():
    assert parse_cluster("local:3") == 3
    for bad in ("local", "local:0", "slurm:4", "local:x"):
        with pytest.raises(ValueError, match="local:N"):
            parse_cluster(bad)


def test_a_scheduler_is_reached_by_address_or_by_its_scheduler_file(tmp_path):
    import json

    from coursekit.course.distributed import close, connect

    with distributed.LocalCluster(n_workers=0, processes=False, dashboard_address=None) as cluster:
        (tmp_path / "scheduler.json").write_text(json.dumps({"address": cluster.scheduler_address}))
        for how in (cluster.scheduler_address, str(tmp_path / "scheduler.json")):
            client = connect(scheduler=how)
            assert client.scheduler.address == cluster.scheduler_address
            close(client)
    with pytest.raises(ValueError, match="exactly one"):
        connect(scheduler="tcp://localhost:8786", cluster="local:2")


def _kill_a_busy_worker(client, timeout=60.0):
    """SIGKILL the process of the first worker seen grading; returns (its address, the task it was running)."""
    pids = client.run(os.getpid)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for address, keys in client.processing().items():
            if keys:
                time.sleep(1.0)  # into the task: staging done, nbgrader started
                os.kill(pids[address], signal.SIGKILL)
                return address, keys[0]
        time.sleep(0.05)
    raise AssertionError("no worker started grading")


@pytest.mark.slow
def test_a_worker_killed_mid_grade_loses_no_grade_and_counts_none_twice(tmp_path):
    import threading

    serial = grade(build(tmp_path / "serial"), jobs=1)
    course = build(tmp_path / "dask")
    pairs = course.submissions()
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    killed = {}
    try:
        with distributed.Client(cluster) as client:
            client.wait_for_workers(2)
            killer = threading.Thread(target=lambda: killed.update(zip(("address", "key"),
                                                                       _kill_a_busy_worker(client))))
            killer.start()
            results = autograde_distributed(course, pairs, client=client, progress=None)
            killer.join()
            # the scheduler's log of the killed task: (who, key, from, to, ...) per transition
            story = client.story(killed["key"])
    finally:
        cluster.close()

    assert killed, "the killer thread did not kill a worker"
    assert [(r.student, r.assignment) for r in results] == pairs
    assert all(r.ok for r in results), [r.detail for r in results if not r.ok]
    graded_by = {r.student: r.worker for r in results}
    killed_student = next(s for s, a in pairs if f"-{a}-{s}-" in str(killed["key"]))
    assert graded_by[killed_student] != killed["address"]
    # it was sent to a worker twice: once to the one killed, once more after the scheduler lost that worker
    assert sum(1 for event in story if event[0] == "scheduler" and event[3] == "processing") >= 2
    assert database_rows(course.course / "gradebook.db") == serial
    for student, assignment in pairs:
        assert (course.autograded_dir / student / assignment / f"{tiny.ASSIGNMENT}.ipynb").is_file()
    assert not any((course.course / ".grading-dask").iterdir())


@pytest.mark.skipif(not os.sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_nbgrader_children_die_with_the_process_that_started_them(tmp_path):
    """A killed worker must not leave its nbgrader running: the pipeline starts each nbgrader with
    _die_with_parent, so killing the parent kills the child too."""
    import subprocess
    import sys

    pid_file = tmp_path / "child.pid"
    parent = subprocess.Popen([sys.executable, "-c", (
        "import subprocess, sys\n"
        "from coursekit.course.pipeline import _die_with_parent\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'], "
        "preexec_fn=_die_with_parent)\n"
        f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
        "child.wait()\n")])
    deadline = time.monotonic() + 30
    while not (pid_file.exists() and pid_file.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    child = int(pid_file.read_text())
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        # a killed child that nobody reaped yet is a zombie: gone for our purposes
        try:
            if "State:\tZ" in Path(f"/proc/{child}/status").read_text():
                break
        except FileNotFoundError:  # reaped between the two looks
            break
        time.sleep(0.05)
    else:
        os.kill(child, signal.SIGKILL)
        pytest.fail("the child outlived its killed parent")
