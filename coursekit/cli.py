"""The `coursekit` command line: `coursekit doctor`, `coursekit course`."""

from __future__ import annotations

import argparse
import sys


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="coursekit", description="coursekit: tools for students and instructors")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("doctor", help="check that Python, numpy, torch, Jupyter and nbgrader are ready")
    course = sub.add_parser("course", help="the instructor's main job: release, autograde, export grades")
    course.add_argument("--root", default=".", help="repository root (default: current directory)")
    course.add_argument("--timeout", type=int, default=300, help="seconds per notebook cell when executing lectures")
    args = parser.parse_args(argv)

    if args.command == "doctor":
        from .doctor import main as doctor_main

        return doctor_main()
    if args.command == "course":
        from .course import run_course

        return run_course(args.root, timeout=args.timeout)
    parser.error(f"unknown command {args.command}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
