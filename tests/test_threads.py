"""coursekit.threads: thread counts follow the cores a student's machine really offers; only the reproducibility
environment of make lectures / nbval (scripts/execute_lectures.py) fixes them."""

import importlib.util
import os
from pathlib import Path

import pytest

from coursekit import threads

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("execute_lectures", ROOT / "scripts" / "execute_lectures.py")
execute_lectures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(execute_lectures)


def test_a_16_core_machine_gets_16_threads_per_runtime(monkeypatch):
    monkeypatch.setattr(threads, "usable_cores", lambda cgroup_root=None: 16)
    env = threads.thread_env()
    assert all(env[name] == "16" for name in threads.THREAD_COUNT_VARIABLES)
    environ = {}
    threads.apply(environ=environ)
    assert environ["OMP_NUM_THREADS"] == "16" and environ["OMP_WAIT_POLICY"] == "PASSIVE"


def test_the_users_own_thread_count_wins(monkeypatch):
    monkeypatch.setattr(threads, "usable_cores", lambda cgroup_root=None: 16)
    environ = {"OMP_NUM_THREADS": "3"}
    threads.apply(environ=environ)
    assert environ["OMP_NUM_THREADS"] == "3" and environ["MKL_NUM_THREADS"] == "16"


def test_only_the_lecture_environment_fixes_the_count(monkeypatch):
    monkeypatch.setattr(threads, "usable_cores", lambda cgroup_root=None: 16)
    env = execute_lectures.lecture_env({"OMP_NUM_THREADS": "16", "PATH": "/usr/bin"})
    assert env["OMP_NUM_THREADS"] == str(execute_lectures.LECTURE_THREADS) and env["PATH"] == "/usr/bin"


def test_cgroup_quota_caps_the_usable_cores(tmp_path):
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert threads.usable_cores(tmp_path) == min(2, len(os.sched_getaffinity(0)))
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert threads.usable_cores(tmp_path) == len(os.sched_getaffinity(0))


@pytest.mark.slow
def test_the_course_kernel_uses_every_usable_core():
    # the kernel a student's JupyterLab starts, from an environment without thread settings
    pytest.importorskip("torch")
    from jupyter_client.kernelspec import NoSuchKernel
    from jupyter_client.manager import start_new_kernel

    env = {k: v for k, v in os.environ.items()
           if k not in threads.THREAD_COUNT_VARIABLES and k not in threads.WAIT_VARIABLES}
    try:
        manager, client = start_new_kernel(kernel_name="coursekit", startup_timeout=60, env=env)
    except NoSuchKernel:
        pytest.skip("the course kernel is not installed (make install runs: coursekit kernel install)")
    try:
        reply = client.execute_interactive("import torch; n = torch.get_num_threads()",
                                           user_expressions={"n": "n"}, timeout=60)
        got = reply["content"]["user_expressions"]["n"]["data"]["text/plain"]
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    assert int(got) == threads.usable_cores()
