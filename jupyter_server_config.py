# Configuration for `make lab` (passed with --config; the browser tests start JupyterLab the same way).
c = get_config()  # noqa: F821 - provided by Jupyter

# nbgrader's Validate button runs `coursekit check` (coursekit/course/lab_validate.py): the grader's sandbox, per-cell limits
# and normalisation against the release, instead of nbgrader's plain validator whose verdict can differ.
c.ServerApp.jpserver_extensions = {
    "nbgrader.server_extensions.validate_assignment": False,
    "coursekit.course.lab_validate": True,
}
