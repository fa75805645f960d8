"""The `coursekit` command line: `coursekit doctor`, `coursekit course`."""

from __future__ import annotations

import argparse
import os
import sys


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="coursekit", description="coursekit: tools for students and instructors")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("doctor", help="check that Python, numpy, torch, Jupyter and nbgrader are ready")
    kernel = sub.add_parser("kernel", help="the course's Jupyter kernel (thread settings for shared machines)")
    kernel.add_argument("action", choices=["install"], help="register the 'coursekit' kernelspec")
    kernel.add_argument("--user", action="store_true", help="in your Jupyter data directory (default: this env)")
    kernel.add_argument("--prefix", default=None, help="install under PREFIX/share/jupyter (default: sys.prefix)")
    course = sub.add_parser("course", help="the instructor's main job: release, autograde the samples, export grades")
    course.add_argument("--root", default=".", help="repository root (default: current directory)")
    course.add_argument("--jobs", type=int, default=None, help="submissions graded at once (default: CPU count)")
    course.add_argument("--keep-samples", action="store_true", help="do not regenerate course/submitted/")
    course.add_argument("--no-sandbox", action="store_true",
                        help="grade without the bubblewrap sandbox (student code runs with your rights)")

    release = sub.add_parser("release", help="generate the student version of assignments into the release "
                             "directory (assignments/ here; release/ in a stock nbgrader course)")
    release.add_argument("assignments", nargs="*", help="default: every assignment of the source directory")
    release.add_argument("--root", default=".", help="a repository like this one (course/ inside) or an nbgrader "
                         "course directory (default: current directory)")

    autograde = sub.add_parser("autograde", help="autograde the submitted directory's submissions, sandboxed")
    autograde.add_argument("assignment", nargs="?", help="default: every assignment")
    autograde.add_argument("--student", action="append", help="only these students (repeatable)")
    autograde.add_argument("--jobs", type=int, default=None)
    autograde.add_argument("--no-sandbox", action="store_true",
                           help="grade without the bubblewrap sandbox (student code runs with your rights)")
    autograde.add_argument("--root", default=".")
    where = autograde.add_mutually_exclusive_group()
    where.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="grade on the Dask cluster whose scheduler is at ADDRESS (e.g. tcp://HOST:8786, or the "
                            "JSON file of `dask scheduler --scheduler-file`); the workers must see the course at the "
                            "same path (a shared filesystem)")
    where.add_argument("--cluster", default=None, metavar="local:N",
                       help="grade on a new local Dask cluster of N worker processes")

    collect = sub.add_parser("collect", help="collect submissions from an LMS download (zip) into submitted/")
    collect.add_argument("assignment")
    collect.add_argument("archive", help="the zip file downloaded from the learning-management system")
    collect.add_argument("--pattern", default=None,
                         help="nbgrader's FileNameCollectorPlugin.named_regexp: matched against each file's path, "
                              "with (?P<student_id>...) and (?P<file_id>...) groups (default: Canvas's file names)")
    collect.add_argument("--force", action="store_true", help="replace submissions collected before")
    collect.add_argument("--root", default=".")

    feedback = sub.add_parser("feedback", help="HTML feedback for graded submissions (hidden tests stay hidden)")
    feedback.add_argument("assignment")
    feedback.add_argument("--student", action="append", required=True)
    feedback.add_argument("--root", default=".")

    export = sub.add_parser("export", help="write course/grades.csv and print the grade table")
    export.add_argument("--to", default=None)
    export.add_argument("--root", default=".")

    check = sub.add_parser("check", help="run your notebook exactly as the autograder will, and say what passes")
    check.add_argument("notebook")
    check.add_argument("--release", default=None, help="the released notebook to compare with (found if omitted)")
    args = parser.parse_args(argv)
    if getattr(args, "no_sandbox", False):
        os.environ["COURSEKIT_NO_SANDBOX"] = "1"  # inherited by the nbgrader processes

    if args.command == "doctor":
        from .doctor import main as doctor_main

        return doctor_main()
    if args.command == "kernel":
        from .kernel import install

        print(f"installed the coursekit kernel in {install(prefix=args.prefix, user=args.user)}")
        return 0
    if args.command == "course":
        from .course import run_course

        return run_course(args.root, jobs=args.jobs, regenerate_samples=not args.keep_samples)
    if args.command == "check":
        from .course.presubmit import main as check_main

        return check_main(args.notebook, args.release)
    from .course.pipeline import Course, NbgraderError, grade_table, read_grades

    try:
        course = Course(args.root)
        if args.command == "release":
            for assignment in args.assignments or course.assignments():
                print(f"released {assignment} -> {course.release(assignment)}")
        elif args.command == "autograde":
            pairs = [(s, a) for s, a in course.submissions()
                     if (args.assignment in (None, a)) and (not args.student or s in args.student)]
            if args.scheduler or args.cluster:
                from .course.distributed import autograde_distributed

                results = autograde_distributed(course, pairs, scheduler=args.scheduler, cluster=args.cluster)
            else:
                results = course.autograde(pairs, jobs=args.jobs or os.cpu_count() or 1)
            return 1 if any(not r.ok for r in results) else 0
        elif args.command == "collect":
            from .course.collect import DEFAULT_PATTERN, collect

            print(collect(course, args.assignment, args.archive, pattern=args.pattern or DEFAULT_PATTERN,
                          force=args.force))
        elif args.command == "feedback":
            for student in args.student:
                print(f"feedback for {student}: {course.feedback(args.assignment, student)}")
        elif args.command == "export":
            path = course.export(args.to)
            print(grade_table(read_grades(path)))
            print(f"written to {path}")
    except (NbgraderError, RuntimeError, ValueError) as exc:
        print(f"coursekit {args.command}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
