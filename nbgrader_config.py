# nbgrader reads its configuration from the folder the Jupyter server starts in. `make lab` starts JupyterLab here,
# in the repository root, so this file hands the formgrader, the Assignment List and Validate the course's own
# configuration (course/nbgrader_config.py) instead of nbgrader's defaults, which know no course.
import os

c = get_config()  # noqa: F821 - provided by nbgrader
load_subconfig(os.path.join("course", "nbgrader_config.py"))  # noqa: F821 - provided by nbgrader

# A single-machine exchange for the Assignment List: without one it reports "Error fetching courses!" and the
# server logs a traceback. It lives in course/exchange/ (git-ignored) and is created on first use; nothing is
# released into it unless the instructor runs `nbgrader release_assignment` from course/.
exchange = os.path.join(os.path.dirname(os.path.abspath(__file__)), "course", "exchange")
os.makedirs(exchange, exist_ok=True)
c.Exchange.root = exchange
