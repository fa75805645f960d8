"""What `coursekit check` and the Validate button tell a student, verdict first.

One report for both (``lab_validate`` shows the text ``presubmit`` prints): the first line is the verdict, per part
of the notebook ("Part 1: pass; Parts 2-5: not started. 4 of 20 points from visible tests."), then one line per
thing to do: a part not started is one TODO line, a failing test is its verdict with the first wrong value (the
message of the failed check; for an assert without a message, the assert itself and its line), never the starter
code or the test's source. The passing tests follow on one line.

A part is the notebook's division by its headings: the level of heading (``#``, ``##``, ...) whose sections
separate the graded cells, so "## Part 1 — Output sizes" in coursekit's assignments and any numbered sections of a
foreign course. A notebook with none is one part.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["CellResult", "Part", "Report", "build_report", "cell_results", "split_parts", "failure_message",
           "failed_line"]

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_MESSAGE_LINES = 3      # a failure shows the first lines of its message (numpy's are long), each cut at
_LINE_CHARS = 240


@dataclass
class CellResult:
    """One graded cell as the grader scores it. status: for a test cell "pass", "fail" or "timeout"; for a
    solution cell "todo" (still raises NotImplementedError), "error" (raised something else) or "done"."""

    grade_id: str
    kind: str
    status: str
    score: float = 0.0
    points: float = 0.0
    message: str = ""


@dataclass
class Part:
    title: str                      # the heading's text: "Part 2 — Parameters, memory and cost (6 points)"
    cells: list[CellResult] = field(default_factory=list)

    @property
    def name(self) -> str:
        """The part's short name: "Part 2", "Exercise 3", "2.1", else the title without its points."""
        match = re.match(r"((?:part|exercise|question|problem|task|section|step)\s+[\w.]+|\d+(?:\.\d+)*)",
                         self.title, flags=re.I)
        if match:
            return match.group(1).rstrip(".")
        short = re.split(r"\s+[—–-]\s+|:\s", self.title)[0]
        return re.sub(r"\s*\(\s*\d+(?:\.\d+)?\s+points?\s*\)\s*$", "", short).strip() or self.title

    def tests(self):
        return [c for c in self.cells if c.kind == "test"]

    def solutions(self):
        return [c for c in self.cells if c.kind == "solution"]

    @property
    def earned(self) -> float:
        return sum(c.score for c in self.tests())

    @property
    def possible(self) -> float:
        return sum(c.points for c in self.tests())

    @property
    def status(self) -> str:
        """"not started", "in progress", "failing", "pass" or "written" (solutions, no visible test)."""
        solutions, tests = self.solutions(), self.tests()
        todo = [c for c in solutions if c.status == "todo"]
        if solutions and len(todo) == len(solutions):
            return "not started"
        if todo:
            return "in progress"
        if any(c.status != "pass" for c in tests) or any(c.status == "error" for c in solutions):
            return "failing"
        return "pass" if tests else "written"

    def phrase(self) -> str:
        status = self.status
        if status in ("not started", "pass"):
            return status
        if status == "written":
            return "written (no visible test)"
        failing = sum(1 for c in self.tests() if c.status != "pass")
        points = f"{self.earned:g} of {_points(self.possible)}"
        if status == "in progress":
            return f"in progress, {points}"
        return f"{points}, {failing} test{'s' if failing != 1 else ''} failing" if failing else f"{points}, error"


def _plural_name(names: list[str]) -> str:
    """["Part 2", "Part 3", "Part 4"] -> "Parts 2-4"; anything else joined with commas."""
    if len(names) == 1:
        return names[0]
    numbered = [re.fullmatch(r"(\w+)\s+(\d+)", n) for n in names]
    if all(numbered) and len({m.group(1) for m in numbered}) == 1:
        numbers = [int(m.group(2)) for m in numbered]
        if numbers == list(range(numbers[0], numbers[0] + len(numbers))):
            return f"{numbered[0].group(1)}s {numbers[0]}-{numbers[-1]}"
        return f"{numbered[0].group(1)}s " + ", ".join(map(str, numbers))
    return ", ".join(names)


def failed_line(traceback) -> tuple[int, str] | None:
    """(line number, code) of the line of the executed cell that raised, from IPython's traceback (the first
    ``Cell In[...]`` frame is the cell itself; its ``---->`` marks the line); None when it cannot be read."""
    text = _ANSI.sub("", "\n".join(traceback or []))
    start = re.search(r"^(?:Cell In ?\[|Input In ?\[|<ipython-input-)", text, flags=re.M)
    if start is None:
        return None
    frame = text[start.end():]
    following = re.search(r"\n(?:Cell In ?\[|Input In ?\[|File |<ipython-input-|\s*\[\.\.\. skipping)", frame)
    frame = frame[:following.start()] if following else frame
    marked = re.search(r"^-+>\s*(\d+)\s(.*)$", frame, flags=re.M)
    return (int(marked.group(1)), marked.group(2).strip()) if marked else None


def failure_message(error: dict) -> str:
    """A failure as a student reads it: the error's message (its first lines), or, for an assert without a
    message, the assert that failed and its line."""
    ename = error.get("ename") or "Error"
    if ename == "CellTimeoutError":
        return "timed out (the cell used up its CPU-second limit)"
    lines = []
    for line in _ANSI.sub("", str(error.get("evalue") or "")).splitlines():
        line = line.strip()
        if not line:
            continue
        if lines and lines[-1].endswith(":"):  # numpy's "Mismatch at index:" and the index on the next line
            lines[-1] += " " + line
        else:
            lines.append(line)
    if lines:
        shown = [line if len(line) <= _LINE_CHARS else line[:_LINE_CHARS - 3] + "..." for line in lines]
        more = " ..." if len(lines) > _MESSAGE_LINES else ""
        message = "; ".join(shown[:_MESSAGE_LINES]) + more
        return message if ename in ("AssertionError", "HiddenTestFailed") else f"{ename}: {message}"
    where = failed_line(error.get("traceback"))
    if where is None:
        return f"{ename} (with no message)"
    number, code = where
    if ename == "AssertionError" and code.startswith("assert"):
        return f"line {number} failed: {code}"
    return f"{ename} (with no message) at line {number}: {code}"


def _is_todo(cell, errors) -> bool:
    return "raise NotImplementedError" in cell.source or any(e.get("ename") == "NotImplementedError"
                                                             for e in errors)


def cell_results(executed) -> list[tuple[int, CellResult]]:
    """(cell index, result) of every graded code cell of an executed notebook, scored with nbgrader's own rule
    (``determine_grade``), as the grader scores it."""
    from nbgrader.utils import determine_grade

    found = []
    for index, cell in enumerate(executed.cells):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type != "code" or not meta.get("grade_id"):
            continue
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        grade_id = meta["grade_id"]
        if meta.get("solution"):
            if _is_todo(cell, errors):
                found.append((index, CellResult(grade_id, "solution", "todo",
                                                message="still raises NotImplementedError")))
            elif errors:
                found.append((index, CellResult(grade_id, "solution", "error", message=failure_message(errors[0])
                                                if errors[0].get("evalue") else errors[0].get("ename", "Error"))))
            else:
                found.append((index, CellResult(grade_id, "solution", "done")))
        if meta.get("grade") and not meta.get("solution"):
            score, points = determine_grade(cell)
            score, points = float(score or 0.0), float(points or 0.0)
            if score >= points:
                found.append((index, CellResult(grade_id, "test", "pass", score, points)))
            elif errors:
                status = "timeout" if errors[0].get("ename") == "CellTimeoutError" else "fail"
                found.append((index, CellResult(grade_id, "test", status, score, points,
                                                failure_message(errors[0]))))
            else:
                found.append((index, CellResult(grade_id, "test", "fail", score, points,
                                                "it wrote to stderr, which nbgrader scores 0 in a test cell")))
    return found


def _headings(nb) -> list[tuple[int, int, str]]:
    """(cell index, level, text) of every markdown heading, in order."""
    found = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown":
            continue
        fence = False
        for line in cell.source.splitlines():
            if line.lstrip().startswith(("```", "~~~")):
                fence = not fence
            match = None if fence else re.match(r"(#{1,6})\s+(.+?)\s*#*\s*$", line)
            if match:
                found.append((index, len(match.group(1)), match.group(2).strip()))
    return found


def split_parts(nb, results: list[tuple[int, CellResult]]) -> list[Part]:
    """The notebook's parts holding graded cells, in order (see the module's docstring)."""
    headings = _headings(nb)
    title = next((text for _, level, text in headings if level == 1), "the notebook")
    for level in range(1, 7):
        marks = [(index, text) for index, lvl, text in headings if lvl <= level]
        sections = {_section(marks, index) for index, _ in results}
        if len(sections) > 1:
            break
    else:
        # one section holds every graded cell: the part is named by its deepest common heading
        for level in range(6, 0, -1):
            marks = [(index, text) for index, lvl, text in headings if lvl <= level]
            sections = {_section(marks, index) for index, _ in results}
            if len(sections) == 1 and None not in sections:
                title = next(iter(sections))[1]
                break
        return [Part(title, [r for _, r in results])] if results else []
    parts: dict[tuple, Part] = {}
    for index, result in results:
        section = _section(marks, index)
        parts.setdefault(section, Part(section[1] if section else title)).cells.append(result)
    return list(parts.values())


def _section(marks, index) -> tuple[int, str] | None:
    """(cell index, text) of the last heading in marks at or before the cell index, or None."""
    current = None
    for at, text in marks:
        if at > index:
            break
        current = (at, text)
    return current


@dataclass
class Report:
    """The check's findings: parts with their cells, what changed against the release, and notes."""

    notebook: str
    parts: list[Part]
    changes: list[str] = field(default_factory=list)
    release_note: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def earned(self) -> float:
        return sum(p.earned for p in self.parts)

    @property
    def possible(self) -> float:
        return sum(p.possible for p in self.parts)

    @property
    def all_pass(self) -> bool:
        return all(p.status in ("pass", "written") for p in self.parts) and not self.changes

    def summary(self) -> str:
        """The verdict: each part's state, runs of parts in the same state together, then the points."""
        groups: list[tuple[str, list[str]]] = []
        for part in self.parts:
            phrase = part.phrase()
            if groups and groups[-1][0] == phrase and phrase in ("pass", "not started", "written (no visible test)"):
                groups[-1][1].append(part.name)
            else:
                groups.append((phrase, [part.name]))
        states = "; ".join(f"{_plural_name(names)}: {phrase}" for phrase, names in groups) or "no graded cells"
        return f"{states}. {self.earned:g} of {_points(self.possible)} from visible tests."

    def details(self) -> list[str]:
        """One line per thing to do, in the notebook's order, then the passing tests."""
        lines = []
        for part in self.parts:
            if part.status == "not started":
                todo = [c.grade_id for c in part.solutions()]
                verb = "still raises" if len(todo) == 1 else "still raise"
                lines.append(f"TODO  {_clean(part.title)}: not started ({', '.join(todo)} {verb} "
                             "NotImplementedError)")
                continue
            for cell in part.cells:
                if cell.status == "todo":
                    lines.append(f"TODO  {cell.grade_id} ({part.name}): still raises NotImplementedError")
                elif cell.status == "error":
                    lines.append(f"ERROR {cell.grade_id} ({part.name}): {cell.message}")
                elif cell.kind == "test" and cell.status != "pass":
                    lines.append(f"FAIL  {cell.grade_id} ({part.name}, {cell.score:g} / {cell.points:g}): "
                                 f"{cell.message}")
        passing = [c.grade_id for p in self.parts for c in p.tests() if c.status == "pass"]
        lines.append(f"passing: {', '.join(passing) if passing else 'none yet'}")
        return lines

    def text(self) -> str:
        """What `coursekit check` prints and Validate shows: the verdict line first."""
        out = [f"coursekit check {self.notebook}: {self.summary()}"]
        out += [f"  {line}" for line in self.details()]
        if self.changes:
            out.append(f"{self.release_note or 'compared with the release'}; changed or deleted cells:")
            out += [f"  {line}" for line in self.changes]
        elif self.release_note:
            out.append(self.release_note)
        out += self.notes
        out.append("Hidden tests run when your work is graded: passing the visible ones is necessary, not sufficient.")
        return "\n".join(out)


def _points(points: float) -> str:
    return f"{points:g} point{'' if points == 1 else 's'}"


def _clean(title: str) -> str:
    return re.sub(r"[*_`]", "", title)


def build_report(notebook_name: str, executed) -> Report:
    results = cell_results(executed)
    return Report(notebook_name, split_parts(executed, results))
