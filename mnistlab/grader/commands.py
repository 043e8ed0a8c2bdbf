"""The grading commands of ``mnistlab``: ``check`` (students) and ``grade`` (instructors).

Instructor guide: ``book/07_instructor_guide.md``.

Commands (``mnistlab COMMAND --help`` for the options):

``mnistlab check NOTEBOOK``
    For students: run a notebook from top to bottom in a fresh kernel, exactly as
    the autograder runs it (nbgrader's ``Execute``, the course's cell timeouts),
    and report each graded function's points and the verdict of its visible
    tests. Exit status 0 only if every visible test passes.
``mnistlab similarity ASSIGNMENT``
    For instructors: the copy detection ``grade`` runs after grading, on its own
    (:mod:`mnistlab.grader.similarity`).
``mnistlab secret``
    For instructors: create the course secret the hidden tests' per-student inputs are derived from
    (:mod:`mnistlab.grader.course_secret`); ``grade`` creates it on first use.
``mnistlab grade ASSIGNMENT``
    For instructors: a class's submissions (``submitted/<student>/<assignment>/``
    in the course folder, or LMS zip downloads with ``--zip``, through
    ``nbgrader zip_collect``) to autograded notebooks, per-student feedback HTML
    (no hidden test code) and a CSV with the points of every graded function.

This module only parses arguments; the work is in :mod:`mnistlab.grader.selfcheck` and
:mod:`mnistlab.grader.grade`, imported when a command runs (nbgrader takes seconds to import, and every
``mnistlab`` command builds this parser). The pieces the course's ``nbgrader_config.py`` names are in
:mod:`mnistlab.grader.settings`, :mod:`mnistlab.grader.feedback` and :mod:`mnistlab.grader.grades`.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

from mnistlab.checks import GRADED


#: The modules ``mnistlab check`` needs beyond the package's own dependencies, all brought by the
#: ``student`` extra (nbgrader's executor, and the kernel it starts).
STUDENT_MODULES = ("nbformat", "nbclient", "nbgrader", "jupyter_client", "ipykernel", "traitlets")
#: What the instructor's commands need on top of those (the ``course`` extra): the copy detection's fingerprints.
COURSE_MODULES = ("copydetect",)


def missing_extra_message(command: str, exc: ImportError, extra: str) -> str | None:
    """What to install when ``exc`` says a module of the ``extra`` is missing; None for any other ImportError."""
    name = (getattr(exc, "name", None) or "").split(".")[0]
    if name not in STUDENT_MODULES + COURSE_MODULES:
        return None
    return (f"mnistlab {command}: error: {name} is not installed; `mnistlab {command}` needs the "
            f"{extra} tools. Install them into this environment with:\n\n"
            f"    python -m pip install \"mnistlab[{extra}]\"\n")


def needs_extra(extra: str):
    """Decorate a command handler: a missing module of ``extra`` ends it with what to install (exit status 2)."""

    def decorate(handler):
        @functools.wraps(handler)
        def run(args) -> int:
            try:
                return handler(args)
            except ImportError as exc:
                message = missing_extra_message(args.command, exc, extra)
                if message is None:
                    raise
                print(message, file=sys.stderr)
                return 2

        return run

    return decorate


@needs_extra("student")
def cmd_check(args) -> int:
    path = Path(args.notebook)
    if not path.is_file():
        print(f"mnistlab check: no such notebook: {path}", file=sys.stderr)
        return 2
    from mnistlab.grader.selfcheck import NotebookUnreadable, check_report, format_check, run_graded_cells
    try:
        verdicts = run_graded_cells(path)
    except NotebookUnreadable as exc:
        print(f"mnistlab check: error: {exc}", file=sys.stderr)
        return 2
    passed = bool(verdicts) and all(v.passed for v in verdicts)
    if args.json:
        import json

        print(json.dumps(check_report(path, verdicts), indent=2))
    else:
        print(format_check(path, verdicts))
    return 0 if passed else 1


@needs_extra("course")
def cmd_grade(args) -> int:
    from mnistlab.grader.grade import grade_assignment
    from mnistlab.grader.grades import format_points
    from mnistlab.grader.pool import parse_shard

    try:
        report = grade_assignment(
            args.course, args.assignment, students=args.student or None, zips=args.zip or (),
            feedback=not args.no_feedback, csv_path=args.to, jobs=args.jobs, regrade=args.regrade,
            timeout=args.timeout, progress=not args.no_progress,
            shard=parse_shard(args.shard) if args.shard else None, merge_from=args.merge_from or (),
        )
    except (FileNotFoundError, ValueError, RuntimeError) as exc:
        print(f"mnistlab grade: error: {exc}", file=sys.stderr)
        return 1
    if report.rows:
        columns = [c for c in report.columns if c not in ("assignment", "timestamp", "flags", "similar_to")]
        widths = {c: max(len(c), *(len(str(format_points(r.get(c, "")))) for r in report.rows)) for c in columns}
        print()
        print("  ".join(f"{c:>{widths[c]}}" for c in columns))
        for row in report.rows:
            print("  ".join(f"{str(format_points(row.get(c, ''))):>{widths[c]}}" for c in columns))
    if report.item_table:
        print()
        print(report.item_table)
    if report.similarity_table:
        print()
        print(report.similarity_table)
    # Exit status 1 when a submission could not be graded or was flagged: the instructor must look at it.
    return 1 if report.errors or report.flags else 0


def cmd_secret(args) -> int:
    from mnistlab.grader.course import find_course
    from mnistlab.grader.course_secret import SecretError, ensure_secret, loose_permissions, secret_path

    try:
        course = find_course(args.course)
        _, created = ensure_secret(course)
    except (FileNotFoundError, SecretError) as exc:
        print(f"mnistlab secret: error: {exc}", file=sys.stderr)
        return 1
    path = secret_path(course)
    print(f"created the course secret {path}" if created else f"the course secret {path} exists (kept as it is)")
    warning = loose_permissions(course)
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


@needs_extra("course")
def cmd_export_grades(args) -> int:
    from mnistlab.grader.lms import RosterError, export_grades
    try:
        report = export_grades(args.course, args.lms, args.roster, args.to, assignments=args.assignment or None,
                               match=args.match)
    except (RosterError, FileNotFoundError, ValueError) as exc:
        print(f"mnistlab export-grades: error: {exc}", file=sys.stderr)
        return 1
    for path in report.files:
        print(f"{args.lms}: {path}")
    for line in report.warnings():
        print(f"warning: {line}", file=sys.stderr)
    return 1 if report.left_out or report.not_in_roster else 0


@needs_extra("course")
def cmd_similarity(args) -> int:
    from mnistlab.grader.course import find_course
    from mnistlab.grader.similarity import format_summary, similarity_report, write_html

    try:
        course = find_course(args.course)
        report = similarity_report(course, args.assignment, students=args.student or None)
    except (FileNotFoundError, ValueError) as exc:
        print(f"mnistlab similarity: error: {exc}", file=sys.stderr)
        return 1
    write_html(report, Path(args.to) if args.to else course / "grades" / f"{args.assignment}-similarity.html")
    print(format_summary(report))
    return 0


def _add_course_argument(parser) -> None:
    parser.add_argument("--course", default=None,
                        help="the course folder with nbgrader_config.py (default: . or ./assignments)")


def add_commands(subparsers) -> None:
    """Add ``check`` and ``grade`` to the ``mnistlab`` command line."""
    check = subparsers.add_parser(
        "check",
        help="students: run an assignment notebook as the autograder does and report its visible tests",
        description="Run NOTEBOOK from top to bottom in a fresh kernel, exactly as the autograder runs it, "
                    "and report each graded function's points and the verdict of its visible tests "
                    "(the same verdict the autograder's visible tests give). Exit status 0 only if all pass.",
    )
    check.add_argument("notebook", help="the assignment notebook, e.g. a2_relu_softmax.ipynb")
    check.add_argument("--json", action="store_true",
                       help="print the verdicts as JSON (for scripts and editors) instead of the table")
    check.set_defaults(handler=cmd_check)

    grade = subparsers.add_parser(
        "grade",
        help="instructors: autograde a class's submissions, write feedback and a per-function grades CSV",
        description="Autograde every submission of ASSIGNMENT (submitted/<student>/ASSIGNMENT/ in the course "
                    "folder, or the notebooks in LMS zip downloads given with --zip), generate each student's "
                    "feedback HTML (without hidden tests) and write the points of every graded function to "
                    "grades/ASSIGNMENT.csv. The hidden tests draw each student's random inputs from the course "
                    "secret, <course>/.mnistlab-secret, which the first run creates (see `mnistlab secret`).",
    )
    grade.add_argument("assignment", choices=list(GRADED), help="the assignment")
    _add_course_argument(grade)
    grade.add_argument("--zip", action="append", metavar="FILE",
                       help="an LMS download of submissions (repeatable), collected with nbgrader zip_collect")
    grade.add_argument("--student", action="append", metavar="ID", help="grade only this student (repeatable)")
    grade.add_argument("--to", default=None, help="the CSV to write (default: <course>/grades/ASSIGNMENT.csv)")
    grade.add_argument("--no-feedback", action="store_true", help="skip the feedback HTML")
    grade.add_argument("--jobs", "-j", type=int, default=None,
                       help="submissions graded in parallel (default: the number of CPU cores)")
    grade.add_argument("--regrade", action="store_true",
                       help="grade again the submissions already graded from the same files (default: keep them, "
                            "so an interrupted run resumes where it stopped)")
    grade.add_argument("--timeout", type=float, default=None,
                       help="wall-clock seconds one submission may take before its processes are killed and it gets "
                            "a flagged zero row (default: twice the time limits of its graded functions and of one more "
                            "cell, plus a minute)")
    grade.add_argument("--no-progress", action="store_true", help="one line per submission instead of a progress bar")
    grade.add_argument("--shard", metavar="K/N", default=None,
                       help="grade only shard K of N of the class (a stable hash of the student id), for grading "
                            "on N machines; see assignments/README.md")
    grade.add_argument("--merge-from", action="append", metavar="COURSE",
                       help="instead of grading, merge the submissions graded in this copy of the course (a shard; "
                            "repeatable) into this course's gradebook, autograded/ and feedback/")
    grade.set_defaults(handler=cmd_grade)

    secret = subparsers.add_parser(
        "secret",
        help="instructors: create the course secret the hidden tests draw each student's inputs from",
        description="Create <course>/.mnistlab-secret (32 random bytes as hex, mode 0600) if the course has none; "
                    "an existing secret is never replaced or printed. The hidden tests' random inputs are derived "
                    "from it per student (HMAC-SHA256 of the assignment and student id), so no one can compute "
                    "them in advance. `mnistlab grade` and nbgrader's autograde create it on first use, so this "
                    "command is needed only to make it before copying the course (e.g. to shard grading). "
                    "Keep it with gradebook.db: a new secret draws new inputs for everyone.",
    )
    _add_course_argument(secret)
    secret.set_defaults(handler=cmd_secret)

    similarity = subparsers.add_parser(
        "similarity",
        help="instructors: which submissions of each graded function are alike, or copies of the reference",
        description="Compare every graded function of ASSIGNMENT's submissions with each other and with the "
                    "published reference (names, comments, whitespace and statement order ignored, the starter "
                    "code excluded) and write grades/ASSIGNMENT-similarity.html with the pairs side by side. "
                    "Flags only: no points change. `mnistlab grade` does the same after grading.",
    )
    similarity.add_argument("assignment", choices=list(GRADED), help="the assignment")
    _add_course_argument(similarity)
    similarity.add_argument("--student", action="append", metavar="ID", help="only this student (repeatable)")
    similarity.add_argument("--to", default=None,
                            help="the HTML report to write (default: <course>/grades/ASSIGNMENT-similarity.html)")
    similarity.set_defaults(handler=cmd_similarity)

    export = subparsers.add_parser(
        "export-grades",
        help="instructors: the gradebook's scores as a CSV that Canvas, Moodle or Gradescope imports",
        description="Write the scores of the course's gradebook in the import format of LMS, mapping nbgrader "
                    "student ids to the platform's users through ROSTER (the CSV the platform exports). "
                    "Flagged or rejected submissions go into Moodle's feedback column; Canvas and Gradescope "
                    "imports have none, so those students are left out with a warning (exit status 1).",
    )
    export.add_argument("lms", choices=["canvas", "moodle", "gradescope"], help="the platform")
    export.add_argument("assignment", nargs="*", help="the assignments (default: all in the gradebook)")
    export.add_argument("--roster", required=True, metavar="CSV",
                        help="the roster the platform exports (Canvas: Grades > Export; Moodle: Export > Plain text "
                             "file; Gradescope: Roster > Download)")
    export.add_argument("--match", default=None, metavar="COLUMN",
                        help="the roster column that holds the nbgrader student ids (default: Canvas 'SIS Login ID', "
                             "Moodle 'ID number', Gradescope 'SID')")
    _add_course_argument(export)
    export.add_argument("--to", default=None,
                        help="the CSV to write (default: <course>/grades/<lms>.csv; Gradescope: a folder "
                             "<course>/grades/gradescope/ with one <assignment>.csv each)")
    export.set_defaults(handler=cmd_export_grades)
