"""Write-it-yourself exercises in the lectures: a student's function checked against a reference.

A lecture exercise is three cells::

    def corr2d(x, k, stride=1, padding=0):           # 1. the stub the student fills in
        # YOUR CODE HERE
        raise NotImplementedError

    corr2d = exercises.check(corr2d, reference=F.conv2d_single, cases=[...], name="corr2d")   # 2. the check

    # 3. the solution, collapsed (cell metadata jupyter.source_hidden), with its own check

``check`` calls the student's function and the reference on every case and prints one verdict line: ``PASS``, or
``FAIL`` with the first wrong element (its index, both values and the error), or ``NOT ATTEMPTED`` when the stub
still raises ``NotImplementedError``. It returns the function the rest of the notebook should use: the student's
when it passed, otherwise the reference, and it says so, so a lecture always runs top to bottom (in CI too) and a
student who has not solved one exercise can still follow the next section.

Cases are fixed argument tuples (or dicts of keyword arguments) and, through ``random_cases``, seeded random
ones, so a function that only matches the example on the page does not pass. Nothing here knows any exercise's
answer: the reference is whatever the lecture passes in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

import numpy as np

__all__ = ["check", "check_value", "checked", "random_cases", "Outcome"]


class Outcome(str):
    """The verdict line ``check`` printed (also kept as ``check.last``), for lectures that assert on it."""


def random_cases(make: Callable[[np.random.Generator], tuple | dict], n: int = 5, seed: int = 0) -> list:
    """n cases drawn by make(rng) from a generator seeded with seed: random shapes and values, the same every run."""
    rng = np.random.default_rng(seed)
    return [make(rng) for _ in range(n)]


def _call(fn, case):
    if isinstance(case, Mapping):
        return fn(**case)
    if isinstance(case, tuple):
        return fn(*case)
    return fn(case)


def _show(case) -> str:
    def one(value):
        if isinstance(value, np.ndarray):
            return f"array{value.shape}" if value.size > 6 else np.array2string(value, separator=", ")
        shape = getattr(value, "shape", None)   # a torch tensor (no torch import here): its shape, not its values
        if isinstance(shape, tuple) and int(np.prod(shape)) > 6:
            return f"{type(value).__name__}{tuple(shape)}"
        return repr(value)

    if isinstance(case, Mapping):
        return ", ".join(f"{k}={one(v)}" for k, v in case.items())
    if isinstance(case, tuple):
        return ", ".join(one(v) for v in case)
    return one(case)


def _difference(got, want, rtol: float, atol: float, where: str = "") -> str | None:
    """None when got matches want (arrays, numbers, or tuples/lists of them); otherwise what differs first."""
    if isinstance(want, (tuple, list)):
        if not isinstance(got, (tuple, list)) or len(got) != len(want):
            size = len(got) if isinstance(got, (tuple, list)) else "not a tuple"
            return f"{where or 'the result'} should be {len(want)} values, got {size}"
        for k, (g, w) in enumerate(zip(got, want)):
            problem = _difference(g, w, rtol, atol, f"{where}[{k}]")
            if problem:
                return problem
        return None
    label = f"the result{where}"
    if got is None:
        return f"{label} is None (did the function return its result?)"
    try:
        g = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError):
        return f"{label} is a {type(got).__name__}, not numbers"
    w = np.asarray(want, dtype=np.float64)
    if g.shape != w.shape:
        return f"{label} has shape {g.shape}, expected {w.shape}"
    bad = ~np.isclose(g, w, rtol=rtol, atol=atol, equal_nan=True)
    if not bad.any():
        return None
    index = tuple(int(i) for i in np.argwhere(bad)[0])
    at = f" at index {index}" if index else ""
    count = f" ({int(bad.sum())} of {bad.size} entries wrong)" if bad.size > 1 else ""
    return f"{label}{at} is {g[index]:.6g}, expected {w[index]:.6g}{count}"


def check(fn: Callable, reference: Callable, cases: Iterable, name: str | None = None,
          rtol: float = 1e-6, atol: float = 1e-8) -> Callable:
    """Compare fn with reference on every case; print the verdict; return the function to use from here on.

    cases: argument tuples, keyword dicts, or single arguments. Returns fn when it matches on every case, else
    reference (the notebook keeps running, and the verdict says the solution is used instead).
    """
    name = name or getattr(fn, "__name__", "your function")
    cases = list(cases)
    if not cases:
        raise ValueError("check needs at least one case")
    for k, case in enumerate(cases):
        want = _call(reference, case)
        try:
            got = _call(fn, case)
        except NotImplementedError:
            return _verdict(reference, f"NOT ATTEMPTED  {name}: still raises NotImplementedError. The cells below "
                            "use the solution (expand the hidden cell under this one to read it) until yours "
                            "passes.")
        except Exception as exc:  # noqa: BLE001 - a student's bug is a verdict, not a crash of the lecture
            return _verdict(reference, f"FAIL  {name}({_show(case)}) raised {type(exc).__name__}: {exc}. The cells "
                            "below use the solution until yours passes.")
        problem = _difference(got, want, rtol, atol)
        if problem:
            return _verdict(reference, f"FAIL  {name}, case {k + 1} of {len(cases)} ({_show(case)}): {problem}. "
                            "The cells below use the solution until yours passes.")
    return _verdict(fn, f"PASS  {name} matches the reference on all {len(cases)} cases.")


def check_value(got, expected, name: str, rtol: float = 1e-6, atol: float = 1e-8) -> None:
    """For a numeric exercise: print PASS, NOT ATTEMPTED (got is ..., or a tuple or list holding a ...) or FAIL with
    the first wrong entry. Several answers are checked together as a tuple: check_value((a, b), (1, 2), name).
    The verdict is kept as ``check.last``; nothing is returned, so a check on a cell's last line shows only its
    verdict (a returned bool would show a bare ``False`` under every unanswered exercise)."""
    if _unanswered(got):
        _verdict(None, f"NOT ATTEMPTED  {name}: replace the ... with your answer.")
        return
    problem = _difference(got, expected, rtol, atol)
    _verdict(None, f"FAIL  {name}: {problem}." if problem else f"PASS  {name}.")


def _unanswered(got) -> bool:
    if got is Ellipsis:
        return True
    return isinstance(got, (tuple, list)) and any(_unanswered(g) for g in got)


def checked(statement: str, holds) -> None:
    """A claim the prose makes, asserted where it is made: prints ``checked: statement`` when it holds and raises
    AssertionError naming it when it does not, so a lecture fails in CI the moment its text and its numbers drift."""
    if not bool(holds):
        raise AssertionError(f"the lecture claims that {statement}, but it does not hold")
    print(f"checked: {statement}")


def _verdict(use, line: str):
    print(line)
    check.last = Outcome(line)
    return use


check.last = Outcome("")
