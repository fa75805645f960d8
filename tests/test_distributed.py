"""Autograding on a Dask cluster (coursekit.course.distributed): a local cluster of two worker processes, one of
them killed while it grades; every submission must still be graded exactly once, into a gradebook equal to a
serial run's."""

from __future__ import annotations

import os
import signal
import time

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
