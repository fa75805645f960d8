"""The grading wall as a folder boundary, checked on the source: what may import what.

* ``coursekit/grading/`` is the kernel side: it runs inside the student's kernel, where ``coursekit.course`` does
  not exist; it must import nothing of the grader's, directly or through another coursekit module.
* ``coursekit/course/`` is the trusted side: no code outside it imports it, but the command line and
  ``coursekit doctor`` (the entry points that start the grader).
* The grader's modules import each other without cycles, so each can be read (and tested) on its own.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "coursekit"
ENTRY_POINTS = {"cli.py", "doctor.py"}
# old module paths kept for configurations written for them: they only re-export
SHIMS = {"plugins", "checks", "check", "view"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every coursekit module path imports, at the top or inside a function (relative imports resolved)."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("coursekit")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.startswith("coursekit"):
                found.add(target)
                found |= {f"{target}.{alias.name}" for alias in node.names}
    return found


def _files(folder: Path):
    return sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def test_the_kernel_side_imports_nothing_of_the_graders():
    assert _files(PACKAGE / "grading"), "the kernel side lives in coursekit/grading/"
    for path in _files(PACKAGE / "grading"):
        wrong = sorted(i for i in _imports(path) if i == "coursekit.course" or i.startswith("coursekit.course."))
        assert not wrong, f"{path.relative_to(PACKAGE.parent)} (kernel side) imports the grader: {wrong}"
    # and through other modules: importing the kernel side loads nothing of the grader's
    code = ("import sys, coursekit.grading, coursekit.grading.hidden, coursekit.grading.networks, "
            "coursekit.grading.asserts, coursekit.grading.wire, coursekit.grading.compare\n"
            "print(sorted(m for m in sys.modules if m.startswith('coursekit.course')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]", done.stdout


def test_nothing_outside_the_grader_imports_it():
    for path in _files(PACKAGE):
        relative = path.relative_to(PACKAGE)
        if relative.parts[0] == "course" or str(relative) in ENTRY_POINTS:
            continue
        wrong = sorted(i for i in _imports(path) if i == "coursekit.course" or i.startswith("coursekit.course."))
        assert not wrong, f"coursekit/{relative} imports the grader ({wrong}): only its entry points may"


def test_the_graders_modules_import_each_other_without_cycles():
    modules = {_module_name(p): p for p in _files(PACKAGE / "course")}
    graph = {name: {i for i in _imports(path) if i in modules and i != name}
             for name, path in modules.items() if name.rsplit(".", 1)[-1] not in SHIMS}
    graph = {name: {i for i in edges if i in graph} for name, edges in graph.items()}
    state: dict = {}

    def visit(name, trail):
        if state.get(name) == "done":
            return
        if state.get(name) == "open":
            cycle = trail[trail.index(name):] + [name]
            pytest.fail("import cycle: " + " -> ".join(cycle))
        state[name] = "open"
        for other in sorted(graph[name]):
            visit(other, trail + [name])
        state[name] = "done"

    for name in sorted(graph):
        visit(name, [])


def test_old_module_paths_still_import():
    """nbgrader configurations and judge modules written for the old layout keep working."""
    from coursekit.course import check, checks, execute, plugins, view

    assert plugins.ExecuteAndJudge is execute.ExecuteAndJudge
    assert checks.check is checks.hidden_test and callable(plugins.wall_backstop)
    assert check.main and view.build_view
    from coursekit import labcheck

    assert labcheck._jupyter_server_extension_points() == [{"module": "coursekit.course.lab_validate"}]
