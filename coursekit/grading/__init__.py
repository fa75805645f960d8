"""The kernel side of the grading wall: everything of grading that runs inside the student's kernel.

The student's kernel is never trusted. What runs there only *runs* the student's code on inputs the grader chose
and hands back plain data; the grader's process (``coursekit.course``, never importable from here and absent from
the kernel's copy of the package) holds the expected values and decides every grade.

Modules, one job each:

* ``hidden``   the hidden-test helpers a test cell calls: ``cases(grade_id)``, ``answer(grade_id, fn)``,
  ``record(grade_id, key, value)``: the answer channel's writer;
* ``wire``     the wire format (plain data as .npz files) and the file layout of the grading area; the grader
  imports this same module to read what the kernel wrote;
* ``networks`` ``run_with_weights``: a student's network run with the grader's weights, its trace returned;
* ``asserts``  visible self-checks (``assert_close`` ...) that decide nothing and say what is wrong;
* ``compare``  the one comparison of a checked value, shared with every judge of the grader.

Reference implementations are not disabled or watched from here: while grading they are simply absent from the
kernel's copy of coursekit (``coursekit.course.package_view``), since a kernel that runs first can defeat any check
that runs beside it.
"""

from __future__ import annotations

from .asserts import assert_close, assert_gradient, assert_scalar, assert_shape, rng
from .hidden import answer, cases, record
from .networks import LAYER_TENSORS, layers_in_call_order, load_layers, run_with_weights
from .wire import GRADING_DIR_ENV, MAX_VALUE_BYTES, WireError, decode_value, encode_value

__all__ = ["cases", "answer", "record", "run_with_weights", "layers_in_call_order", "load_layers", "LAYER_TENSORS",
           "encode_value", "decode_value", "WireError", "GRADING_DIR_ENV", "MAX_VALUE_BYTES",
           "assert_close", "assert_shape", "assert_scalar", "assert_gradient", "rng"]
