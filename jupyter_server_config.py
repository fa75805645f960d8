# Configuration for `make lab` (passed with --config; the browser tests start JupyterLab the same way).
import os

c = get_config()  # noqa: F821 - provided by Jupyter
HERE = os.path.dirname(os.path.abspath(__file__))

# nbgrader's Validate button runs `coursekit check` (coursekit/course/lab_validate.py): the grader's sandbox, per-cell limits
# and normalisation against the release, instead of nbgrader's plain validator whose verdict can differ.
c.ServerApp.jpserver_extensions = {
    "nbgrader.server_extensions.validate_assignment": False,
    "coursekit.course.lab_validate": True,
}

# The course's JupyterLab settings (jupyter-config/lab/settings/overrides.json, defaults a user can still change in
# the Settings Editor): no "Would you like to receive official Jupyter news?" pop-up and no update check, which
# would also make the browser ask a site outside the course.
c.LabApp.app_settings_dir = os.path.join(HERE, "jupyter-config", "lab", "settings")
c.LabApp.check_for_updates_class = "jupyterlab.NeverCheckForUpdate"

# coursekit's own small lab extension (jupyter-config/labextensions/@coursekit/lab, prebuilt, no build step):
# nbgrader's Validate button only on notebooks that are assignments, not on the lectures.
c.LabApp.extra_labextensions_path = [os.path.join(HERE, "jupyter-config", "labextensions")]
