"""The package installs, imports with numpy alone, and its two environment descriptions agree."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy
import pytest

try:
    import tomllib
except ImportError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[1]
NUMPY_CORE = ["coursekit", "coursekit.nn", "coursekit.nn.functional", "coursekit.nn.init", "coursekit.optim",
              "coursekit.gradcheck", "coursekit.arithmetic", "coursekit.detection"]


def _numpy_only_site(tmp_path):
    """A folder holding numpy and nothing else, for an interpreter started without site-packages."""
    site = tmp_path / "site"
    site.mkdir()
    numpy_dir = Path(numpy.__file__).parent
    for entry in numpy_dir.parent.iterdir():  # numpy itself and its bundled BLAS (numpy.libs)
        if entry.name == "numpy" or entry.name.startswith("numpy.libs"):
            os.symlink(entry, site / entry.name)
    return site


def test_numpy_core_imports_with_numpy_alone(tmp_path):
    site = _numpy_only_site(tmp_path)
    code = (
        "import sys, importlib\n"
        f"for name in {NUMPY_CORE!r}:\n"
        "    importlib.import_module(name)\n"
        "heavy = sorted(m for m in ('torch', 'matplotlib', 'ipywidgets', 'scipy', 'sklearn', 'tqdm') "
        "if m in sys.modules)\n"
        "assert not heavy, heavy\n"
        "for m in ('torch', 'matplotlib'):\n"
        "    try:\n"
        "        importlib.import_module(m)\n"
        "    except ImportError:\n"
        "        pass\n"
        "    else:\n"
        "        raise SystemExit(m + ' is importable: the environment is not numpy-only')\n"
        "import numpy as np, coursekit.nn as nn, coursekit.nn.functional as F\n"
        "out, cache = F.conv2d_forward(np.ones((1, 1, 4, 4)), np.ones((1, 1, 3, 3)))\n"
        "assert out.shape == (1, 1, 2, 2)\n"
        "print('ok')\n"
    )
    # -S: no site-packages at all; -I: ignore PYTHON* variables and the user site
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": ""}
    result = subprocess.run([sys.executable, "-I", "-S", "-c",
                             f"import sys; sys.path[:0] = [{str(site)!r}, {str(ROOT)!r}]\n" + code],
                            capture_output=True, text=True, env=env, cwd=tmp_path)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


def _name(requirement: str) -> tuple[str, str]:
    m = re.match(r"\s*([A-Za-z0-9_.\-]+)\s*(.*)", requirement)
    return m.group(1).lower().replace("_", "-"), m.group(2).replace(" ", "")


def test_environment_yml_matches_pyproject():
    yaml = pytest.importorskip("yaml")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = dict(_name(r) for r in project["dependencies"])
    for extra in project["optional-dependencies"].values():
        wanted.update(_name(r) for r in extra)
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    have = {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            for pip_dep in dep["pip"]:
                if not pip_dep.startswith("-e"):
                    have.update([_name(pip_dep)])
        else:
            have.update([_name(dep)])
    have.pop("python"), have.pop("pip")
    assert set(have) == set(wanted), (f"only in environment.yml: {set(have) - set(wanted)}; "
                                      f"only in pyproject: {set(wanted) - set(have)}")
    for name, spec in wanted.items():
        if name == "torch":  # pyproject accepts any recent torch; the environment pins the Makefile's default
            makefile = (ROOT / "Makefile").read_text()
            pinned = re.search(r"^TORCH\s*\?=\s*torch(==[\d.]+)", makefile, re.M).group(1)
            assert have[name] == pinned, f"environment.yml pins torch{have[name]}, the Makefile torch{pinned}"
        else:
            assert have[name] == spec, f"{name}: pyproject says {spec!r}, environment.yml {have[name]!r}"


def _run_numpy_only(tmp_path, code, package_root=ROOT, with_metadata=False):
    """Run code in an interpreter that sees numpy, and coursekit from package_root, and nothing else."""
    site = _numpy_only_site(tmp_path)
    if with_metadata:  # numpy's dist-info, so that importlib.metadata (coursekit doctor) finds its version
        for entry in Path(numpy.__file__).parent.parent.glob("numpy-*.dist-info"):
            os.symlink(entry, site / entry.name)
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": ""}
    return subprocess.run([sys.executable, "-I", "-S", "-c",
                           f"import sys; sys.path[:0] = [{str(site)!r}, {str(package_root)!r}]\n" + code],
                          capture_output=True, text=True, env=env, cwd=tmp_path)


# module -> (the package it names first, the extra)
NEEDS_EXTRAS = {"coursekit.models": ("torch", "torch"), "coursekit.data": ("torch", "torch"),
                "coursekit.train": ("torch", "torch"), "coursekit.models.unet": ("torch", "torch"),
                "coursekit.data.mnist": ("torch", "torch"), "coursekit.attribution": ("torch", "torch"),
                "coursekit.viz": ("matplotlib", "course"),
                "coursekit.widgets": ("ipywidgets", "course")}
IMPORT_PROBE = r"""
import importlib, json, sys, traceback
report = {}
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except ImportError as exc:
        frames = traceback.extract_tb(exc.__traceback__)
        report[name] = {"message": str(exc), "type": type(exc).__name__, "missing": exc.name,
                        "not_found": isinstance(exc, ModuleNotFoundError),
                        "files": [f.filename.split("coursekit")[-1] for f in frames if "coursekit" in f.filename]}
    else:
        report[name] = None
print(json.dumps(report))
"""


def _import_report(tmp_path, package_root=ROOT):
    result = _run_numpy_only(tmp_path, IMPORT_PROBE.replace("sys.argv[1:]", repr(list(NEEDS_EXTRAS))),
                             package_root)
    assert result.returncode == 0, result.stderr
    return __import__("json").loads(result.stdout)


def test_torch_and_matplotlib_modules_fail_on_import_with_one_line_naming_the_extra(tmp_path):
    """In a clone, each module needing an extra names the editable install of this clone in one line, from the
    top of the package (its __init__), as a ModuleNotFoundError (so pytest.importorskip still skips)."""
    for name, info in _import_report(tmp_path).items():
        package, extra = NEEDS_EXTRAS[name]
        assert info is not None, f"{name} imported with numpy alone"
        assert info["type"] == "MissingExtraError" and info["not_found"] and info["missing"] == package, info
        assert "\n" not in info["message"]
        assert info["message"] == (f"{name.rsplit('.', 1)[0] if name.count('.') > 1 else name} needs {package}"
                                   + (" and matplotlib, which are" if name == "coursekit.widgets" else ", which is")
                                   + f" not installed: pip install -e '{ROOT}[{extra}]'"), info["message"]
        # raised at the top of the module that needs the extra, before any file deeper in imports the package
        top = [f for f in info["files"] if not f.endswith("_extras.py")]
        assert top and top[-1].endswith(("__init__.py", "viz.py", "widgets.py", "attribution.py")), info["files"]


def test_an_installed_package_names_the_extra_to_install_from_the_index(tmp_path):
    """Installed from an index (no pyproject.toml beside the package), the fix is pip install 'coursekit[extra]'."""
    import shutil

    installed = tmp_path / "installed"
    shutil.copytree(ROOT / "coursekit", installed / "coursekit", ignore=shutil.ignore_patterns("__pycache__"))
    report = _import_report(tmp_path, installed)
    assert report["coursekit.models"]["message"] == ("coursekit.models needs torch, which is not installed: "
                                                     "pip install 'coursekit[torch]'")
    assert report["coursekit.viz"]["message"].endswith("pip install 'coursekit[course]'")


def test_numpy_only_modules_still_import(tmp_path):
    code = ("import coursekit.metrics, coursekit.gradlab, coursekit.optimlab, coursekit.variants, "
            "coursekit.exercises\nprint('ok')")
    result = _run_numpy_only(tmp_path, code)
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


def test_doctor_with_numpy_alone_says_the_core_is_ready(tmp_path):
    result = _run_numpy_only(tmp_path, "from coursekit.doctor import main; raise SystemExit(main())",
                             with_metadata=True)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert re.search(r"^  ready    NumPy core: coursekit.nn", out, re.M), out
    assert re.search(r"^  missing  PyTorch side: coursekit.models, .data, .train", out, re.M), out
    assert re.search(r"^\s+not installed: torch, tqdm", out, re.M), out
    assert f"fix: pip install -e '{ROOT}[torch]'" in out or "fix: pip install -e '.[torch]'" in out
    assert re.search(r"^  missing  Lectures in JupyterLab", out, re.M)
    assert "The NumPy core is ready." in out.splitlines()[-1]
    assert "MISSING" not in out and len(out.splitlines()) < 30     # one short block per part, no wall of lines


def test_doctor_reports_every_part():
    result = subprocess.run([sys.executable, "-m", "coursekit.cli", "doctor"], capture_output=True, text=True,
                            cwd=ROOT)
    assert result.returncode == 0, result.stderr
    for part in ("NumPy core", "PyTorch side", "Lectures in JupyterLab", "Assignments and grading",
                 "Thread settings", "Course website", "Test suite"):
        assert re.search(rf"^  (ready|missing)\s+{re.escape(part)}: ", result.stdout, re.M), part
    if "torch" in sys.modules or __import__("importlib").util.find_spec("torch"):
        assert "CUDA: " in result.stdout


def test_doctor_names_the_cpu_accounting_and_leaves_no_cgroup(monkeypatch):
    from coursekit import doctor
    from coursekit.course import limits

    made = []
    real_create = limits.CgroupAccount.create.__func__

    def create(cls, name):
        made.append(account := real_create(cls, name))
        return account

    monkeypatch.setattr(limits.CgroupAccount, "create", classmethod(create))
    check = doctor._cpu_accounting_check()
    assert check.ok and check.name == "CPU accounting"
    if made and made[0] is not None:
        assert f"cgroup v{made[0].version}" in check.detail and not made[0].path.exists(), check.detail
    else:
        assert check.detail.startswith("/proc polling"), check.detail
    monkeypatch.setattr(limits.CgroupAccount, "create", classmethod(lambda cls, name: None))
    assert "/proc polling" in doctor._cpu_accounting_check().detail


def test_doctor_says_how_to_fix_a_missing_package(monkeypatch, capsys):
    from coursekit import doctor

    real = doctor._version
    monkeypatch.setattr(doctor, "_version", lambda dist: None if dist == "nbgrader" else real(dist))
    monkeypatch.chdir(ROOT)
    doctor.main()
    out = capsys.readouterr().out
    assert re.search(r"missing  Assignments and grading: .*\n\s+not installed: nbgrader\n"
                     r"\s+fix: pip install -e '\.\[course\]'", out), out


def test_console_script_is_declared():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["coursekit"] == "coursekit.cli:main"


def test_the_command_line_finds_its_environments_tools_without_activation(monkeypatch):
    """nbgrader runs `alembic` by name when it opens a gradebook: `.venv/bin/coursekit autograde` with a PATH that
    lacks .venv/bin used to stop there with FileNotFoundError."""
    from coursekit import cli

    scripts = os.path.dirname(os.path.abspath(sys.executable))
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    cli._own_scripts_on_path()
    assert os.environ["PATH"].split(os.pathsep) == [scripts, "/usr/bin", "/bin"]
    cli._own_scripts_on_path()  # once is enough
    assert os.environ["PATH"].split(os.pathsep).count(scripts) == 1
    alembic = os.path.join(scripts, "alembic")
    if os.path.exists(alembic):  # installed with nbgrader (the course extra)
        assert shutil.which("alembic") == alembic
