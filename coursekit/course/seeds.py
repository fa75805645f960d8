"""Seeds the kernel cannot derive: the course's grading secret and the per-(student, assignment, cell) seed."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

__all__ = ["course_secret", "seed_for"]


def course_secret(course_dir: Path) -> bytes:
    """The course's grading secret (created once, readable by the instructor only; never inside a kernel)."""
    path = Path(course_dir) / "grading_secret"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32) + "\n")
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd) as f:
        return f.read().strip().encode()


def seed_for(secret: bytes, student: str, assignment: str, grade_id: str) -> int:
    """A seed the kernel cannot derive: an HMAC of (student, assignment, cell) under the course's secret."""
    message = "\x00".join((student, assignment, grade_id)).encode()
    return int.from_bytes(hmac.new(secret, message, hashlib.sha256).digest()[:16], "little")

