"""A release never overwrites a student's work: what `coursekit release` wrote is recorded, and a released notebook
that differs from it is moved aside (to a backup folder the message names) before nbgrader writes the new release.

Students of this repository work in ``assignments/``, the folder ``release`` regenerates (nbgrader's
``generate_assignment --force`` deletes it first). So ``release`` remembers, in the course's release history
(``release_history.json``), a digest of every notebook it wrote, under a ``"written"`` key beside the history's
``"assignments"`` (readers of the history look at ``"assignments"`` only, so older readers are unaffected, and a
history without ``"written"`` still loads). Before the next release, every notebook in the release folder is
compared with that digest:

* equal: the release as written (outputs and metadata aside): replaced silently;
* different (a student typed into it, or it cannot be read): copied to ``<release dir>/<assignment>.backup-<time>/``
  before anything is generated, and named in the message;
* no digest recorded (a history from before this record, or a notebook copied in by hand): copied aside first, and
  the copy removed again if the notebook turns out equal to what the new release writes, so the first release
  under this rule moves nothing that is the release itself.

The digest is over what a student writes, the type and source of each cell in order: running cells (outputs,
execution counts) or opening the notebook (metadata) does not make it "filled in"; any typed change does.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["notebook_digest", "load_written", "record_written", "protect", "Protected"]

WRITTEN_KEY = "written"


def notebook_digest(path) -> str | None:
    """sha256 over the (cell type, source) of every cell of the notebook at path; None when it is not a readable
    notebook (then it is never taken for the release)."""
    try:
        nb = json.loads(Path(path).read_text(encoding="utf-8"))
        cells = [(c.get("cell_type"), c.get("source", "")) for c in nb["cells"]]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    cells = [(kind, "".join(source) if isinstance(source, list) else source) for kind, source in cells]
    return "sha256:" + hashlib.sha256(json.dumps(cells, ensure_ascii=False).encode("utf-8")).hexdigest()


def _read(history_path: Path) -> dict:
    try:
        return json.loads(Path(history_path).read_text())
    except FileNotFoundError:
        return {}


def load_written(history_path) -> dict:
    """{assignment: {notebook file name: digest}} of the last release written; {} for an older history."""
    written = _read(history_path).get(WRITTEN_KEY, {})
    return written if isinstance(written, dict) else {}


def record_written(history_path, assignment: str, release_folder, earlier: dict | None = None) -> None:
    """Record the digest of every notebook of release_folder as what the last release of assignment wrote,
    keeping everything else the history holds (and the other assignments' records of earlier, a load_written()
    taken before something rewrote the history without them). Written atomically."""
    history_path = Path(history_path)
    data = _read(history_path)
    data.setdefault("format", 1)
    data.setdefault("assignments", {})
    written = data.setdefault(WRITTEN_KEY, {})
    for other, notebooks in (earlier or {}).items():
        written.setdefault(other, notebooks)
    written[assignment] = {p.name: notebook_digest(p) for p in sorted(Path(release_folder).glob("*.ipynb"))}
    partial = history_path.with_name(history_path.name + ".partial")
    partial.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    os.replace(partial, history_path)


@dataclass
class Protected:
    """What ``protect`` set aside for one release: call ``settle()`` after the release was generated."""
    assignment: str
    backup: Path | None = None
    moved: list = field(default_factory=list)       # notebook names whose work is in backup
    unproven: list = field(default_factory=list)    # names set aside only because no digest was recorded

    def settle(self, release_folder) -> list[str]:
        """After generation: drop the copies of unrecorded notebooks equal to the new release; return one message
        per notebook kept aside (empty when nothing was)."""
        release_folder = Path(release_folder)
        for name in list(self.unproven):
            copy = self.backup / name
            if notebook_digest(copy) is not None and notebook_digest(copy) == notebook_digest(release_folder / name):
                copy.unlink()
                self.moved.remove(name)
        if self.backup is not None and self.backup.is_dir() and not any(self.backup.iterdir()):
            self.backup.rmdir()
            self.backup = None
        return [f"{self.assignment}/{name} had been changed since it was released: your version is kept in "
                f"{self.backup / name}" for name in self.moved]


def protect(history_path, release_folder, assignment: str, now: datetime.datetime | None = None) -> Protected:
    """Before a release regenerates release_folder: copy every notebook in it that differs from (or has no record
    of) what the last release wrote into a backup folder beside it. Nothing is deleted here."""
    release_folder = Path(release_folder)
    result = Protected(assignment)
    if not release_folder.is_dir():
        return result
    recorded = load_written(history_path).get(assignment, {})
    stamp = (now or datetime.datetime.now()).strftime("%Y%m%d-%H%M%S")
    for path in sorted(release_folder.glob("*.ipynb")):
        if path.is_symlink() or not path.is_file():
            continue
        expected = recorded.get(path.name)
        digest = notebook_digest(path)
        if expected is not None and digest == expected:
            continue
        if result.backup is None:
            result.backup = _free(release_folder.with_name(f"{release_folder.name}.backup-{stamp}"))
            result.backup.mkdir(parents=True)
        shutil.copy2(path, result.backup / path.name)
        result.moved.append(path.name)
        if expected is None and digest is not None:
            result.unproven.append(path.name)
    return result


def _free(path: Path) -> Path:
    candidate, k = path, 1
    while candidate.exists():
        k += 1
        candidate = path.with_name(f"{path.name}-{k}")
    return candidate
