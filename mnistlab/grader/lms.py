"""Grades for a learning platform: the gradebook's scores in the CSV import formats of Canvas, Moodle and Gradescope.

Instructor guide: ``book/07_instructor_guide.md``; ``mnistlab export-grades --help``.

nbgrader knows students by its own ids (the folder names under ``submitted/``); a platform knows them
by its user ids. The mapping is a **roster**: the CSV the instructor downloads from the platform
(Canvas: *Grades > Export*; Moodle: *Grades > Export > Plain text file*; Gradescope: *Roster >
Download*). One of its columns holds the nbgrader id (``--match``; by default the column each
platform uses for the institution's login: Canvas ``SIS Login ID``, Moodle ``ID number``, Gradescope
``SID``); the export copies the platform's own identifying columns from the roster's row.

A flagged, rejected or ungradable submission is not exported as if it were a plain score: Moodle gets
the score with the reasons in the item's feedback column, which its import maps to the grade's
feedback; Canvas and Gradescope have no such column in their imports, so those students are left out
of the file (their grades stay as they are in the platform) and listed in a warning, for the
instructor to enter after looking at them. Students of the gradebook missing from the roster, and the
roster's students without a row in the gradebook, are listed too; nothing is guessed.

Formats (from each platform's documentation of its CSV import):

- Canvas gradebook import: ``Student, ID, SIS User ID, SIS Login ID, Section`` then one column per
  assignment, and a ``Points Possible`` row under the header.
- Moodle grade import: the identifying columns of its export (``First name, Last name, ID number,
  Email address``), then per grade item a score column and a ``<item> feedback`` column.
- Gradescope score upload: ``Name, SID, Email, Score``; one file per assignment.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class LMSFormat:
    """What one platform's import needs: the roster's identifying columns and the default match column."""

    name: str
    id_columns: tuple[str, ...]
    default_match: str
    #: True if the import has a per-item feedback column (flags go there); False: flagged students are left out.
    feedback_column: bool
    #: True if one file holds several assignments.
    several_assignments: bool


FORMATS = {
    "canvas": LMSFormat("Canvas", ("Student", "ID", "SIS User ID", "SIS Login ID", "Section"), "SIS Login ID",
                        feedback_column=False, several_assignments=True),
    "moodle": LMSFormat("Moodle", ("First name", "Last name", "ID number", "Email address"), "ID number",
                        feedback_column=True, several_assignments=True),
    "gradescope": LMSFormat("Gradescope", ("Name", "SID", "Email"), "SID",
                            feedback_column=False, several_assignments=False),
}


class RosterError(ValueError):
    """The roster CSV cannot be used: what is wrong and how to get the right file."""


@dataclass
class Export:
    """An export: the CSV files written and what the instructor must look at."""

    files: list = field(default_factory=list)
    left_out: dict = field(default_factory=dict)  #: nbgrader id -> why it is not in the file(s)
    not_in_roster: list = field(default_factory=list)  #: nbgrader ids with grades but no roster row
    not_in_gradebook: list = field(default_factory=list)  #: roster ids without a row in the gradebook

    def warnings(self) -> list[str]:
        out = []
        for student, why in sorted(self.left_out.items()):
            out.append(f"left out {student}: {why}; enter this grade by hand after looking at it")
        if self.not_in_roster:
            out.append("in the gradebook but not in the roster (not exported): " + ", ".join(self.not_in_roster))
        if self.not_in_gradebook:
            out.append("in the roster but without grades (not exported): " + ", ".join(self.not_in_gradebook))
        return out


def read_roster(path, lms: str, match: str | None = None) -> dict[str, dict]:
    """nbgrader id -> the roster's row, keyed by the ``match`` column of the platform's roster CSV.

    Raises :class:`RosterError` when a required column is missing or an id appears twice.
    """
    fmt = FORMATS[lms]
    match = match or fmt.default_match
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:  # -sig: exports opened and saved by Excel
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise RosterError(f"cannot read the roster {path}: {exc}") from None
    columns = set(rows[0]) if rows else set()
    missing = [c for c in (*fmt.id_columns, match) if c not in columns]
    if missing:
        raise RosterError(f"the roster {path.name} has no column {', '.join(repr(c) for c in missing)}: use the "
                          f"CSV {fmt.name} exports (its columns: {', '.join(fmt.id_columns)}), and --match to name "
                          "the column that holds the nbgrader student ids")
    roster: dict[str, dict] = {}
    for row in rows:
        key = (row.get(match) or "").strip()
        if not key or key.lower() == "points possible" or (row.get(fmt.id_columns[0]) or "").strip() == "Points Possible":
            continue
        if key in roster:
            raise RosterError(f"the roster {path.name} lists {match} {key!r} twice: fix the roster or choose "
                              "another --match column")
        roster[key] = row
    return roster


def _points(value) -> str:
    """Points as every grades file writes them (:func:`mnistlab.grader.grades.format_points`); missing is 0."""
    from mnistlab.grader.grades import format_points

    return format_points(float(value or 0))


def _problem(result: dict | None) -> str | None:
    """Why a student's grade needs the instructor (flagged, rejected, error), from ``mnistlab grade``'s record."""
    if not result:
        return None
    if result.get("status") not in (None, "graded"):
        return f"{result['status']}: " + " | ".join(result.get("flags") or [result["status"]])
    if result.get("flags"):
        return "flagged: " + " | ".join(result["flags"])
    return None


def export(rows: list[dict], results: dict, roster: dict[str, dict], lms: str, dest, *,
           assignments: list[str], max_scores: dict[str, float]) -> Export:
    """Write the grades of ``rows`` for ``lms`` to ``dest`` (a file; for Gradescope a folder, one file each).

    Parameters
    ----------
    rows : list of dict
        Per (student, assignment): ``student_id``, ``assignment``, ``score`` (as
        :func:`mnistlab.grader.grades.grade_rows` returns them).
    results : dict
        ``(assignment, student) -> mnistlab grade's result record`` (status and flags), where there is one.
    roster : dict
        nbgrader id -> roster row (:func:`read_roster`).
    assignments : list of str
        The assignments, in column order.
    max_scores : dict
        assignment -> its points possible.
    """
    fmt = FORMATS[lms]
    report = Export()
    scores: dict[str, dict[str, float]] = {}
    problems: dict[str, dict[str, str]] = {}
    for row in rows:
        student, assignment = row["student_id"], row["assignment"]
        scores.setdefault(student, {})[assignment] = row["score"]
        problem = _problem(results.get((assignment, student)))
        if problem:
            problems.setdefault(student, {})[assignment] = problem
    report.not_in_roster = sorted(s for s in scores if s not in roster)
    report.not_in_gradebook = sorted(s for s in roster if s not in scores)
    students = [s for s in roster if s in scores]  # in the roster's order, as the platform lists them
    if not fmt.feedback_column:
        for s in students:
            if s in problems:
                report.left_out[s] = "; ".join(f"{a} {why}" for a, why in sorted(problems[s].items()))
        students = [s for s in students if s not in report.left_out]
    dest = Path(dest)
    if lms == "canvas":
        header = [*fmt.id_columns, *assignments]
        points = ["    Points Possible", *[""] * (len(fmt.id_columns) - 1), *[_points(max_scores[a]) for a in assignments]]
        body = [[roster[s][c] for c in fmt.id_columns] + [_points(scores[s].get(a)) for a in assignments]
                for s in students]
        report.files.append(_write(dest, [header, points, *body]))
    elif lms == "moodle":
        header = [*fmt.id_columns]
        for a in assignments:
            header += [a, f"{a} feedback"]
        body = []
        for s in students:
            line = [roster[s][c] for c in fmt.id_columns]
            for a in assignments:
                line += [_points(scores[s].get(a)), problems.get(s, {}).get(a, "")]
            body.append(line)
        report.files.append(_write(dest, [header, *body]))
    else:  # gradescope: one assignment per file
        for a in assignments:
            target = dest / f"{a}.csv" if len(assignments) > 1 or dest.suffix != ".csv" else dest
            body = [[roster[s][c] for c in fmt.id_columns] + [_points(scores[s].get(a))] for s in students
                    if a in scores[s]]
            report.files.append(_write(target, [[*fmt.id_columns, "Score"], *body]))
    return report


def _write(path: Path, lines) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(lines)
    return path


def export_grades(course, lms: str, roster_path, dest=None, *, assignments=None, match=None) -> Export:
    """Read the course's gradebook and ``mnistlab grade``'s records, and write ``lms``'s import file(s).

    ``dest``: the file to write (Gradescope: a folder, one CSV per assignment); default
    ``<course>/grades/<lms>.csv`` (``<course>/grades/gradescope/``). ``assignments``: the assignments to
    export (default: every assignment in the gradebook).
    """
    from mnistlab.checks import GRADED
    from mnistlab.grader.course import course_api, find_course, load_course_config
    from mnistlab.grader.grades import grade_rows
    from mnistlab.grader.pool import recorded_result

    course = find_course(course)
    if dest is None:
        dest = course / "grades" / (lms if not FORMATS[lms].several_assignments else f"{lms}.csv")
    roster = read_roster(roster_path, lms, match)
    config, _ = load_course_config(course)
    api = course_api(config)
    with api.gradebook as gb:
        known = sorted(a.name for a in gb.assignments)
        wanted = list(assignments or known)
        unknown = [a for a in wanted if a not in known]
        if unknown:
            raise ValueError(f"no grades for {', '.join(unknown)} in {course / 'gradebook.db'}; the gradebook has "
                             f"{', '.join(known) or 'no assignment'} (grade it first: mnistlab grade ASSIGNMENT)")
        _, rows = grade_rows(gb, assignments=wanted)
        max_scores = {a.name: a.max_score for a in gb.assignments if a.name in wanted}
    order = [a for a in GRADED if a in wanted] + [a for a in wanted if a not in GRADED]
    results = {(a, r["student_id"]): recorded_result(course, a, r["student_id"]) for a in order for r in rows
               if r["assignment"] == a}
    return export(rows, {k: v for k, v in results.items() if v}, roster, lms, dest, assignments=order,
                  max_scores=max_scores)
