"""The `coursekit` command line: `coursekit doctor`, `coursekit course`."""

from __future__ import annotations

import argparse
import os
import sys


def _skip_slow_optional_imports() -> None:
    """jsonschema (under nbformat, so under every nbgrader import) imports rfc3987_syntax when it is installed, to
    check the "iri" string formats; that module builds a parser at import: about 1 s of CPU, half of `coursekit
    export` (measured with python -X importtime). No schema these commands validate (nbformat's) uses those
    formats, so in this process jsonschema is told the module is absent and skips them."""
    sys.modules.setdefault("rfc3987_syntax", None)


def _own_scripts_on_path() -> None:
    """nbgrader runs tools of this environment by name (``alembic`` when it opens a gradebook, ``jupyter``
    subcommands): its scripts folder goes first on PATH, so that ``.venv/bin/coursekit`` works without activating
    the environment (it used to stop at the first gradebook with FileNotFoundError: 'alembic')."""
    scripts = os.path.dirname(os.path.abspath(sys.executable))
    path = os.environ.get("PATH", "")
    if scripts not in path.split(os.pathsep):
        os.environ["PATH"] = os.pathsep.join([scripts, path]) if path else scripts


def main(argv=None) -> int:
    _skip_slow_optional_imports()
    _own_scripts_on_path()
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
    course.add_argument("--all-samples", action="store_true",
                        help="grade every sample (default: the representative set of course/samples.json)")
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
    layout = collect.add_mutually_exclusive_group()
    layout.add_argument("--lms", choices=["canvas", "moodle", "nbgrader"], default=None,
                        help="the download's layout (default: detected from the file names when only one fits)")
    layout.add_argument("--pattern", default=None,
                        help="instead, nbgrader's FileNameCollectorPlugin.named_regexp: matched against each file's "
                             "path, with (?P<student_id>...) and (?P<file_id>...) groups")
    collect.add_argument("--times", default=None, metavar="WORKSHEET.csv",
                         help="Moodle's grading worksheet: submission times from its 'Last modified (submission)'")
    collect.add_argument("--timezone", default=None, help="the time zone of the worksheet's times (default: local)")
    collect.add_argument("--force", action="store_true", help="replace submissions collected before")
    collect.add_argument("--root", default=".")

    feedback = sub.add_parser("feedback", help="HTML feedback for graded submissions (hidden tests stay hidden)")
    feedback.add_argument("assignment")
    feedback.add_argument("--student", action="append", required=True)
    feedback.add_argument("--root", default=".")

    export = sub.add_parser("export", help="write course/grades.csv and print the grade table")
    export.add_argument("--to", default=None)
    export.add_argument("--canvas-template", default=None, metavar="CANVAS_EXPORT.csv",
                        help="Canvas's gradebook export: its rows and columns kept, the scores filled in")
    export.add_argument("--canvas-column", action="append", default=[], metavar="ASSIGNMENT=COLUMN",
                        help="the Canvas column of an assignment whose name differs (repeatable)")
    export.add_argument("--moodle-template", action="append", default=[], metavar="ASSIGNMENT=WORKSHEET.csv",
                        help="Moodle's grading worksheet of an assignment, filled in (repeatable)")
    export.add_argument("--root", default=".")

    regrade = sub.add_parser("regrade", help="grade one submission again, show the per-cell difference and log it "
                             "(course/audit_log.jsonl); manual grades and comments are kept")
    regrade.add_argument("assignment")
    regrade.add_argument("--student", required=True)
    regrade.add_argument("--reason", required=True, help="why (goes into the audit log)")
    regrade.add_argument("--by", default=None, help="who regrades (default: your user name)")
    regrade.add_argument("--no-sandbox", action="store_true",
                         help="grade without the bubblewrap sandbox (student code runs with your rights)")
    regrade.add_argument("--root", default=".")

    similar = sub.add_parser("similarity", help="pairs of students whose answer cells are alike (winnowing, on this "
                             "machine; the release's starter code removed)")
    similar.add_argument("assignment")
    similar.add_argument("--threshold", type=float, default=0.5,
                         help="report pairs sharing at least this fraction of fingerprints (default 0.5)")
    similar.add_argument("--root", default=".")

    report = sub.add_parser("report", help="the class report: one self-contained HTML page with plots "
                            "(course/reports/)")
    report.add_argument("assignment", nargs="?", help="default: every assignment in the gradebook")
    report.add_argument("--to", default=None, help="the folder to write into (default: course/reports)")
    report.add_argument("--threshold", type=float, default=0.5, help="similarity threshold (default 0.5)")
    report.add_argument("--root", default=".")

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

        return run_course(args.root, jobs=args.jobs, regenerate_samples=not args.keep_samples,
                          all_samples=args.all_samples)
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
            from .course.collect import collect

            report = collect(course, args.assignment, args.archive, pattern=args.pattern, lms_name=args.lms,
                             force=args.force, times=args.times, timezone=args.timezone)
            print(report)
            if not report.collected:
                print(f"coursekit collect: nothing was collected from {args.archive}", file=sys.stderr)
                return 1
        elif args.command == "regrade":
            from .course.regrade import regrade

            print(regrade(course, args.assignment, args.student, args.reason, by=args.by))
        elif args.command == "similarity":
            from .course.similarity import describe, similarity

            if not 0 <= args.threshold <= 1:
                raise ValueError(f"--threshold {args.threshold}: a fraction between 0 and 1")
            pairs, answers, _ = similarity(course, args.assignment, threshold=args.threshold)
            print(describe(pairs, args.assignment, len(answers), args.threshold))
        elif args.command == "report":
            from .course.report import write_report

            page = write_report(course, args.assignment, folder=args.to, threshold=args.threshold)
            print(f"report written to {page}")
        elif args.command == "feedback":
            for student in args.student:
                print(f"feedback for {student}: {course.feedback(args.assignment, student)}")
        elif args.command == "export":
            from .course.lms import export_lms

            path = course.export(args.to)
            print(grade_table(read_grades(path)))
            paths, notes = export_lms(course, args.canvas_template, _pairs(args.canvas_column, "--canvas-column"),
                                      _pairs(args.moodle_template, "--moodle-template"))
            print(f"written to {path}; for Canvas's gradebook import {paths[0]}; for Moodle's grading worksheet "
                  f"upload {', '.join(str(p.name) for p in paths[1:])}")
            for note in notes:
                print(f"   note: {note}")
    except (NbgraderError, RuntimeError, ValueError) as exc:
        print(f"coursekit {args.command}: {exc}", file=sys.stderr)
        return 1
    return 0


def _pairs(values, option: str) -> dict:
    """NAME=VALUE arguments as a dict; ValueError naming the option for one without '='."""
    pairs = {}
    for value in values:
        name, sep, rest = value.partition("=")
        if not sep or not name:
            raise ValueError(f"{option} {value!r}: expected ASSIGNMENT=VALUE")
        pairs[name] = rest
    return pairs


if __name__ == "__main__":
    sys.exit(main())
