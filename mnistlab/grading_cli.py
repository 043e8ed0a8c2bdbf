"""The grading commands of ``mnistlab`` and the nbgrader pieces the course configures.

Instructor guide: ``book/07_instructor_guide.md``.

Commands (``mnistlab COMMAND --help`` for the options):

``mnistlab check NOTEBOOK``
    For students: run a notebook from top to bottom in a fresh kernel, exactly as
    the autograder runs it (nbgrader's ``Execute``, the course's cell timeouts),
    and report each graded function's points and the verdict of its visible
    tests. Exit status 0 only if every visible test passes.
``mnistlab grade ASSIGNMENT``
    For instructors: a class's submissions (``submitted/<student>/<assignment>/``
    in the course folder, or LMS zip downloads with ``--zip``, through
    ``nbgrader zip_collect``) to autograded notebooks, per-student feedback HTML
    (no hidden test code) and a CSV with the points of every graded function.

For nbgrader's own commands, the course's ``nbgrader_config.py`` uses
:func:`cell_timeout`, :data:`SUBMISSION_IGNORE`, :class:`ScrubHiddenTestOutputs`
and :class:`PerFunctionCsvExport` from here.
"""

from __future__ import annotations

import contextlib
import csv
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from mnistlab.grading import GRADED, grade_id

#: Seconds a notebook cell (and a graded function in the isolated re-check) may run before it is
#: interrupted (nbgrader's default). The environment variable MNISTLAB_CELL_TIMEOUT overrides it for
#: the instructor's runs (the tests use 5 s to keep endless loops short).
CELL_TIMEOUT = float(os.environ.get("MNISTLAB_CELL_TIMEOUT", 30))
#: Seconds for the training run of a5_sgd_momentum (it takes 2-30 s on 2 cores).
TRAINING_RUN_TIMEOUT = float(os.environ.get("MNISTLAB_TRAINING_RUN_TIMEOUT", 300))

#: Environment of the kernels that run submissions. One BLAS thread: submissions
#: are graded one after another, and on a busy machine OpenBLAS threads waiting
#: for each other make the a5 training run 10-20x slower (measured: 11 s instead
#: of 0.6 s per epoch with 2 threads against 1 while other jobs ran).
KERNEL_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

#: ``CourseDirectory.ignore``: files submitted next to a notebook that nbgrader
#: must not copy into the folder where the notebook runs. That folder is the
#: kernel's working directory, first on ``sys.path``, so anything importable
#: there would replace an installed module (a ``mnistlab/`` package or a
#: ``numpy.py`` would replace the code the tests import), and IPython reads
#: ``ipython_config.*`` / ``ipython_kernel_config.*`` from it. The assignments need
#: no files besides the notebook. The first four entries are nbgrader's defaults.
SUBMISSION_IGNORE = [
    ".ipynb_checkpoints",
    "*.pyc",
    "__pycache__",
    "feedback",
    "*.py",
    "*.pyw",
    "*.pyd",
    "*.so",
    "*.pth",
    "*.json",
    "mnistlab",
    "numpy",
]


def cell_timeout(cell) -> int:
    """Seconds a cell may run: :data:`TRAINING_RUN_TIMEOUT` for a5's training run, else :data:`CELL_TIMEOUT`.

    Used as ``Execute.timeout_func`` (nbclient calls it with each cell).
    """
    meta = cell.get("metadata", {}).get("nbgrader", {}) if hasattr(cell, "get") else {}
    return int(TRAINING_RUN_TIMEOUT if meta.get("grade_id") == grade_id("training_run") else CELL_TIMEOUT)


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def strip_ansi(text: str) -> str:
    """``text`` without terminal colour codes."""
    return _ANSI.sub("", text)


def _hidden_lines(source: str) -> list[str]:
    """The hidden region's lines (stripped, non-empty), and the two markers themselves."""
    lines, inside = ["BEGIN HIDDEN TESTS", "END HIDDEN TESTS"], False
    for line in source.split("\n"):
        if "BEGIN HIDDEN TESTS" in line:
            inside = True
        elif "END HIDDEN TESTS" in line:
            inside = False
        elif inside and line.strip():
            lines.append(line.strip())
    return lines


def _scrub(text: str, hidden: list[str]) -> str:
    kept = [line for line in text.split("\n") if not any(h in strip_ansi(line) for h in hidden)]
    return "\n".join(kept)


# ---------------------------------------------------------------------------
# Grades per function
# ---------------------------------------------------------------------------

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
            writer.writerow({k: _fmt_points(v) for k, v in row.items()})
    return path


def _fmt_points(value):
    if isinstance(value, float):
        return f"{value:g}"
    return value


# nbgrader takes seconds to import, and every `mnistlab` command imports this module to list its
# commands: the two classes nbgrader's configuration names are built on first access (PEP 562).


def _scrub_hidden_test_outputs_class():
    from nbgrader.preprocessors import NbGraderPreprocessor

    class ScrubHiddenTestOutputs(NbGraderPreprocessor):
        """Remove lines of hidden-test code that outputs quote (e.g. a traceback's context lines).

        Run before ``ClearHiddenTests`` in ``GenerateFeedback``: ``ClearHiddenTests``
        removes the hidden regions from the cells' code but not from their outputs.
        """

        def preprocess_cell(self, cell, resources, index):
            if cell.cell_type != "code" or "BEGIN HIDDEN TESTS" not in cell.source:
                return cell, resources
            hidden = _hidden_lines(cell.source)
            for output in cell.get("outputs", []):
                if output.output_type == "error":
                    output.traceback = [_scrub(entry, hidden) for entry in output.traceback]
                elif output.output_type == "stream":
                    output.text = _scrub(output.text, hidden)
                else:
                    for mime in ("text/plain", "text/html", "text/markdown"):
                        if mime in output.get("data", {}):
                            value = output.data[mime]
                            text = "".join(value) if isinstance(value, list) else value
                            output.data[mime] = _scrub(text, hidden)
            return cell, resources

    return ScrubHiddenTestOutputs


def _per_function_csv_export_class():
    from nbgrader.plugins import ExportPlugin

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

    return PerFunctionCsvExport


_LAZY_CLASSES = {
    "ScrubHiddenTestOutputs": _scrub_hidden_test_outputs_class,
    "PerFunctionCsvExport": _per_function_csv_export_class,
}


def __getattr__(name: str):
    if name in _LAZY_CLASSES:
        cls = _LAZY_CLASSES[name]()
        cls.__module__, cls.__qualname__ = __name__, name
        globals()[name] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ---------------------------------------------------------------------------
# The course and nbgrader's API
# ---------------------------------------------------------------------------


def find_course(course=None) -> Path:
    """The course folder: ``course``, else the current folder or its ``assignments/`` if it has the config."""
    candidates = [Path(course)] if course else [Path.cwd(), Path.cwd() / "assignments"]
    for folder in candidates:
        if (folder / "nbgrader_config.py").is_file():
            return folder.resolve()
    where = course or f"{Path.cwd()} or {Path.cwd() / 'assignments'}"
    raise FileNotFoundError(f"no nbgrader_config.py in {where}: pass the course folder with --course")


def load_course_config(course):
    """Load ``<course>/nbgrader_config.py`` as nbgrader would; return ``(config, env)``.

    ``env`` is what the config file set in ``os.environ`` (for the kernels); the
    environment of this process is left as it was.
    """
    from traitlets.config.loader import PyFileConfigLoader

    course = Path(course).resolve()
    saved = dict(os.environ)
    try:
        config = PyFileConfigLoader("nbgrader_config.py", path=str(course)).load_config()
        env = {k: v for k, v in os.environ.items() if saved.get(k) != v}
    finally:
        for key in set(os.environ) - set(saved):
            del os.environ[key]
        os.environ.update(saved)
    config.CourseDirectory.root = str(course)
    return config, env


def course_api(config):
    """An in-process ``NbGraderAPI`` for the course of ``config`` (quieter and twice as fast as the CLI)."""
    import logging

    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    config.NbGraderAPI.log_level = logging.WARNING
    coursedir = CourseDirectory(config=config)
    with contextlib.redirect_stderr(open(os.devnull, "w")):  # the exchange it probes is not used
        api = NbGraderAPI(coursedir=coursedir, config=config)
    return api


def tools_env() -> dict:
    """``PATH`` with this Python's ``bin`` first: nbgrader runs the ``alembic`` executable when it creates a
    gradebook, and ``nbgrader zip_collect`` is run as a command."""
    return {"PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")}


@contextlib.contextmanager
def environment(env: dict):
    """Set ``env`` in ``os.environ`` (inherited by the kernels started meanwhile), then restore it."""
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@dataclass
class GradeReport:
    """What :func:`grade_assignment` did."""

    assignment: str
    seconds: dict = field(default_factory=dict)  #: student -> wall seconds of the submission's grading
    errors: dict = field(default_factory=dict)  #: student -> why it could not be graded (status rejected/error)
    flags: dict = field(default_factory=dict)  #: student -> reasons the instructor should look at it
    results: dict = field(default_factory=dict)  #: student -> the full result (mnistlab.grading_worker)
    csv_path: Path | None = None
    columns: list = field(default_factory=list)
    rows: list = field(default_factory=list)
    items: dict = field(default_factory=dict)  #: the item analysis files: txt, csv, png
    item_table: str = ""
    wall_seconds: float = 0.0
    jobs: int = 1
    skipped: list = field(default_factory=list)


def ensure_released(api, assignment: str) -> None:
    """Make sure ``assignment`` is in the gradebook (``generate_assignment`` if it is not)."""
    from nbgrader.api import MissingEntry

    with api.gradebook as gb:
        try:
            gb.find_assignment(assignment)
            return
        except MissingEntry:
            pass
    result = api.generate_assignment(assignment)
    if not result["success"]:
        raise RuntimeError(f"nbgrader generate_assignment {assignment} failed:\n{result.get('error', '')}")


def collect_zips(course: Path, assignment: str, zips, log=print) -> None:
    """Copy LMS downloads into ``downloaded/<assignment>/archive/`` and run ``nbgrader zip_collect``."""
    archive = course / "downloaded" / assignment / "archive"
    archive.mkdir(parents=True, exist_ok=True)
    for z in zips:
        shutil.copy(z, archive / Path(z).name)
    cmd = [sys.executable, "-m", "nbgrader", "zip_collect", assignment, "--force"]
    log(f"$ nbgrader zip_collect {assignment} --force")
    proc = subprocess.run(cmd, cwd=course, capture_output=True, text=True)
    collected = [line for line in proc.stderr.splitlines() if "Copying to" in line]
    skipped = [line for line in proc.stderr.splitlines() if "Skipped" in line or "skipped" in line]
    log(f"  collected {len(collected)} notebook(s)" + (f"; {len(skipped)} warning(s):" if skipped else ""))
    for line in skipped:
        log("  " + line.split("]", 1)[-1].strip())
    if proc.returncode != 0:
        raise RuntimeError(f"nbgrader zip_collect failed:\n{proc.stderr[-3000:]}")


def submitted_students(course: Path, assignment: str) -> list[str]:
    """Students with a folder ``submitted/<student>/<assignment>/`` (whatever is in it: an empty or misnamed
    upload still gets a row)."""
    root = Path(course) / "submitted"
    return sorted(p.parent.name for p in root.glob(f"*/{assignment}") if p.is_dir()) if root.is_dir() else []


def grade_assignment(course, assignment: str, *, students=None, zips=(), feedback=True, csv_path=None, jobs=None,
                     regrade=False, isolated=True, timeout=None, progress=True, shard=None, merge_from=(),
                     log=print) -> GradeReport:
    """Grade every submission of ``assignment`` in parallel; write feedback, the CSV and the item analysis.

    See :mod:`mnistlab.grading_pool` (parallel workers, one gradebook writer,
    resumable) and :mod:`mnistlab.grading_worker` (one submission: preflight,
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
    from mnistlab.grading_pool import PoolReport, grade_class, in_shard, merge_shards, recorded_result

    if zips:
        collect_zips(course, assignment, zips, log=log)
    api = course_api(config)
    ensure_released(api, assignment)
    if merge_from:
        merge_shards(course, assignment, merge_from, log=log)
        todo = sorted(students or submitted_students(course, assignment))
        pool = PoolReport(assignment)
        pool.results = {s: r for s in todo if (r := recorded_result(course, assignment, s)) is not None}
    else:
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
    if feedback:
        log(f"feedback: {course / 'feedback'}/<student>/{assignment}/{assignment}.html")
    with api.gradebook as gb:
        report.columns, report.rows = grade_rows(gb, assignments=[assignment], students=todo)
    for row in report.rows:
        result = pool.results.get(row["student_id"], {})
        row["status"] = result.get("status", "not graded")
        row["flags"] = " | ".join(result.get("flags", []))
    report.columns += ["status", "flags"]
    report.csv_path = write_grades_csv(csv_path or course / "grades" / f"{assignment}.csv", report.columns, report.rows)
    log(f"grades: {report.csv_path}")
    records = [pool.results[s] for s in todo if s in pool.results]
    if records:
        from mnistlab.item_analysis import analyze, format_table, write_report

        report.items = write_report(records, Path(report.csv_path).parent, assignment, functions=list(GRADED[assignment]))
        report.item_table = format_table(analyze(records, functions=list(GRADED[assignment])))
        log(f"item analysis: {', '.join(str(p) for p in report.items.values())}")
    for student, reasons in sorted(report.flags.items()):
        log(f"\nFLAGGED {student}:")
        for reason in reasons:
            log(f"  - {reason}")
    return report


# ---------------------------------------------------------------------------
# Checking a notebook before submitting
# ---------------------------------------------------------------------------


@dataclass
class CellVerdict:
    """The result of one autograder cell when a notebook is run."""

    function: str
    points: float
    passed: bool
    message: str = ""
    changed: bool = False


def cell_failure_message(cell) -> str:
    """Why an executed autograder cell failed (its error, or what it printed to stderr); "" if it did not."""
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            text = strip_ansi("\n".join(output.get("traceback", [])))
            return text or f"{output.get('ename')}: {output.get('evalue')}"
        if output.get("output_type") == "stream" and output.get("name") == "stderr":
            return "printed to stderr (the autograder counts that as a failure):\n" + str(output.get("text", ""))
    return ""


def run_graded_cells(path) -> list[CellVerdict]:
    """Execute the notebook at ``path`` as the autograder does; return the verdict of each graded cell.

    The notebook runs in its own folder, in a fresh kernel, with nbgrader's
    ``Execute`` preprocessor and the course's cell timeouts; a cell passes when
    it produces no error and nothing on stderr (nbgrader's rule).
    """
    import nbformat
    from nbgrader import utils
    from mnistlab.robust_execute import RobustExecute

    path = Path(path).resolve()
    nb = nbformat.read(path, as_version=4)
    changed = {
        cell.metadata.nbgrader.grade_id
        for cell in nb.cells
        if utils.is_grade(cell) and "checksum" in cell.metadata.nbgrader
        and cell.metadata.nbgrader.checksum != utils.compute_checksum(cell)
    }
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    executor = RobustExecute(timeout_func=cell_timeout, interrupt_on_timeout=True)
    with environment(KERNEL_ENV), utils.chdir(str(path.parent)), \
            utils.setenv(NBGRADER_EXECUTION="validate", NBGRADER_VALIDATING="1"):
        nb, _ = executor.preprocess(nb, {"metadata": {"path": str(path.parent)}})
    verdicts = []
    for cell in nb.cells:
        if not utils.is_grade(cell) or cell.cell_type != "code":
            continue
        score, max_score = utils.determine_grade(cell)
        message = cell_failure_message(cell)
        gid = cell.metadata.nbgrader.grade_id
        verdicts.append(CellVerdict(function_name(gid), max_score, score == max_score, message.strip(), gid in changed))
    return verdicts


def format_check(path, verdicts: list[CellVerdict]) -> str:
    """The report ``mnistlab check`` prints."""
    name = Path(path).name
    width = max([len(v.function) for v in verdicts] + [8])
    lines = [f"{name}: visible tests, run as the autograder runs them (fresh kernel, top to bottom)", ""]
    lines.append(f"  {'function':<{width}}  points  visible tests")
    for v in verdicts:
        first = v.message.split("\n", 1)[0].removeprefix("GradingFailure: ") if v.message else ""
        status = "passed" if v.passed else f"FAILED  {first}"
        lines.append(f"  {v.function:<{width}}  {v.points:6g}  {status}")
    failed = [v for v in verdicts if not v.passed]
    for v in failed:
        lines += ["", f"--- {v.function} ---", v.message or "(no message)"]
    changed = [v.function for v in verdicts if v.changed]
    if changed:
        lines += ["", "Warning: you changed the test cell(s) of " + ", ".join(changed)
                  + ". The autograder runs the original tests instead."]
    passed = [v for v in verdicts if v.passed]
    lines += [
        "",
        f"{len(passed)} of {len(verdicts)} graded cells pass their visible tests ({sum(v.points for v in passed):g} "
        f"of {sum(v.points for v in verdicts):g} points if the hidden tests pass too).",
        "The autograder also runs hidden tests: passing the visible ones is necessary, not sufficient.",
    ]
    if not verdicts:
        lines.append("This notebook has no graded cells: is it one of the course's assignments?")
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------


def cmd_check(args) -> int:
    path = Path(args.notebook)
    if not path.is_file():
        print(f"mnistlab check: no such notebook: {path}", file=sys.stderr)
        return 2
    verdicts = run_graded_cells(path)
    print(format_check(path, verdicts))
    return 0 if verdicts and all(v.passed for v in verdicts) else 1


def cmd_grade(args) -> int:
    from mnistlab.grading_pool import parse_shard

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
        columns = [c for c in report.columns if c not in ("assignment", "timestamp", "flags")]
        widths = {c: max(len(c), *(len(str(_fmt_points(r.get(c, "")))) for r in report.rows)) for c in columns}
        print()
        print("  ".join(f"{c:>{widths[c]}}" for c in columns))
        for row in report.rows:
            print("  ".join(f"{str(_fmt_points(row.get(c, ''))):>{widths[c]}}" for c in columns))
    if report.item_table:
        print()
        print(report.item_table)
    # Exit status 1 when a submission could not be graded or was flagged: the instructor must look at it.
    return 1 if report.errors or report.flags else 0


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
    check.set_defaults(handler=cmd_check)

    grade = subparsers.add_parser(
        "grade",
        help="instructors: autograde a class's submissions, write feedback and a per-function grades CSV",
        description="Autograde every submission of ASSIGNMENT (submitted/<student>/ASSIGNMENT/ in the course "
                    "folder, or the notebooks in LMS zip downloads given with --zip), generate each student's "
                    "feedback HTML (without hidden tests) and write the points of every graded function to "
                    "grades/ASSIGNMENT.csv.",
    )
    grade.add_argument("assignment", choices=list(GRADED), help="the assignment")
    grade.add_argument("--course", default=None,
                       help="the course folder with nbgrader_config.py (default: . or ./assignments)")
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
