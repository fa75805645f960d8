"""nbval runs the lectures with the environment they were stored with (scripts/execute_lectures.py): the same
thread count and hash seed, so a strict comparison of outputs is a comparison of the code, not of the machine."""

import importlib.util
import os
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "execute_lectures", Path(__file__).resolve().parents[1] / "scripts" / "execute_lectures.py")
_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_module)

# the kernels nbval starts inherit this process's environment
os.environ.update(_module.lecture_env())
