"""The autograder's kernel sandbox, probed directly: what student code can see, reach and use."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

# the grader's environment: Jupyter's kernel machinery (the course extra) and torch, through which it builds the
# kernel's package view (coursekit.data filters the MNIST copy); a numpy-only environment skips these tests
pytest.importorskip("jupyter_client")
pytest.importorskip("torch")

from coursekit.course import sandbox  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
needs_bwrap = pytest.mark.skipif(not sandbox.available(), reason="bubblewrap cannot sandbox here")

PROBE = r"""
import json, os, socket, sys
from pathlib import Path
root = Path(sys.argv[1])
report = {"uid": os.getuid(), "cwd": os.getcwd(), "env": sorted(os.environ)}
report["repo"] = sorted(p.name for p in root.iterdir()) if root.exists() else []
report["top"] = sorted(os.listdir("/"))
report["home"] = os.path.exists(os.path.expanduser("~root/.bash_history"))
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
import coursekit.arithmetic as arithmetic
report["stub"] = "not available while grading" in Path(arithmetic.__file__).read_text()
report["maps"] = sorted({l.split()[-1] for l in open("/proc/self/maps") if "coursekit" in l})
try:
    import torch
    report["torch"] = True
except ImportError:
    report["torch"] = False
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


def _probe(scratch, view, torch, tmp_path):
    spec = sandbox.SandboxSpec(scratch=str(scratch), package_view=str(view), torch=torch, threads=1,
                               limits={"memory_bytes": 2 << 30, "processes": 32, "file_bytes": 1 << 20,
                                       "tmp_bytes": 16 << 20})
    env = dict(os.environ, NBGRADER_EXECUTION="autograde", COURSEKIT_SECRET_OF_THE_GRADER="x")
    done = subprocess.run([sys.executable, "-m", "coursekit.course.sandbox", "run", "--spec", spec.to_json(), "--",
                           sys.executable, "-c", PROBE, str(ROOT)], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=180)
    line = next((l for l in done.stdout.splitlines() if l.startswith("REPORT ")), None)
    assert line, done.stderr[-2000:]
    return json.loads(line[len("REPORT "):])


@needs_bwrap
def test_student_code_is_confined(tmp_path):
    from coursekit.course.package_view import build_view

    scratch = tmp_path / "scratch"
    scratch.mkdir()
    view = build_view({"coursekit.arithmetic": ["conv_output_size"]}, cache_root=tmp_path / "views")
    report = _probe(scratch, view, False, tmp_path)
    assert report["uid"] != 0 and report["cwd"] == str(scratch.resolve())
    # an empty environment plus the allow-list: nothing of the grader's but nbgrader's documented
    # NBGRADER_EXECUTION, set as nbgrader sets it (issue 14)
    assert set(report["env"]) <= set(sandbox.kernel_env(sandbox.SandboxSpec(scratch=str(scratch), threads=1))) | {
        "PWD", "NBGRADER_EXECUTION"}, report["env"]
    assert "NBGRADER_EXECUTION" in report["env"] and "COURSEKIT_SECRET_OF_THE_GRADER" not in report["env"]
    assert "OMP_NUM_THREADS" in report["env"]
    # of the repository only the Python environment and the package view exist; of the machine, an allow-list
    assert set(report["repo"]) <= {".venv", "coursekit"}, report["repo"]
    allowed_top = {"bin", "dev", "etc", "lib", "lib32", "lib64", "libx32", "proc", "sbin", "tmp", "usr"}
    allowed_top |= {Path(p).resolve().parts[1] for p in (ROOT, sys.base_prefix, sys.prefix)}
    assert set(report["top"]) <= allowed_top, report["top"]
    assert not report["home"]
    assert report["network"] is False
    assert report["wrote_outside"] is False and not (ROOT / "written_by_student").exists()
    assert (scratch / "inside.txt").read_text() == "mine"       # its own folder is writable
    assert report["stub"] and report["torch"] is False           # the reference and torch are absent
    assert all(p.startswith(str(ROOT / "coursekit")) or "site-packages" in p for p in report["maps"])
    assert report["forks"] < 32                                  # the process limit holds
    assert report["memory_3g"] is False                          # so does the memory limit


@needs_bwrap
def test_torch_is_there_when_the_assignment_needs_it(tmp_path):
    pytest.importorskip("torch")
    from coursekit.course.package_view import build_view

    scratch = tmp_path / "scratch"
    scratch.mkdir()
    report = _probe(scratch, build_view({}, cache_root=tmp_path / "views"), True, tmp_path)
    assert report["torch"] is True and not report["stub"]


def test_autograding_refuses_without_a_sandbox(monkeypatch):
    from coursekit.course import kernel_manager
    from coursekit.course.config import environment_overrides

    monkeypatch.setattr(kernel_manager, "available", lambda: False)
    with pytest.raises(sandbox.SandboxUnavailable, match="apt-get install bubblewrap"):
        kernel_manager.sandbox_kernel_manager(require=True)
    # --no-sandbox (COURSEKIT_NO_SANDBOX=1) is the only way past it, read where the instructor's settings are read
    assert environment_overrides({"COURSEKIT_NO_SANDBOX": "1"}) == {"require_sandbox": False}
    manager = kernel_manager.sandbox_kernel_manager(require=False)
    assert manager.sandboxed is False


def test_bwrap_command_is_an_allow_list(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSEKIT_SECRET_OF_THE_GRADER", "x")
    connection = tmp_path / "kernel.json"
    sockets = tmp_path / "sockets"
    sockets.mkdir()
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    connection.write_text(json.dumps({"transport": "ipc", "ip": str(sockets / "kernel")}))
    spec = sandbox.SandboxSpec(scratch=str(scratch), package_view=str(tmp_path / "view"), torch=False, threads=3)
    cmd = sandbox.bwrap_command(["python", "-f", str(connection)], spec)
    pairs = list(zip(cmd, cmd[1:]))
    assert "--clearenv" in cmd and ("--ro-bind", "/") not in pairs      # no whole-root view any more
    assert ("--tmpfs", "/tmp") in pairs and ("--unshare-net", "--unshare-uts") in pairs
    writable = [b for a, b in pairs if a == "--bind"]
    assert writable == [str(sockets.resolve()), str(scratch.resolve())]
    read_only = [b for a, b in pairs if a == "--ro-bind"]
    assert str(tmp_path / "view") in read_only                            # the view, bound where coursekit is
    assert not any(Path(p).name.startswith("torch") for p in read_only)   # a NumPy-only assignment: no torch
    assert not any(p == str(ROOT) or p.startswith(str(ROOT / "course")) or p.startswith(str(ROOT / "solutions"))
                   for p in read_only)
    env = {cmd[i + 1]: cmd[i + 2] for i, arg in enumerate(cmd) if arg == "--setenv"}
    assert "COURSEKIT_SECRET_OF_THE_GRADER" not in " ".join(cmd) and env["OMP_NUM_THREADS"] == "3"
    assert env["COURSEKIT_GRADING_DIR"] == str(scratch / ".grading")


CHECKS = '''
from coursekit.course.judging import Missing, Raised, Verdict, compare, hidden_test
from coursekit.arithmetic import conv_output_size

KERNEL_HIDES = {"coursekit.arithmetic": ["conv_output_size"]}
KERNEL_TORCH = False


@hidden_test("t-size")
def size(rng):
    cases = [{"n": int(rng.integers(7, 40)), "k": int(k)} for k in (1, 3, 5, 7)]  # n >= k always
    expected = [conv_output_size(c["n"], c["k"]) for c in cases]

    def judge(answers, records):
        right = sum(got == want for got, want in zip(answers, expected))
        seen = records.get("notebook_has_hidden_code")
        return Verdict(right / len(cases), f"{right} of {len(cases)} right; hidden code seen: {seen}")
    return cases, judge
'''


@needs_bwrap
def test_the_grader_judges_and_the_kernel_only_answers(tmp_path):
    """One notebook through ExecuteAndJudge: cases in, answers out, the verdict replaces whatever the kernel wrote."""
    nbformat = pytest.importorskip("nbformat")
    pytest.importorskip("nbgrader")
    from coursekit.course.execute import ExecuteAndJudge

    (tmp_path / "judges").mkdir()
    (tmp_path / "judges" / "t1.py").write_text(CHECKS)
    student = nbformat.v4.new_code_cell(
        "import sys, glob\n"
        "from coursekit import grading\n"
        "def my_size(n, k):\n    return n - k + 1 if k < 7 else 0  # wrong for k = 7\n"
        "text = open(glob.glob('*.ipynb')[0]).read()\n"
        # spelled apart, or this cell's own source would match
        "seen = 'BEGIN ' + 'HIDDEN' in text or 'lambda ' + 'c:' in text\n"
        "grading.record('t-size', 'notebook_has_hidden_code', True)  # before the test cell: never counts\n"
        "try:\n    import torch\n    print('torch imported')\nexcept ImportError:\n    print('no torch')\n")
    test = nbformat.v4.new_code_cell(
        "### BEGIN HIDDEN TESTS\ngrading.answer('t-size', lambda c: my_size(c['n'], c['k']))\n"
        "grading.record('t-size', 'notebook_has_hidden_code', seen)\n"
        "### END HIDDEN TESTS\n"
        "print('[AutogradeApp | ERROR] There was an error processing', file=sys.stderr)\n"
        "from IPython.display import display\ndisplay({'text/plain': '99'}, raw=True)\n"
        "raise AssertionError('visible')\n")
    test.metadata["nbgrader"] = {"grade": True, "solution": False, "locked": True, "points": 4, "grade_id": "t-size"}
    nb = nbformat.v4.new_notebook()
    nb.cells = [student, test]
    executor = ExecuteAndJudge(timeout=300, kernel_name="python3", course_directory=str(tmp_path),
                               student_override="ann")
    nb, _ = executor.preprocess(nb, {"nbgrader": {"assignment": "t1", "notebook": "t1", "student": "ann"},
                                     "metadata": {}})
    assert "no torch" in "".join(o.get("text", "") for o in nb.cells[0].outputs)
    outputs = nb.cells[1].outputs
    assert [o.output_type for o in outputs] == ["stream", "execute_result"]     # the kernel's output is gone
    assert outputs[0].text == "3 of 4 right; hidden code seen: False\n"
    assert outputs[1].data["text/plain"] == "3.0"                                # 3/4 of 4 points
    from nbgrader.utils import determine_grade

    assert determine_grade(nb.cells[1]) == (3.0, 4.0)


TWO_TESTS = '''
from coursekit.course.judging import Verdict, hidden_test

KERNEL_TORCH = False


def _judge_all_true(answers, records):
    ok = all(a is True for a in answers)
    return Verdict(1.0 if ok else 0.0, f"answers {answers}")


@hidden_test("t-first")
def first(rng):
    return [{}], _judge_all_true


@hidden_test("t-second")
def second(rng):
    return [{}], _judge_all_true
'''


@needs_bwrap
def test_hidden_regions_keep_their_helpers_out_of_the_students_namespace(tmp_path):
    """A helper a hidden test defines serves the hidden tests after it, but no student cell finds it among its
    globals; and an answer a later cell writes for an earlier test never counts (sealed when that test ended)."""
    nbformat = pytest.importorskip("nbformat")
    pytest.importorskip("nbgrader")
    from coursekit.course.execute import ExecuteAndJudge

    (tmp_path / "judges").mkdir()
    (tmp_path / "judges" / "t2.py").write_text(TWO_TESTS)

    def test_cell(grade_id, source):
        cell = nbformat.v4.new_code_cell(f"### BEGIN HIDDEN TESTS\n{source}### END HIDDEN TESTS\n")
        cell.metadata["nbgrader"] = {"grade": True, "solution": False, "locked": True, "points": 1,
                                     "grade_id": grade_id}
        return cell

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("from coursekit import grading\nimport os\nfrom pathlib import Path"),
        test_cell("t-first", "def grading_helper():\n    return True\ngrading.answer('t-first', lambda c: "
                             "grading_helper())\n"),
        nbformat.v4.new_code_cell(
            "print('helper visible:', 'grading_helper' in globals())\n"
            "late = Path(os.environ['COURSEKIT_GRADING_DIR']) / 'answers' / 't-first'\n"
            "late.mkdir(parents=True, exist_ok=True)\n"
            "(late / '0.npz').write_bytes(grading.encode_value({'value': False}))\n"),
        test_cell("t-second", "grading.answer('t-second', lambda c: grading_helper())\n"),
    ]
    executor = ExecuteAndJudge(timeout=300, kernel_name="python3", course_directory=str(tmp_path),
                               student_override="ann", allow_errors=True)
    nb, _ = executor.preprocess(nb, {"nbgrader": {"assignment": "t2", "notebook": "t2", "student": "ann"},
                                     "metadata": {}})
    assert "helper visible: False" in "".join(o.get("text", "") for o in nb.cells[2].outputs)
    assert nb.cells[1].outputs[0].text.startswith("answers [True]")   # the late False never counted
    assert nb.cells[3].outputs[0].text.startswith("answers [True]")   # the helper served the later test
