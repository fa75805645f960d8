"""The one comparison of a checked value: a student's numbers against the expected ones, within a tolerance.

Both sides of the wall use it: the kernel's visible self-checks (``coursekit.grading.asserts``) raise its message
as an AssertionError, and every judge of the grader (``coursekit.course.judging.compare``) puts it into a verdict.
So a visible test and a hidden one never disagree about what "close" means or how NaN is treated:

* shapes must be equal (never broadcast);
* an entry matches when ``|got - want| <= atol + rtol * |want|``, or when both are NaN, or both the same infinity;
* a NaN or infinity where a finite number is expected (or the other way round) is reported as such;
* the message names the number of wrong entries and the worst one: its index, both values and the error.
"""

from __future__ import annotations

import numpy as np

__all__ = ["difference", "plain", "as_numbers"]


def plain(x):
    """A torch tensor (one that requires grad, or on a GPU, included) as something NumPy can read."""
    if hasattr(x, "detach") and hasattr(x, "cpu") and hasattr(x, "numpy"):
        return x.detach().cpu().numpy()
    return x


def as_numbers(x) -> np.ndarray:
    """x as a float64 array; TypeError (with the reason in words) for anything that is not real numbers."""
    if x is None:
        raise TypeError("None (did the function return its result?)")
    if isinstance(x, (str, bytes, dict)):
        raise TypeError(f"a {type(x).__name__}, not numbers")
    try:
        array = np.asarray(plain(x))
    except (TypeError, ValueError, RuntimeError) as exc:
        raise TypeError(f"a {type(x).__name__} that is not an array of numbers ({exc})") from None
    if array.dtype.kind not in "biuf":
        raise TypeError(f"not real numbers (dtype {array.dtype})")
    return array.astype(np.float64)


def difference(got, want, what: str = "result", rtol: float = 1e-6, atol: float = 1e-8) -> str | None:
    """None when got matches want (see the module docstring); otherwise one sentence a student can act on."""
    want_array = np.asarray(plain(want), dtype=np.float64)
    try:
        got_array = as_numbers(got)
    except TypeError as exc:
        return f"{what}: expected numbers of shape {want_array.shape}, got {exc}"
    if got_array.shape != want_array.shape:
        return f"{what}: got shape {got_array.shape}, expected shape {want_array.shape}"
    if got_array.size == 0:
        return None
    got_finite, want_finite = np.isfinite(got_array), np.isfinite(want_array)
    same_special = (np.isnan(got_array) & np.isnan(want_array)) | (
        np.isinf(got_array) & np.isinf(want_array) & (np.sign(got_array) == np.sign(want_array)))
    special_wrong = (~got_finite | ~want_finite) & ~same_special
    if special_wrong.any():
        index = tuple(int(i) for i in np.argwhere(special_wrong)[0])
        if not got_finite[index]:
            return f"{what}: contains NaN or inf (first at index {index}: got {got_array[index]}, expected " \
                   f"{want_array[index]:.6g})"
        return f"{what}: expected {want_array[index]} at index {index}, got {got_array[index]:.6g}"
    both = got_finite & want_finite
    with np.errstate(invalid="ignore"):
        error = np.where(both, np.abs(got_array - want_array), 0.0)
    bound = atol + rtol * np.abs(np.where(both, want_array, 0.0))
    wrong = error > bound
    if not wrong.any():
        return None
    index = np.unravel_index(int(np.argmax(np.where(wrong, error - bound, -np.inf))), error.shape)
    where = tuple(int(i) for i in index)
    if want_array[index] != 0:
        error_text = f"relative error {error[index] / abs(want_array[index]):.2g}, tolerance {rtol:g}"
    else:
        error_text = f"absolute error {error[index]:.2g}, tolerance {atol:g}"
    return (f"{what}: wrong at {int(np.count_nonzero(wrong))} of {error.size} entries; worst at index {where}: got "
            f"{got_array[index]:.6g}, expected {want_array[index]:.6g} ({error_text})")
