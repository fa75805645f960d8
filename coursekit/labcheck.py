"""Old name of the Validate button's server extension, kept for Jupyter configurations that enable
``coursekit.labcheck``: the extension is ``coursekit.course.lab_validate``."""


def _jupyter_server_extension_points():
    return [{"module": "coursekit.course.lab_validate"}]
