"""`make lab`: the command it runs for root and for other users, and the course's JupyterLab configuration it
hands over (jupyter-config/). The browser tests (tests/browser/test_lab_settings.py) check the result in JupyterLab."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

FAKE_JUPYTER = """#!/bin/sh
# stands in for the venv's jupyter: records how make lab started it
printf '%s\\n' "$@" > "$(dirname "$0")/../args"
printf '%s\\n' "$PATH" > "$(dirname "$0")/../path"
"""


def _make_lab(tmp_path, uid: int, lab_args: str = "") -> tuple[str, list[str], str]:
    """Run `make lab` with a stand-in venv (its jupyter records its arguments) as if the user had this uid."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    jupyter = venv / "bin" / "jupyter"
    jupyter.write_text(FAKE_JUPYTER)
    jupyter.chmod(0o755)
    stamp = venv / ".coursekit-installed"
    stamp.touch()
    newer = max((ROOT / "Makefile").stat().st_mtime, (ROOT / "pyproject.toml").stat().st_mtime) + 60
    os.utime(stamp, (newer, newer))                     # installed: make does not rebuild the venv
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "id").write_text(f"#!/bin/sh\n[ \"$1\" = -u ] && echo {uid} || exec /usr/bin/id \"$@\"\n")
    (shim / "id").chmod(0o755)
    env = dict(os.environ, PATH=f"{shim}{os.pathsep}{os.environ['PATH']}")
    done = subprocess.run(["make", "-s", "lab", f"VENV={venv}", f"LAB_ARGS={lab_args}"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout, (venv / "args").read_text().split("\n")[:-1], (venv / "path").read_text()


def test_root_gets_allow_root_and_a_line_saying_so(tmp_path):
    out, args, path = _make_lab(tmp_path, uid=0)
    assert args[:3] == ["lab", "--ServerApp.root_dir=.", "--config=jupyter_server_config.py"], args
    assert "--allow-root" in args
    assert out.strip().splitlines() == ["make lab: running as root (a container or cloud VM?), so JupyterLab is "
                                        "started with --allow-root"]
    assert path.startswith(str(tmp_path / "venv" / "bin") + os.pathsep)   # the venv's tools first (alembic)


def test_other_users_get_no_allow_root_and_lab_args_pass_through(tmp_path):
    out, args, _ = _make_lab(tmp_path, uid=1000, lab_args="--no-browser --port=9999")
    assert "--allow-root" not in args and out.strip() == ""
    assert args[-2:] == ["--no-browser", "--port=9999"], args


def test_the_course_settings_switch_off_news_and_update_checks():
    settings = json.loads((ROOT / "jupyter-config" / "lab" / "settings" / "overrides.json").read_text())
    notification = settings["@jupyterlab/apputils-extension:notification"]
    assert notification == {"fetchNews": "false", "checkForUpdates": False}
    # the values are valid for the installed JupyterLab's schema (an invalid override is silently dropped)
    # found through the distribution: tests/browser has a helper module of the same name as the package
    from importlib import metadata

    try:
        dist = metadata.distribution("jupyterlab")
    except metadata.PackageNotFoundError:
        pytest.skip("jupyterlab is not installed")
    schema = Path(dist.locate_file("jupyterlab/schemas/@jupyterlab/apputils-extension/notification.json"))
    properties = json.loads(schema.read_text())["properties"]
    assert "false" in [choice["const"] for choice in properties["fetchNews"]["oneOf"]]
    assert properties["checkForUpdates"]["type"] == "boolean"


def test_jupyterlab_finds_the_course_extension_where_the_config_points():
    config_namespace = {"get_config": lambda: _Config(), "__file__": str(ROOT / "jupyter_server_config.py")}
    exec(compile((ROOT / "jupyter_server_config.py").read_text(), "jupyter_server_config.py", "exec"),
         config_namespace)
    lab = config_namespace["c"].LabApp
    assert Path(lab.app_settings_dir, "overrides.json").is_file()
    get_federated_extensions = pytest.importorskip("jupyterlab_server.config").get_federated_extensions
    found = get_federated_extensions(lab.extra_labextensions_path)
    ext = found["@coursekit/lab"]
    assert (Path(ext["ext_path"]) / ext["jupyterlab"]["_build"]["load"]).is_file()
    assert lab.check_for_updates_class == "jupyterlab.NeverCheckForUpdate"


class _Config:
    """Attribute access that creates sections, as traitlets' Config does for `c.LabApp.x = ...`."""

    def __getattr__(self, name):
        value = _Config()
        object.__setattr__(self, name, value)
        return value


def test_assignments_run_on_the_course_kernel():
    """Sources, release and samples ask for the 'coursekit' kernel, as the lectures do, so that the thread settings
    for shared machines apply to the assignments' training too (coursekit.kernel)."""
    from coursekit.kernel import DISPLAY_NAME, KERNEL_NAME

    wanted = {"display_name": DISPLAY_NAME, "language": "python", "name": KERNEL_NAME}
    notebooks = [*(ROOT / "solutions").glob("*/*.ipynb"), *(ROOT / "assignments").glob("*/*.ipynb"),
                 *(p for p in (ROOT / "course" / "submitted").glob("*/*/*.ipynb") if not p.is_symlink())]
    assert len(notebooks) > 8
    for path in notebooks:
        try:
            spec = json.loads(path.read_text())["metadata"].get("kernelspec")
        except (ValueError, KeyError):  # a sample that is deliberately not a readable notebook
            continue
        assert spec == wanted, f"{path.relative_to(ROOT)} asks for the kernel {spec}"
