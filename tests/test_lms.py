"""Grades for Canvas, Moodle and Gradescope: the files ``mnistlab export-grades`` writes, against example
files written by hand from each platform's documentation (``tests/data/lms/``).

The end-to-end run on a real graded class (flags and rejections from ``mnistlab grade``) is in
``tests/test_hostile_grading.py``.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from mnistlab.grader.lms import FORMATS, RosterError, export, read_roster

DATA = Path(__file__).resolve().parent / "data" / "lms"
ASSIGNMENTS = ["a1_data", "a2_relu_softmax"]
MAX = {"a1_data": 10.0, "a2_relu_softmax": 10.0}
#: The gradebook's rows (as mnistlab.grader.grades.grade_rows gives them) and mnistlab grade's records.
ROWS = [
    {"assignment": "a1_data", "student_id": "lovelaceada", "score": 10.0},
    {"assignment": "a1_data", "student_id": "babbagecharles", "score": 6.0},
    {"assignment": "a1_data", "student_id": "hoppergrace", "score": 4.0},
    {"assignment": "a1_data", "student_id": "hackerbob", "score": 2.0},
    {"assignment": "a2_relu_softmax", "student_id": "lovelaceada", "score": 10.0},
    {"assignment": "a2_relu_softmax", "student_id": "babbagecharles", "score": 0.0},
    {"assignment": "a2_relu_softmax", "student_id": "hoppergrace", "score": 3.0},
    {"assignment": "a2_relu_softmax", "student_id": "hackerbob", "score": 0.0},
]
RESULTS = {
    ("a2_relu_softmax", "babbagecharles"): {
        "status": "graded", "flags": ["relu: passed in the notebook but failed its isolated re-check"]},
    ("a1_data", "lovelaceada"): {"status": "graded", "flags": []},
}


def _export(tmp_path, lms, dest_name):
    roster = read_roster(DATA / f"{lms}_roster.csv", lms)
    return export(ROWS, RESULTS, roster, lms, tmp_path / dest_name, assignments=ASSIGNMENTS, max_scores=MAX)


def _rows(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def test_canvas_file_matches_the_example_and_leaves_flagged_students_out(tmp_path):
    report = _export(tmp_path, "canvas", "canvas.csv")
    assert _rows(report.files[0]) == _rows(DATA / "canvas_expected.csv")
    assert set(report.left_out) == {"babbagecharles"} and "isolated re-check" in report.left_out["babbagecharles"]
    assert report.not_in_roster == ["hackerbob"] and report.not_in_gradebook == ["turingalan"]
    warnings = "\n".join(report.warnings())
    assert "left out babbagecharles" in warnings and "hackerbob" in warnings and "turingalan" in warnings


def test_moodle_file_matches_the_example_and_carries_flags_as_feedback(tmp_path):
    report = _export(tmp_path, "moodle", "moodle.csv")
    assert _rows(report.files[0]) == _rows(DATA / "moodle_expected.csv")
    assert not report.left_out  # Moodle's import takes feedback: nothing is left out


def test_gradescope_writes_one_file_per_assignment(tmp_path):
    report = _export(tmp_path, "gradescope", "gradescope")
    assert [p.name for p in report.files] == ["a1_data.csv", "a2_relu_softmax.csv"]
    assert _rows(report.files[1]) == _rows(DATA / "gradescope_expected_a2_relu_softmax.csv")
    assert _rows(report.files[0])[0] == ["Name", "SID", "Email", "Score"]
    assert set(report.left_out) == {"babbagecharles"}


def test_a_roster_without_the_platforms_columns_is_refused_with_what_to_do(tmp_path):
    wrong = tmp_path / "roster.csv"
    wrong.write_text("name,email\nAda,ada@example.edu\n")
    with pytest.raises(RosterError, match="no column 'Student'.*use the CSV Canvas exports.*--match"):
        read_roster(wrong, "canvas")
    with pytest.raises(RosterError, match="no column 'Username'"):
        read_roster(DATA / "moodle_roster.csv", "moodle", match="Username")


def test_a_roster_that_names_a_student_twice_is_refused(tmp_path):
    twice = tmp_path / "roster.csv"
    twice.write_text((DATA / "gradescope_roster.csv").read_text() + "Ada L.,lovelaceada,ada2@example.edu,Student,\n")
    with pytest.raises(RosterError, match="lists SID 'lovelaceada' twice"):
        read_roster(twice, "gradescope")


def test_match_chooses_the_roster_column_with_the_nbgrader_ids():
    roster = read_roster(DATA / "moodle_roster.csv", "moodle", match="Email address")
    assert set(roster) == {"ada@example.edu", "charles@example.edu", "grace@example.edu", "alan@example.edu"}
    assert all(f.default_match in f.id_columns for f in FORMATS.values())
