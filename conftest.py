"""pytest's hooks for the lecture notebooks, kept out of lectures/ (the student's folder).

nbval (``make test``: ``pytest tests lectures --nbval --nbval-sanitize-with tests/nbval_sanitize.cfg``) compares a
fresh run of each lecture with its stored outputs, strictly. The comparison is one of the code, not of the machine,
only if the kernel runs in the environment the lecture was stored with (scripts/execute_lectures.py): the same
thread count (LECTURE_THREADS) and hash seed. This file gives exactly the kernels of lectures/NN_*.ipynb that
environment while nbval starts them, and leaves every other test in the environment pytest was started with.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
LECTURES = ROOT / "lectures"

_spec = importlib.util.spec_from_file_location("execute_lectures", ROOT / "scripts" / "execute_lectures.py")
execute_lectures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(execute_lectures)


def is_lecture_notebook_item(item) -> bool:
    """A test item nbval collected from a lecture notebook (one per code cell)."""
    path = Path(str(getattr(item, "path", getattr(item, "fspath", ""))))
    return path.suffix == ".ipynb" and path.parent == LECTURES and path.name[:1].isdigit()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    # nbval starts a notebook's kernel while setting up its first cell; the kernel copies os.environ as it starts
    if not is_lecture_notebook_item(item):
        yield
        return
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(execute_lectures.lecture_env(saved))
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
