"""``mnistlab grade``: every submission of an assignment graded, its feedback, the grades CSV, the item analysis.

Instructor guide: ``book/07_instructor_guide.md``. The parallel workers, the one gradebook writer and
resuming are :mod:`mnistlab.grader.pool`; one submission (preflight, autograde in a guarded kernel,
isolated re-check, the lower verdict) is :mod:`mnistlab.grader.worker`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from mnistlab.checks import GRADED
from mnistlab.grader.course import (
    collect_zips,
    course_api,
    ensure_released,
    environment,
    find_course,
    load_course_config,
    submitted_students,
    tools_env,
)
from mnistlab.grader.grades import grade_rows, write_grades_csv
from mnistlab.grader.settings import KERNEL_ENV


@dataclass
class GradeReport:
    """What :func:`grade_assignment` did."""

    assignment: str
    seconds: dict = field(default_factory=dict)  #: student -> wall seconds of the submission's grading
    errors: dict = field(default_factory=dict)  #: student -> why it could not be graded (status rejected/error)
    flags: dict = field(default_factory=dict)  #: student -> reasons the instructor should look at it
    results: dict = field(default_factory=dict)  #: student -> the full result (mnistlab.grader.worker)
    csv_path: Path | None = None
    columns: list = field(default_factory=list)
    rows: list = field(default_factory=list)
    items: dict = field(default_factory=dict)  #: the item analysis files: txt, csv, png
    item_table: str = ""
    similarity: object = None  #: the copy detection (mnistlab.grader.similarity.SimilarityReport)
    similarity_table: str = ""
    wall_seconds: float = 0.0
    jobs: int = 1
    skipped: list = field(default_factory=list)


def grade_assignment(course, assignment: str, *, students=None, zips=(), feedback=True, csv_path=None, jobs=None,
                     regrade=False, isolated=True, timeout=None, progress=True, shard=None, merge_from=(),
                     log=print) -> GradeReport:
    """Grade every submission of ``assignment`` in parallel; write feedback, the CSV and the item analysis.

    See :mod:`mnistlab.grader.pool` (parallel workers, one gradebook writer,
    resumable) and :mod:`mnistlab.grader.worker` (one submission: preflight,
    autograde in a guarded kernel, isolated re-check, the lower verdict).
    """
    course = find_course(course)
    if assignment not in GRADED:
        raise ValueError(f"unknown assignment {assignment!r}; the course has {', '.join(GRADED)}")
    config, env = load_course_config(course)
    with environment({**KERNEL_ENV, **env, **tools_env()}):
        return _grade(course, config, assignment, students, zips, feedback, csv_path, jobs, regrade, isolated,
                      timeout, progress, shard, merge_from, log)


def _grade(course, config, assignment, students, zips, feedback, csv_path, jobs, regrade, isolated, timeout,
           progress, shard, merge_from, log) -> GradeReport:
    from mnistlab.grader.pool import PoolReport, grade_class, in_shard, merge_shards, recorded_result

    if zips:
        collect_zips(course, assignment, zips, log=log)
    if not merge_from:
        from mnistlab.grader.os_sandbox import warn_once

        warn_once(log)  # without the OS sandbox: a loud warning, once; the workers flag every row
    api = course_api(config)
    ensure_released(api, assignment)
    ungraded = []
    if merge_from:
        merge_shards(course, assignment, merge_from, log=log)
        todo = sorted(students or submitted_students(course, assignment))
        pool = PoolReport(assignment)
        pool.results = {s: r for s in todo if (r := recorded_result(course, assignment, s)) is not None}
        # A shard whose task died before the end leaves students with no result and no CSV row: say so.
        ungraded = [s for s in todo if s not in pool.results]
        if ungraded:
            log(f"{len(ungraded)} submission(s) of {assignment} were graded in none of the shards: "
                f"{', '.join(ungraded)}. Run their shards' tasks again (a shard resumes where it stopped) "
                "and merge again.")
    else:
        _course_secret(course, shard, log)
        todo = sorted(students or submitted_students(course, assignment))
        if shard:
            todo = [s for s in todo if in_shard(s, shard)]
        if not todo:
            raise FileNotFoundError(f"no submissions in {course / 'submitted'}/<student>/{assignment}/"
                                    + (f" in shard {shard[0]}/{shard[1]}" if shard else ""))
        pool = grade_class(course, assignment, todo, jobs=jobs, regrade=regrade, isolated=isolated,
                           feedback=feedback, timeout=timeout, progress=progress, log=log)
        log(f"graded {len(pool.graded)} submission(s) of {assignment} in {pool.wall_seconds:.1f} s with "
            f"{pool.jobs} worker(s)" + (f"; {len(pool.skipped)} kept from an earlier run" if pool.skipped else ""))
    report = GradeReport(assignment, results=pool.results, wall_seconds=pool.wall_seconds, jobs=pool.jobs,
                         skipped=pool.skipped)
    for student, result in pool.results.items():
        report.seconds[student] = result.get("seconds", {}).get("total", 0.0)
        if result["status"] != "graded":
            report.errors[student] = result["flags"][0] if result["flags"] else result["status"]
        if result.get("flags"):
            report.flags[student] = list(result["flags"])
    for student in ungraded:
        report.errors[student] = "graded in none of the merged shards"
    if feedback:
        log(f"feedback: {course / 'feedback'}/<student>/{assignment}/{assignment}.html")
    with api.gradebook as gb:
        report.columns, report.rows = grade_rows(gb, assignments=[assignment], students=todo)
    for row in report.rows:
        result = pool.results.get(row["student_id"], {})
        row["status"] = result.get("status", "not graded")
        row["flags"] = " | ".join(result.get("flags", []))
    report.columns += ["status", "flags"]
    report.similarity = _similarity(course, assignment, report.rows, log)
    if report.similarity is not None:
        report.columns.append("similar_to")
    report.csv_path = write_grades_csv(csv_path or course / "grades" / f"{assignment}.csv", report.columns, report.rows)
    log(f"grades: {report.csv_path}")
    records = [pool.results[s] for s in todo if s in pool.results]
    if records:
        from mnistlab.grader.item_analysis import analyze, format_table, write_report

        report.items = write_report(records, Path(report.csv_path).parent, assignment, functions=list(GRADED[assignment]))
        report.item_table = format_table(analyze(records, functions=list(GRADED[assignment])))
        log(f"item analysis: {', '.join(str(p) for p in report.items.values())}")
    if report.similarity is not None:
        from mnistlab.grader.similarity import format_summary, write_html

        log(f"similarity: {write_html(report.similarity, Path(report.csv_path).parent / f'{assignment}-similarity.html')}")
        report.similarity_table = format_summary(report.similarity)
    for student, reasons in sorted(report.flags.items()):
        log(f"\nFLAGGED {student}:")
        for reason in reasons:
            log(f"  - {reason}")
    return report


def _course_secret(course, shard, log) -> None:
    """Make sure the course secret exists (made here on first use, before any worker needs it) and is readable.

    A shard never makes one: every machine must grade with the secret of the course it was copied
    from, or the same student would get other hidden inputs on a regrade.
    """
    from mnistlab.grader.course_secret import SecretError, ensure_secret, loose_permissions, read_secret, secret_path

    try:
        if shard:
            read_secret(course)
            created = False
        else:
            _, created = ensure_secret(course)
    except SecretError as exc:
        hint = (" (with --shard the secret must come with the copy of the course: run `mnistlab secret` on the "
                "machine that released the assignment before copying the course)") if shard else ""
        raise RuntimeError(f"{exc}{hint}") from None
    if created:
        log(f"created the course secret {secret_path(course)}: the hidden tests draw each student's inputs "
            "from it; keep it (back it up with gradebook.db), and never share it")
    warning = loose_permissions(course)
    if warning:
        log(f"warning: {warning}")


def _similarity(course, assignment, rows, log):
    """The copy detection of the whole class's submissions (flags only: never a point; also with ``--student``
    or ``--shard``, whose students are compared with everyone); each row gets its ``similar_to``."""
    try:
        from mnistlab.grader.similarity import similarity_report

        found = similarity_report(course, assignment)
    except Exception as exc:  # noqa: BLE001 -- the grades are written whatever the copy detection does
        log(f"similarity: skipped ({type(exc).__name__}: {exc})"
            + ("; install copydetect (the course extra) for the copy detection" if isinstance(exc, ImportError) else ""))
        return None
    similar = found.similar_to()
    for row in rows:
        row["similar_to"] = " ".join(similar.get(row["student_id"], []))
    return found


# ---------------------------------------------------------------------------
# Checking a notebook before submitting
# ---------------------------------------------------------------------------
