"""The kernel's view of the coursekit package: a copy without the code a hidden test grades.

Built in the grader's process, once per (assignment, package contents), and mounted read-only in the sandbox where
coursekit lives. In the copy:

* every name an assignment lists in ``KERNEL_HIDES`` (top-level functions, classes, assignments) is replaced by a
  stub that raises "not available while grading": an AST rewrite, so the original code, its docstring and its
  comments are simply not in the file, and no route (re-import, ``importlib.reload``, reading the source,
  ``gc``, ``/proc/self/maps``) leads back to them;
* the grader's own tooling (``coursekit/course``) is left out;
* no ``__pycache__`` of the original: the copy is byte-compiled from the rewritten sources.
"""

from __future__ import annotations

import ast
import compileall
import hashlib
import json
import os
import shutil
import stat
import tempfile
from pathlib import Path

__all__ = ["build_view", "rewrite_source", "STUB_MESSAGE"]

PACKAGE_DIR = Path(__file__).resolve().parents[1]
LEFT_OUT = ("course",)          # subpackages of coursekit the kernel never gets
# package data the kernel sees only in part: path in the package -> "module:function" mapping the file's bytes to
# the kernel's copy. Held-out evaluation data lives here (A4 scores predictions on MNIST's test split: the
# kernel's copy of the digits holds the training split only, so no label or image lookup can reach the test set).
DATA_FILTERS = {"data/files/mnist10k.npz": "coursekit.data.mnist:grading_archive"}
VIEW_VERSION = "2"  # part of the cache key: bump when what a view holds changes beyond the package's files
STUB_MESSAGE = "{qualified} is not available while grading: write this part yourself"


def _stub(name: str, qualified: str, kind: str) -> ast.stmt:
    message = STUB_MESSAGE.format(qualified=qualified)
    if kind == "class":
        text = (f"class {name}:\n"
                f"    def __new__(cls, *args, **kwargs):\n        raise NotImplementedError({message!r})\n")
    else:
        text = f"def {name}(*args, **kwargs):\n    raise NotImplementedError({message!r})\n"
    return ast.parse(text).body[0]


def rewrite_source(source: str, module: str, names) -> str:
    """The module's source with each of names (top-level definitions) replaced by a raising stub.

    Raises ValueError naming any name that is not defined at the top level (a typo would leave code visible).
    """
    tree = ast.parse(source)
    wanted, found = set(names), set()
    body = []
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name in wanted:
            found.add(node.name)
            body.append(_stub(node.name, f"{module}.{node.name}",
                              "class" if isinstance(node, ast.ClassDef) else "function"))
            continue
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            hit = [t.id for t in targets if isinstance(t, ast.Name) and t.id in wanted]
            if hit:
                for name in hit:
                    found.add(name)
                    body.append(_stub(name, f"{module}.{name}", "function"))
                continue
        body.append(node)
    missing = sorted(wanted - found)
    if missing:
        raise ValueError(f"KERNEL_HIDES: {module} defines no top-level {', '.join(missing)}")
    tree.body = body
    return ast.unparse(ast.fix_missing_locations(tree)) + "\n"


def _module_file(module: str, package_dir: Path) -> Path:
    parts = module.split(".")
    if parts[0] != package_dir.name:
        raise ValueError(f"KERNEL_HIDES: {module} is not a module of {package_dir.name}")
    base = package_dir.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    raise ValueError(f"KERNEL_HIDES: no module {module} in {package_dir}")


def _package_files(package_dir: Path) -> list[Path]:
    files = []
    for folder, dirs, names in os.walk(package_dir):
        rel = Path(folder).relative_to(package_dir)
        dirs[:] = sorted(d for d in dirs if d != "__pycache__" and not (rel == Path(".") and d in LEFT_OUT)
                         and not d.endswith(".egg-info"))
        for name in sorted(names):
            path = Path(folder) / name
            if name.endswith((".pyc", ".pyo")) or path.is_symlink() or not path.is_file():
                continue
            files.append(path)
    return files


def _data_filter(spec: str):
    import importlib

    module, _, function = spec.partition(":")
    return getattr(importlib.import_module(module), function)


def build_view(hides: dict, cache_root: Path | None = None, package_dir: Path = PACKAGE_DIR) -> Path:
    """The folder to mount as the kernel's coursekit; built if this (hides, package contents) has none yet."""
    files = _package_files(package_dir)
    key = hashlib.sha256(json.dumps({"hides": {k: sorted(v) for k, v in sorted(hides.items())},
                                     "filters": DATA_FILTERS, "version": VIEW_VERSION}, sort_keys=True).encode())
    for path in files:
        info = path.stat()
        key.update(f"{path.relative_to(package_dir)}:{info.st_size}:{info.st_mtime_ns}\n".encode())
    cache_root = Path(cache_root or Path(tempfile.gettempdir()) / f"coursekit-views-{os.getuid()}")
    cache_root.mkdir(mode=0o755, exist_ok=True)
    info = os.lstat(cache_root)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        # in a shared /tmp another user could have planted the folder, and with it the code kernels run
        raise RuntimeError(f"{cache_root} is not a folder of this user's: remove it")
    os.chmod(cache_root, 0o755)
    target = cache_root / key.hexdigest()[:24] / package_dir.name
    if target.is_dir():
        return target
    rewritten = {_module_file(module, package_dir): rewrite_source(_module_file(module, package_dir).read_text(),
                                                                   module, names)
                 for module, names in hides.items()}
    building = Path(tempfile.mkdtemp(prefix="building-", dir=cache_root))
    try:
        out = building / package_dir.name
        for path in files:
            dest = out / path.relative_to(package_dir)
            dest.parent.mkdir(parents=True, exist_ok=True)
            relative = path.relative_to(package_dir).as_posix()
            if path in rewritten:
                dest.write_text(rewritten[path])
            elif relative in DATA_FILTERS:
                dest.write_bytes(_data_filter(DATA_FILTERS[relative])(path.read_bytes()))
            else:
                shutil.copyfile(path, dest)
        # bytecode of the view itself, so a kernel imports as fast as from the installed package
        compileall.compile_dir(str(out), quiet=2, workers=1)
        for folder, _, names in os.walk(building):
            os.chmod(folder, 0o755)
            for name in names:
                os.chmod(Path(folder) / name, 0o644)
        try:
            os.rename(building, target.parent)   # atomic: parallel graders never see a half-built view
        except OSError:                          # another worker finished first
            shutil.rmtree(building, ignore_errors=True)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    return target
