"""The autograder's kernel sandbox, probed directly: what student code can see, reach and use."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from coursekit.course import sandbox

ROOT = Path(__file__).resolve().parents[1]
needs_bwrap = pytest.mark.skipif(not sandbox.available(), reason="bubblewrap cannot sandbox here")

PROBE = r"""
import json, os, socket, sys
from pathlib import Path
report = {"uid": os.getuid(), "cwd": os.getcwd(), "env": sorted(k for k in os.environ if "NBGRADER" in k)}
report["solutions"] = Path(sys.argv[1], "solutions").exists()
report["gradebook_dir"] = Path(sys.argv[1], "course").exists()
report["home"] = sorted(p.name for p in Path.home().iterdir()) if Path.home().exists() else []
try:
    socket.create_connection(("1.1.1.1", 53), timeout=2)
    report["network"] = True
except OSError:
    report["network"] = False
try:
    Path(sys.argv[1], "written_by_student").write_text("x")
    report["wrote_outside"] = True
except OSError:
    report["wrote_outside"] = False
Path("inside.txt").write_text("mine")
pids = []
try:
    while len(pids) < 500:
        pid = os.fork()
        if pid == 0:
            import time
            time.sleep(20)
            os._exit(0)
        pids.append(pid)
except OSError:
    pass
report["forks"] = len(pids)
try:
    hoard = bytearray(3 << 30)
    report["memory_3g"] = True
except MemoryError:
    report["memory_3g"] = False
print("REPORT " + json.dumps(report))
"""


@needs_bwrap
def test_student_code_is_confined(tmp_path):
    env = dict(os.environ, COURSEKIT_MAX_PROCESSES="32", COURSEKIT_MEMORY_BYTES=str(2 << 30),
               NBGRADER_EXECUTION="autograde")
    done = subprocess.run([sys.executable, "-m", "coursekit.course.sandbox", "run", "--", sys.executable, "-c",
                           PROBE, str(ROOT)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    line = next((l for l in done.stdout.splitlines() if l.startswith("REPORT ")), None)
    assert line, done.stderr[-2000:]
    report = json.loads(line[len("REPORT "):])
    assert report["uid"] != 0 and report["cwd"] == str(tmp_path.resolve())
    assert report["env"] == []                                   # it cannot tell that it is being graded
    assert not report["solutions"] and not report["gradebook_dir"]
    assert str(Path.home().resolve()) != "/" and "." not in report["home"]
    assert report["network"] is False
    assert report["wrote_outside"] is False and not (ROOT / "written_by_student").exists()
    assert (tmp_path / "inside.txt").read_text() == "mine"      # its own folder is writable
    assert report["forks"] < 32                                  # the process limit holds
    assert report["memory_3g"] is False                          # so does the memory limit


def test_autograding_refuses_without_a_sandbox(monkeypatch):
    monkeypatch.setattr(sandbox, "available", lambda: False)
    monkeypatch.delenv("COURSEKIT_NO_SANDBOX", raising=False)
    with pytest.raises(sandbox.SandboxUnavailable, match="apt-get install bubblewrap"):
        sandbox.sandbox_kernel_manager(require=True)
    monkeypatch.setenv("COURSEKIT_NO_SANDBOX", "1")
    manager = sandbox.sandbox_kernel_manager(require=True)
    assert manager.sandboxed is False


def test_bwrap_command_hides_the_course_and_binds_only_the_submission(tmp_path):
    connection = tmp_path / "kernel.json"
    sockets = tmp_path / "sockets"
    sockets.mkdir()
    connection.write_text(json.dumps({"transport": "ipc", "ip": str(sockets / "kernel")}))
    cmd = sandbox.bwrap_command(["python", "-f", str(connection)], tmp_path)
    pairs = list(zip(cmd, cmd[1:]))
    assert ("--tmpfs", str(sandbox.REPO_ROOT)) in pairs and ("--tmpfs", "/tmp") in pairs
    assert ("--unshare-net", "--unshare-uts") in pairs or "--unshare-net" in cmd
    writable = [b for a, b in pairs if a == "--bind"]
    assert writable == [str(sockets.resolve()), str(tmp_path.resolve())]
    assert "--unsetenv" in cmd and "NBGRADER_EXECUTION" in cmd
