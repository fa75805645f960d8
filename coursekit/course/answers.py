"""The answer channel, read on the grader's side: cases written for the kernel, answers and records read back.

The files live in the kernel's scratch folder (its grading area, laid out by ``coursekit.grading.wire``) and are
written by code the grader does not trust, so they are read without following any link, regular files only,
size-bounded, and decoded with ``wire.decode_value`` (no pickle, numbers only).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ..grading.wire import (
    ANSWERS,
    CASES,
    MAX_VALUE_BYTES,
    RECORDS,
    WireError,
    answer_file,
    case_file,
    decode_value,
    encode_value,
    record_file,
)
from .judging import Missing, Raised

__all__ = ["write_cases", "read_answers", "read_records", "MAX_RECORDS"]

MAX_RECORDS = 256                   # records one test cell may leave
MAX_ANSWER_FILE = MAX_VALUE_BYTES + (1 << 20)
MAX_CELL_BYTES = 512 << 20          # all answers of one test cell together


def write_cases(grading_dir: Path, grade_id: str, cases: list) -> None:
    """The cases of one cell, written by the grader before the kernel starts."""
    if not isinstance(cases, list) or not all(isinstance(c, dict) for c in cases):
        raise ValueError(f"check {grade_id!r} must return a list of dicts as its cases")
    folder = Path(grading_dir) / CASES
    folder.mkdir(parents=True, exist_ok=True)
    (folder / case_file(grade_id)).write_bytes(encode_value(cases))


def _open_dir(parent_fd: int | None, name: str) -> int | None:
    try:
        return os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=parent_fd)
    except OSError:  # absent, a link, or not a folder: nothing there to read
        return None


def _read_regular(dir_fd: int, name: str, limit: int = MAX_ANSWER_FILE) -> bytes | None:
    """The bytes of a regular file in dir_fd, never following a link, never more than limit."""
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > limit:
            return None
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks) if size <= limit else None
    finally:
        os.close(fd)


def _answer_folder(grading_dir: Path, kind: str, grade_id: str) -> int | None:
    top = _open_dir(None, str(grading_dir))
    if top is None:
        return None
    try:
        middle = _open_dir(top, kind)
    finally:
        os.close(top)
    if middle is None:
        return None
    try:
        return _open_dir(middle, grade_id)
    finally:
        os.close(middle)


def read_answers(grading_dir: Path, grade_id: str, n_cases: int) -> list:
    """One entry per case: the decoded value, a Raised, or Missing (nothing, or nothing readable, came back)."""
    answers = [Missing] * n_cases
    folder = _answer_folder(grading_dir, ANSWERS, grade_id)
    if folder is None:
        return answers
    budget = MAX_CELL_BYTES  # what one cell's answers may take of the grader's memory
    try:
        for index in range(n_cases):
            data = _read_regular(folder, answer_file(index), min(MAX_ANSWER_FILE, budget))
            if data is None:
                continue
            budget -= len(data)
            try:
                wrapped = decode_value(data)
            except (WireError, ValueError, RecursionError):
                continue
            if isinstance(wrapped, dict) and set(wrapped) == {"value"}:
                answers[index] = wrapped["value"]
            elif (isinstance(wrapped, dict) and set(wrapped) == {"raised"} and isinstance(wrapped["raised"], tuple)
                  and len(wrapped["raised"]) == 2 and all(isinstance(p, str) for p in wrapped["raised"])):
                answers[index] = Raised(*wrapped["raised"])
    finally:
        os.close(folder)
    return answers


def read_records(grading_dir: Path, grade_id: str) -> dict:
    """key -> value of what grading.record(grade_id, key, value) left (at most MAX_RECORDS, unreadable skipped)."""
    records = {}
    folder = _answer_folder(grading_dir, RECORDS, grade_id)
    if folder is None:
        return records
    try:
        names = sorted(n for n in os.listdir(folder) if n.endswith(".npz"))[:MAX_RECORDS]
        budget = MAX_CELL_BYTES
        for name in names:
            data = _read_regular(folder, name, min(MAX_ANSWER_FILE, budget))
            if data is None:
                continue
            budget -= len(data)
            try:
                wrapped = decode_value(data)
            except (WireError, ValueError, RecursionError):
                continue
            if isinstance(wrapped, dict) and set(wrapped) == {"key", "value"} and isinstance(wrapped["key"], str):
                if name == record_file(wrapped["key"]):
                    records[wrapped["key"]] = wrapped["value"]
    finally:
        os.close(folder)
    return records

