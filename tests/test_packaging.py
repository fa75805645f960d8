"""The package installs, imports with numpy alone, and its two environment descriptions agree."""

import os
import re
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


def test_doctor_reports_every_component():
    result = subprocess.run([sys.executable, "-m", "coursekit.cli", "doctor"], capture_output=True, text=True,
                            cwd=ROOT)
    assert result.returncode == 0, result.stderr
    for item in ("python", "numpy", "torch", "CUDA", "jupyterlab", "nbgrader", "ipywidgets", "widget extension"):
        assert re.search(rf"^\s+(ok|MISSING)\s+{re.escape(item)}\b", result.stdout, re.M), item


def test_doctor_says_how_to_fix_a_missing_package(monkeypatch, capsys):
    from coursekit import doctor

    real = doctor._version
    monkeypatch.setattr(doctor, "_version", lambda dist: None if dist == "nbgrader" else real(dist))
    doctor.main()
    out = capsys.readouterr().out
    assert re.search(r"MISSING nbgrader .*\n\s+fix: pip install 'coursekit\[course\]'", out)


def test_console_script_is_declared():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"]["coursekit"] == "coursekit.cli:main"
