"""The points of every graded function, read from nbgrader's gradebook: the rows of ``grades/<a>.csv``.

:class:`PerFunctionCsvExport` is the course's ``nbgrader export`` plugin (``nbgrader_config.py``).
"""

from __future__ import annotations

import csv
from pathlib import Path

from nbgrader.plugins import ExportPlugin

from mnistlab.checks import GRADED, grade_id


_FUNCTION_OF_GRADE_ID = {grade_id(f): f for functions in GRADED.values() for f in functions}


def function_name(cell_name: str) -> str:
    """The graded function of an autograder cell (``test_relu`` -> ``relu``)."""
    return _FUNCTION_OF_GRADE_ID.get(cell_name, cell_name)


def grade_rows(gradebook, assignments=None, students=None) -> tuple[list[str], list[dict]]:
    """Per-function points of every (student, assignment), read from the gradebook.

    Returns the CSV columns and one dict per row: ``assignment``,
    ``student_id``, ``timestamp``, ``score``, ``max_score``, then one column
    per graded function (blank where a function belongs to another assignment;
    0 for a missing submission).
    """
    from nbgrader.api import MissingEntry

    rows, functions = [], []
    for assignment in sorted(gradebook.assignments, key=lambda a: a.name):
        if assignments and assignment.name not in assignments:
            continue
        cells = [cell for nb in assignment.notebooks for cell in nb.grade_cells]
        for cell in cells:
            name = function_name(cell.name)
            if name not in functions:
                functions.append(name)
        for student in sorted(gradebook.students, key=lambda s: s.id):
            if students and student.id not in students:
                continue
            row = {"assignment": assignment.name, "student_id": student.id, "max_score": assignment.max_score}
            try:
                submission = gradebook.find_submission(assignment.name, student.id)
            except MissingEntry:
                row.update(timestamp="", score=0.0, **{function_name(c.name): 0.0 for c in cells})
            else:
                row.update(timestamp=submission.timestamp or "", score=submission.score)
                for nb in submission.notebooks:
                    for grade in nb.grades:
                        row[function_name(grade.name)] = grade.score
            rows.append(row)
    columns = ["assignment", "student_id", "timestamp", "score", "max_score", *functions]
    return columns, rows


def write_grades_csv(path, columns, rows) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns, restval="")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: format_points(v) for k, v in row.items()})
    return path


def format_points(value):
    """Points as the CSV and the terminal table show them (``1`` rather than ``1.0``)."""
    if isinstance(value, float):
        return f"{value:g}"
    return value



class PerFunctionCsvExport(ExportPlugin):
    """``nbgrader export`` plugin: one row per student and assignment, one column per graded function."""

    def export(self, gradebook) -> None:
        dest = self.to or "grades.csv"
        columns, rows = grade_rows(
            gradebook,
            assignments=[str(a) for a in self.assignment] or None,
            students=[str(s) for s in self.student] or None,
        )
        write_grades_csv(dest, columns, rows)
        self.log.info("Exported the points per function of %d submissions to %s", len(rows), dest)
