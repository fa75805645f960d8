"""`coursekit similarity ASSIGNMENT`: which students' answers are suspiciously alike, computed on this machine.

The students' answer cells (nbgrader solution cells, code) are compared pairwise as MOSS compares programs:

1. **Normalise** with Python's own ``tokenize``: comments, blank lines and line breaks inside brackets are dropped,
   strings become one token ``S``, and every name that is not a keyword, a builtin or an attribute becomes ``V``.
   Renaming variables and reformatting change nothing; keywords, operators, numbers, calls of library functions
   (attribute names such as ``.reshape``) and the structure (line ends, indentation) remain.
   (One token for all names rather than canonical names numbered by first use: reordering lines would renumber
   them, and reordering independent lines is the usual disguise.)
2. **Fingerprint** by winnowing (Schleimer, Wilkerson and Aiken, "Winnowing: local algorithms for document
   fingerprinting", SIGMOD 2003): hash every k-gram of tokens, keep the minimum hash of every window of w
   consecutive hashes (the rightmost on ties). Any common run of at least w + k - 1 tokens shares a fingerprint,
   and fingerprints are positions-free, so reordered lines still match line by line.
3. **Remove what is not the student's**: fingerprints of the release's own starter code of the same cell (MOSS's
   base file), and fingerprints that occur in at least ``common`` (default half) of the submissions (idioms
   every honest answer has; MOSS's ``-m``).
4. **Score** a pair by containment: shared fingerprints over the smaller answer's fingerprints; answers with fewer
   than ``min_fingerprints`` left are too short to judge and are never flagged.

Why implemented here: the one winnowing library on PyPI for this (copydetect, 0.5.0) has had no release since
March 2024, reads files from disk through pygments' generic lexers and brings jinja2 and tqdm with it; Python's own
tokenizer normalises Python exactly, and winnowing itself is about sixty lines (``tokens`` and ``winnow``).
Nothing is sent anywhere.
"""

from __future__ import annotations

import builtins
import hashlib
import io
import itertools
import keyword
import token as tok
import tokenize
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["tokens", "winnow", "Answer", "Pair", "compare", "load_answers", "similarity"]

K, WINDOW = 10, 6                 # a common run of >= 15 tokens (about one line of code) is always seen
_KEEP = set(keyword.kwlist) | set(dir(builtins))
_SKIP = {tok.COMMENT, tok.NL, tok.ENCODING, tok.ENDMARKER}


def tokens(source: str) -> list[tuple[str, int]]:
    """The normalised tokens of Python source, each with its line number (1-based). IPython magics and shell
    lines (``%``, ``!``) are skipped; code that does not tokenize to the end contributes what came before."""
    lines = [("" if line.lstrip().startswith(("%", "!")) else line) for line in source.splitlines(True)]
    out: list[tuple[str, int]] = []
    previous = None
    try:
        for t in tokenize.generate_tokens(io.StringIO("".join(lines)).readline):
            if t.type in _SKIP:
                continue
            if t.type == tok.NAME and t.string not in _KEEP and previous != ".":
                text = "V"
            elif t.type == tok.STRING or (t.type >= 0 and tok.tok_name.get(t.type, "").startswith("FSTRING")):
                text = "S"
            elif t.type == tok.NEWLINE:
                text = ";"
            elif t.type in (tok.INDENT, tok.DEDENT):
                text = tok.tok_name[t.type]
            else:
                text = t.string
            if text == "S" and out and out[-1][0] == "S":
                continue  # an f-string's parts, or adjacent literals: one string
            out.append((text, t.start[0]))
            previous = t.string
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass
    return out


def _hash(gram) -> int:
    return int.from_bytes(hashlib.blake2b("\x1f".join(gram).encode(), digest_size=8).digest(), "big")


def winnow(stream: list[tuple[str, int]], k: int = K, window: int = WINDOW) -> dict[int, set[int]]:
    """Winnowing fingerprints of a token stream: {hash: the source lines its k-gram covers}."""
    if len(stream) < k:
        return {}
    words = [t for t, _ in stream]
    hashes = [_hash(words[i:i + k]) for i in range(len(words) - k + 1)]
    chosen: dict[int, set[int]] = {}
    last = -1
    for start in range(max(1, len(hashes) - window + 1)):
        frame = hashes[start:start + window]
        low = min(frame)
        position = start + max(i for i, h in enumerate(frame) if h == low)   # rightmost minimum
        if position != last:
            last = position
            chosen.setdefault(hashes[position], set()).update(line for _, line in stream[position:position + k])
    return chosen


@dataclass
class Answer:
    """One student's answers to one assignment: {grade_id: source}, and their fingerprints per cell."""
    student: str
    cells: dict
    prints: dict = field(default_factory=dict)      # grade_id -> {hash: lines}

    def hashes(self) -> set:
        return {(cell, h) for cell, found in self.prints.items() for h in found}


@dataclass
class Pair:
    a: str
    b: str
    score: float                 # shared fingerprints / the smaller answer's
    shared: int
    matches: dict                # grade_id -> (lines of a, lines of b) that share fingerprints


def compare(answers: list, starter: dict | None = None, common: float = 0.5, min_fingerprints: int = 8,
            threshold: float = 0.5) -> list[Pair]:
    """Every pair of answers scoring at least threshold, highest first. starter: {grade_id: the release's source},
    whose fingerprints are removed; common: remove fingerprints that at least this fraction of answers have
    (only with four answers or more)."""
    base = {cell: set(winnow(tokens(source))) for cell, source in (starter or {}).items()}
    for answer in answers:
        answer.prints = {}
        for cell, source in answer.cells.items():
            found = winnow(tokens(source))
            answer.prints[cell] = {h: lines for h, lines in found.items() if h not in base.get(cell, ())}
    if len(answers) >= 4:
        counts: dict = {}
        for answer in answers:
            for key in answer.hashes():
                counts[key] = counts.get(key, 0) + 1
        frequent = {key for key, n in counts.items() if n >= common * len(answers)}
        for answer in answers:
            for cell in answer.prints:
                answer.prints[cell] = {h: v for h, v in answer.prints[cell].items() if (cell, h) not in frequent}
    pairs = []
    for one, two in itertools.combinations(sorted(answers, key=lambda a: a.student), 2):
        mine, theirs = one.hashes(), two.hashes()
        smaller = min(len(mine), len(theirs))
        if smaller < min_fingerprints:
            continue
        both = mine & theirs
        score = len(both) / smaller
        if score < threshold:
            continue
        matches = {}
        for cell, h in both:
            lines_a, lines_b = matches.setdefault(cell, (set(), set()))
            lines_a.update(one.prints[cell][h])
            lines_b.update(two.prints[cell][h])
        pairs.append(Pair(one.student, two.student, round(score, 3), len(both),
                          {c: (sorted(a), sorted(b)) for c, (a, b) in matches.items()}))
    return sorted(pairs, key=lambda p: (-p.score, p.a, p.b))


def _solution_cells(nb) -> dict:
    cells = {}
    for cell in nb.get("cells", []):
        meta = cell.get("metadata", {}).get("nbgrader", {}) or {}
        if cell.get("cell_type") == "code" and meta.get("solution") and meta.get("grade_id"):
            source = cell.get("source", "")
            cells[meta["grade_id"]] = "".join(source) if isinstance(source, list) else source
    return cells


def load_answers(course, assignment: str) -> tuple[list, dict]:
    """(every submitted answer of the assignment, the release's starter code), from the submitted notebooks."""
    import json

    starter = {}
    for name in course.release_notebook_names(assignment):
        starter.update(_solution_cells(course.release_notebook(assignment, name)))
    answers = []
    for student, a in course.submissions():
        if a != assignment:
            continue
        cells = {}
        for name in course.release_notebook_names(assignment):
            path = Path(course.submitted_dir) / student / assignment / name
            try:
                if path.is_symlink() or path.stat().st_size > 32 << 20:
                    continue
                cells.update(_solution_cells(json.loads(path.read_text(encoding="utf-8"))))
            except (OSError, ValueError, AttributeError):
                continue
        answers.append(Answer(student, {c: s for c, s in cells.items() if c in starter}))
    return answers, starter


def similarity(course, assignment: str, threshold: float = 0.5, **options) -> tuple[list, list, dict]:
    """(the pairs above threshold, the answers, the starter code) of one assignment."""
    answers, starter = load_answers(course, assignment)
    return compare(answers, starter, threshold=threshold, **options), answers, starter


def describe(pairs: list, assignment: str, n: int, threshold: float) -> str:
    lines = [f"similarity of {assignment}: {n} submission(s), {len(pairs)} pair(s) at or above {threshold:.0%}"]
    for p in pairs:
        cells = ", ".join(sorted(p.matches))
        lines.append(f"   {p.score:5.0%}  {p.a} ~ {p.b}   ({p.shared} shared fingerprints; cells {cells})")
    return "\n".join(lines)
