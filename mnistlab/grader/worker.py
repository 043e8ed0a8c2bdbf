"""Grading one submission in a private course folder: the unit of work of ``mnistlab grade``.

Instructor guide: ``book/07_instructor_guide.md``; the scheduler that runs these
in parallel and merges their results is :mod:`mnistlab.grader.pool`.

For one student's submission, :func:`grade_submission`:

1. checks the submitted file (:mod:`mnistlab.grader.preflight`): an empty, non-JSON,
   misnamed or foreign notebook gets a flagged zero row with the reason;
2. runs nbgrader's autograde on it in a *private* course folder (a copy of the
   gradebook without anyone's submissions, and this one submission), with the
   kernel in the operating-system sandbox of :mod:`mnistlab.grader.os_sandbox`
   (no network, nothing of the course, at most 100 MB and 10,000 files written,
   resource limits) and guarded inside by :mod:`mnistlab.grader.sandbox`, bounded
   by the course's cell timeouts (:func:`confine_kernels`); only the submitted
   files and the notebook are kept in ``autograded/`` (:func:`only_submitted_files`);
   without the OS sandbox every row is flagged "graded without OS sandbox";
3. re-checks every graded function in a fresh, isolated process
   (:mod:`mnistlab.grader.isolation`), where the comparison runs in this process,
   out of reach of the student's code;
4. gives each function the *lower* of the two verdicts, flags every
   difference (and every use of the reference implementation or blocked file
   access) with the reason, writes the result into the private gradebook and
   generates the student's feedback there.

Its result is a JSON-ready dict (see :func:`grade_submission`); the private
folder keeps the gradebook, autograded notebook and feedback for the merge.
Nothing of the real course is written here.

Run as ``python -m mnistlab.grader.worker``, it grades jobs read as JSON lines
from stdin and answers each with one JSON line on stdout (used by the pool).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

from mnistlab.checks import GRADED, grade_id, hidden_draws
from mnistlab.grader.course_secret import grading_seed, read_secret
from mnistlab.grader.course import course_api, environment, load_course_config, tools_env
from mnistlab.grader.feedback import strip_ansi
from mnistlab.grader.selfcheck import cell_failure_message
from mnistlab.grader.settings import (
    CELL_TIMEOUT, KERNEL_ENV, MEMORY_LIMIT_MB, SUBMISSION_IGNORE, TRAINING_RUN_TIMEOUT,
)

#: Comment prefix of a grade the re-check lowered (so a re-run can recognise its own comments).
LOWERED_PREFIX = "[mnistlab grade]"


def submission_digest(folder: Path) -> str:
    """SHA-256 over the names and contents of the files of a submission folder (to detect resubmissions)."""
    h = hashlib.sha256()
    for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
        h.update(str(path.relative_to(folder)).encode() + b"\0")
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def solution_cell_of(function: str) -> str:
    """The nbgrader ``grade_id`` of the solution cell of a graded function (``TwoLayerNet.loss`` -> ``TwoLayerNet_loss``)."""
    return function.replace(".", "_")


def hidden_course_paths(course: Path) -> list[Path]:
    """What a submission's code must not see of the course: everything in it except the Python it runs on.

    The course folder holds the sources with solutions, everyone's submissions
    and the gradebook. If the virtual environment or the ``mnistlab`` package
    happens to live inside it, those stay readable (the kernel imports them).
    """
    keep = [Path(sys.prefix).resolve(), Path(__file__).resolve().parents[1]]  # the venv, the mnistlab package
    hidden = []
    for entry in sorted(Path(course).resolve().iterdir()):
        if any(k == entry or entry in k.parents for k in keep):
            continue
        hidden.append(entry)
    return hidden


# ---------------------------------------------------------------------------
# The private course
# ---------------------------------------------------------------------------


def _copy_submission(src: Path, dest: Path, notebook, assignment: str) -> None:
    """The submitted folder's files (the ones nbgrader would copy) plus the preflighted notebook."""
    import fnmatch

    import nbformat

    dest.mkdir(parents=True, exist_ok=True)
    for path in src.iterdir():
        if path.suffix == ".ipynb" or any(fnmatch.fnmatch(path.name, pat) for pat in SUBMISSION_IGNORE):
            continue
        if path.is_file() and not path.is_symlink():
            shutil.copy2(path, dest / path.name)
    nbformat.write(notebook, dest / f"{assignment}.ipynb")


def _private_config(course: Path, private: Path):
    from mnistlab.grader.robust_execute import AUTOGRADE_PREPROCESSORS

    config, env = load_course_config(course)
    # The course's configuration guards nbgrader's own autograde (mnistlab.grader.nbgrader_path); here
    # this worker does the guarding and the re-check itself.
    config.Autograde.autograde_preprocessors = AUTOGRADE_PREPROCESSORS
    config.CourseDirectory.root = str(private)
    config.CourseDirectory.db_url = f"sqlite:///{private / 'gradebook.db'}"
    return config, env


def kernel_confinement(private: Path, workdir: Path, hidden: list, hidden_seed: str) -> tuple[dict, dict]:
    """How one grading kernel is confined, for ``mnistlab grade``'s workers and nbgrader's own path alike.

    Writes the guard's start-up folder (``private/ipython``), its report file and
    the Matplotlib font lists into ``private``.

    Parameters
    ----------
    private : Path
        A folder of this grading only (never the student's).
    workdir : Path
        The notebook's folder (writable for the guard where there is no OS sandbox).
    hidden : list of Path
        What the kernel must not see.
    hidden_seed : str
        The student's grading seed, from which the hidden checks' random cases
        draw (never the course secret itself).

    Returns
    -------
    (dict, dict)
        The traits of :class:`mnistlab.grader.os_sandbox.SandboxedKernelManager`
        (``runtime``, ``confinement``), and the kernel's environment: IPYTHONDIR
        with the guard's start-up file, a private TMPDIR, one BLAS thread, the seed.
    """
    from mnistlab.grader import os_sandbox, sandbox

    tmp = private / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    report = private / "kernel-guard.jsonl"
    report.touch()
    confined = os_sandbox.unavailable_reason() is None
    ipython = sandbox.kernel_startup_dir(
        private / "ipython",
        writable=[os_sandbox.WRITABLE] if confined else [workdir, tmp],
        hidden=hidden,
        memory_mb=MEMORY_LIMIT_MB,
        report_path=report,
    )
    # MPLCONFIGDIR: the OS sandbox copies ipython/matplotlib into its own; without it, tmp is the kernel's.
    os_sandbox.seed_matplotlib_cache(ipython / "matplotlib" if confined else tmp)
    manager = {"runtime": {"dir": str(private / "runtime")},
               "confinement": {"hidden": [str(p) for p in hidden], "readable": [str(ipython)],
                               "writable_files": [str(report)], "ipython_dir": str(ipython)}}
    # Matplotlib writes its font cache on first import; elsewhere than a writable folder that fails
    # with a warning on stderr, which nbgrader would count against the cell. (In the OS sandbox,
    # TMPDIR, HOME and MPLCONFIGDIR are its own.)
    env = {**KERNEL_ENV, "IPYTHONDIR": str(ipython), "TMPDIR": str(tmp), "MPLBACKEND": "Agg",
           "MPLCONFIGDIR": str(tmp), hidden_draws.SEED_ENV: hidden_seed}
    return manager, env


def confine_kernels(private: Path, course: Path, student: str, assignment: str, config, hidden_seed: str) -> dict:
    """Confine the kernels of ``config`` (a private course's): the OS sandbox, the guard's start-up file.

    ``config`` gets the sandboxed kernel manager (:mod:`mnistlab.grader.os_sandbox`;
    without the sandbox it still sets the resource limits and puts the sockets in
    the private folder) configured by :func:`kernel_confinement`, whose
    environment for the kernel this returns.
    """
    from jupyter_core.paths import jupyter_runtime_dir

    from mnistlab.grader import os_sandbox

    # The runtime folder holds every kernel's connection file and key: with parallel workers, a
    # submission could otherwise send code to another student's kernel.
    hidden = [*hidden_course_paths(course), private, Path(jupyter_runtime_dir())]
    manager, env = kernel_confinement(private, private / "autograded" / student / assignment, hidden, hidden_seed)
    config.Execute.kernel_manager_class = os_sandbox.SandboxedKernelManager
    config.RobustExecute.explain_limits = True
    for name, value in manager.items():
        setattr(config.SandboxedKernelManager, name, value)
    return env


def only_submitted_files(autograded: Path, submitted: Path) -> list[str]:
    """Remove from ``autograded`` what is not in ``submitted`` (what the code wrote); return the removed names.

    Only the notebook and the submitted files go back to the course's
    ``autograded/`` and ``feedback/``. In the OS sandbox the kernel writes
    nothing here anyway; without it (the guard lets it write its own folder)
    this is what keeps a class from filling the instructor's disk.
    """
    if not autograded.is_dir():
        return []
    keep = {p.name for p in submitted.iterdir()} if submitted.is_dir() else set()
    removed = []
    for path in sorted(autograded.iterdir()):
        if path.name in keep and not path.is_symlink():
            continue
        removed.append(path.name)
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    return removed


#: The flag of a submission whose kernel ran without the in-process guard (a fault of the set-up, not the student's).
GUARD_MISSING = ("the in-process guard was not installed in the kernel (IPython did not run its start-up file): "
                 "grade again once the set-up is fixed")


def _read_guard_report(path: Path) -> list[str]:
    """The guard's refusals in the kernel (its report), plus :data:`GUARD_MISSING` if no kernel armed it."""
    if not path.is_file():
        return [GUARD_MISSING]
    flags, armed = [], False
    for line in path.read_text(errors="replace").splitlines()[:200]:
        with contextlib.suppress(ValueError, TypeError, AttributeError):
            entry = json.loads(line)
            if isinstance(entry, dict) and entry.get("armed") is True:
                armed = True
                continue
            text = str(entry.get("violation", entry) if isinstance(entry, dict) else entry)
            # ipykernel lists the processes in /proc when it shuts down (psutil); blocked, but not the student's doing.
            if "reading /proc/" in text:
                continue
            text = text.removeprefix("mnistlab grading: ")
            if text not in flags:
                flags.append(text[:300])
    return flags[:20] + ([] if armed else [GUARD_MISSING])


# ---------------------------------------------------------------------------
# Reading and writing the private gradebook
# ---------------------------------------------------------------------------


def _kernel_verdicts(private: Path, assignment: str, student: str) -> dict:
    """function -> (points, max_points, failure message) from the autograded notebook and gradebook."""
    import nbformat
    from nbgrader.api import Gradebook, MissingEntry

    messages = {}
    path = private / "autograded" / student / assignment / f"{assignment}.ipynb"
    if path.is_file():
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
            if cell.cell_type == "code" and gid:
                messages[gid] = cell_failure_message(cell)
    out = {}
    with Gradebook(f"sqlite:///{private / 'gradebook.db'}", "mnistlab") as gb:
        for function in GRADED[assignment]:
            gid = grade_id(function)
            cell = gb.find_grade_cell(gid, assignment, assignment)
            try:
                grade = gb.find_grade(gid, assignment, assignment, student)
                points = float(grade.auto_score or 0.0)
            except MissingEntry:
                points = 0.0
            out[function] = (points, float(cell.max_score), messages.get(gid, "the test cell did not run"))
    return out


def stored_scores(function_result: dict) -> tuple[float, float | None]:
    """(auto_score, manual_score) to store for one graded function of a result.

    The kernel's points stay the auto score; when the final points differ (the
    re-check lowered them, or nothing ran in the kernel) they are the manual
    score, which nbgrader counts instead and shows in the formgrader.
    """
    in_kernel, points = function_result.get("in_kernel"), float(function_result["points"])
    auto = 0.0 if in_kernel is None else float(in_kernel)
    return auto, (points if in_kernel is None or points != auto else None)


def _write_final_grades(private: Path, assignment: str, student: str, functions: dict, flagged: bool,
                        reason: str | None = None) -> None:
    """Put the final points in the private gradebook: a lowered grade as manual score with the reason."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(f"sqlite:///{private / 'gradebook.db'}", "mnistlab") as gb:
        gb.update_or_create_student(student)
        submission = gb.update_or_create_submission(assignment, student)
        for function, f in functions.items():
            grade = gb.find_grade(grade_id(function), assignment, assignment, student)
            grade.extra_credit = None
            grade.needs_manual_grade = False
            grade.auto_score, grade.manual_score = stored_scores(f)
            text = f.get("lowered_because") or reason
            with contextlib.suppress(MissingEntry):
                comment = gb.find_comment(solution_cell_of(function), assignment, assignment, student)
                comment.manual_comment = f"{LOWERED_PREFIX} {text}" if text else None
        for nb in submission.notebooks:
            nb.flagged = bool(flagged)
        gb.db.commit()


# ---------------------------------------------------------------------------
# One submission
# ---------------------------------------------------------------------------


def _empty_result(student: str, assignment: str) -> dict:
    return {
        "student_id": student, "assignment": assignment, "status": "graded", "score": 0.0, "max_score": 0.0,
        "functions": {}, "flags": [], "notes": [], "seconds": {}, "digest": "", "feedback": True,
    }


def record_ungraded(private: Path, template_db: Path, course: Path, assignment: str, student: str, status: str,
                    reason: str) -> dict:
    """A zero row with a flag, for a submission that could not be graded (``status`` rejected or error).

    Builds the private course from scratch (so it also serves after a worker
    was killed half-way) with a feedback page that gives the reason.
    """
    from nbgrader.api import Gradebook

    shutil.rmtree(private, ignore_errors=True)
    private.mkdir(parents=True)
    shutil.copy(template_db, private / "gradebook.db")
    result = _empty_result(student, assignment)
    folder = course / "submitted" / student / assignment
    result.update(status=status, flags=[reason], digest=submission_digest(folder) if folder.is_dir() else "")
    with Gradebook(f"sqlite:///{private / 'gradebook.db'}", "mnistlab") as gb:
        gb.update_or_create_student(student)
        gb.update_or_create_submission(assignment, student)
        for function in GRADED[assignment]:
            cell = gb.find_grade_cell(grade_id(function), assignment, assignment)
            result["functions"][function] = {
                "points": 0.0, "max_points": float(cell.max_score), "message": reason,
                "in_kernel": None, "isolated": None, "lowered_because": None,
            }
    _write_final_grades(private, assignment, student, result["functions"], flagged=True, reason=reason)
    result["max_score"] = sum(f["max_points"] for f in result["functions"].values())
    feedback = private / "feedback" / student / assignment / f"{assignment}.html"
    feedback.parent.mkdir(parents=True, exist_ok=True)
    import html

    feedback.write_text(
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{assignment}: not graded</title></head>"
        f"<body><h1>{html.escape(assignment)}: your submission could not be graded</h1>"
        f"<p>{html.escape(reason)}</p><p>Score: 0 of {result['max_score']:g}. Your instructor has been told.</p>"
        "</body></html>\n",
        encoding="utf-8",
    )
    return result


def grade_submission(course, assignment: str, student: str, template_db, private, *, isolated: bool = True,
                     feedback: bool = True, log=None) -> dict:
    """Grade ``submitted/<student>/<assignment>/`` of ``course`` in the private folder ``private``.

    Returns
    -------
    dict
        ``student_id``, ``assignment``, ``status`` ("graded", "rejected" or
        "error"), ``score``, ``max_score``, ``functions`` (name -> ``points``,
        ``max_points``, ``message`` (why it failed, "" if it passed),
        ``in_kernel`` and ``isolated`` verdicts, ``lowered_because``), ``flags``
        (reasons for the instructor's attention), ``notes`` (repairs, e.g. a
        renamed notebook), ``seconds`` per phase and ``digest`` (of the
        submitted folder).
    """
    from mnistlab.grader.preflight import Rejection, preflight

    course, private, template_db = Path(course).resolve(), Path(private).resolve(), Path(template_db).resolve()
    start = time.perf_counter()
    src = course / "submitted" / student / assignment
    try:
        checked = preflight(src, assignment, [grade_id(f) for f in GRADED[assignment]])
    except Rejection as exc:
        result = record_ungraded(private, template_db, course, assignment, student, "rejected", str(exc))
        result["seconds"]["total"] = time.perf_counter() - start
        return result

    shutil.rmtree(private, ignore_errors=True)
    private.mkdir(parents=True)
    shutil.copy(template_db, private / "gradebook.db")
    _copy_submission(src, private / "submitted" / student / assignment, checked.notebook, assignment)
    result = _empty_result(student, assignment)
    result.update(digest=submission_digest(src), notes=list(checked.notes))
    config, config_env = _private_config(course, private)
    hidden_seed = grading_seed(read_secret(course), assignment, student)
    kernel_env = confine_kernels(private, course, student, assignment, config, hidden_seed)

    # In the kernel: nbgrader's autograde (locked cells restored, test cells run).
    t = time.perf_counter()
    try:
        with environment({**config_env, **kernel_env, **tools_env()}):
            api = course_api(config)
            outcome = api.autograde(assignment, student)
    finally:
        tempfile.tempdir = None  # tempfile caches the first TMPDIR it sees: the kernel's, not ours
    result["seconds"]["autograde"] = time.perf_counter() - t
    written = only_submitted_files(private / "autograded" / student / assignment,
                                   private / "submitted" / student / assignment)
    if written:
        result["notes"].append(f"{len(written)} file(s) the notebook's code wrote were not kept "
                               f"(only the submitted files go back): {', '.join(written[:5])}"[:300])
    from mnistlab.grader.os_sandbox import NO_SANDBOX_FLAG, unavailable_reason

    if unavailable_reason() is not None:
        result["flags"].append(NO_SANDBOX_FLAG)
    if not outcome["success"]:
        error = strip_ansi(outcome.get("error") or outcome.get("log") or "").strip()
        result["flags"].append("nbgrader could not autograde the notebook: " + (error.splitlines() or ["?"])[-1][:300])
        from nbgrader.api import Gradebook

        with Gradebook(f"sqlite:///{private / 'gradebook.db'}", "mnistlab") as gb:
            gb.update_or_create_student(student)
            gb.update_or_create_submission(assignment, student)
    kernel = _kernel_verdicts(private, assignment, student)
    guard = _read_guard_report(private / "kernel-guard.jsonl")
    if not outcome["success"]:  # perhaps no kernel ever started: no guard to miss
        guard = [f for f in guard if f != GUARD_MISSING]
    result["flags"] += [f"in the notebook: {f}" for f in guard]

    # In a fresh, isolated process: the same checks, compared here.
    t = time.perf_counter()
    autograded = private / "autograded" / student / assignment / f"{assignment}.ipynb"
    verdicts = {}
    if isolated:
        from mnistlab.grader.isolation import recheck_notebook

        try:
            verdicts = recheck_notebook(
                autograded if autograded.is_file() else private / "submitted" / student / assignment / f"{assignment}.ipynb",
                assignment,
                hidden_dirs=[*hidden_course_paths(course), private],
                function_timeout=CELL_TIMEOUT,
                training_timeout=TRAINING_RUN_TIMEOUT,
                memory_mb=MEMORY_LIMIT_MB,
                cell_timeout=CELL_TIMEOUT,
                hidden_seed=hidden_seed,
                student=student,
            )
        except Exception as exc:  # a bug of ours must not cost the student: flag, keep the kernel's verdict at 0
            result["flags"].append(f"the isolated re-check failed to run ({type(exc).__name__}: {exc}); "
                                   "points withheld until it is re-run")
            verdicts = None
    result["seconds"]["recheck"] = time.perf_counter() - t

    for function, (points, max_points, message) in kernel.items():
        entry = {"points": points, "max_points": max_points, "message": message if points < max_points else "",
                 "in_kernel": points, "isolated": None, "lowered_because": None}
        if isolated:
            v = (verdicts or {}).get(function)
            passed = bool(v and v.passed)
            entry["isolated"] = passed
            for flag in (v.flags if v else []):
                if flag.startswith("top level:"):
                    # Something outside the graded functions (a cell's own code): one entry, not one per
                    # function. A blocked access is the student's doing (flag); a crash or a hang is not.
                    text = "isolated re-check, " + flag.replace("mnistlab grading: ", "")
                    target = result["flags"] if "not allowed" in flag else result["notes"]
                    if text not in target:
                        target.append(text)
                else:
                    result["flags"].append(f"{function}: {flag}")
            if points > 0 and not passed:
                why = (v.message.splitlines()[0] if v and v.message else "the re-check could not run it")
                entry["lowered_because"] = (f"{function}: {points:g} points in the notebook, but its isolated "
                                            f"re-check failed ({why[:200]}); the lower grade, 0, stands")
                result["flags"].append(entry["lowered_because"])
                entry["message"] = (v.message if v and v.message else why)
                entry["points"] = 0.0
        result["functions"][function] = entry
    result["score"] = sum(f["points"] for f in result["functions"].values())
    result["max_score"] = sum(f["max_points"] for f in result["functions"].values())
    flagged = bool(result["flags"])
    _write_final_grades(private, assignment, student, result["functions"], flagged=flagged)

    t = time.perf_counter()
    if feedback:
        with environment({**config_env, **tools_env()}):
            outcome = course_api(config).generate_feedback(assignment, student)
        if not outcome["success"]:
            result["notes"].append("feedback could not be generated: "
                                   + strip_ansi(outcome.get("error") or outcome.get("log") or "")[-300:])
    result["seconds"]["feedback"] = time.perf_counter() - t
    result["seconds"]["total"] = time.perf_counter() - start
    return result


# ---------------------------------------------------------------------------
# The worker process
# ---------------------------------------------------------------------------


def serve(stdin=None, stdout=None) -> None:
    """Grade jobs read as JSON lines; answer each with one JSON line ``{"student_id", "result" | "error"}``.

    A job: ``{"course", "assignment", "student", "template_db", "private", "isolated", "feedback"}``.
    The result is also written to ``<private>/result.json``.
    """
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    for line in stdin:
        if not line.strip():
            continue
        job = json.loads(line)
        try:
            result = grade_submission(job["course"], job["assignment"], job["student"], job["template_db"],
                                      job["private"], isolated=job.get("isolated", True),
                                      feedback=job.get("feedback", True))
            Path(job["private"], "result.json").write_text(json.dumps(result, indent=1))
            answer = {"student_id": job["student"], "result": result}
        except Exception:
            answer = {"student_id": job["student"], "error": traceback.format_exc()[-4000:]}
        stdout.write(json.dumps(answer) + "\n")
        stdout.flush()


def main() -> None:
    # The protocol owns stdout: anything else printed (nbgrader, kernels) goes to stderr.
    protocol = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    serve(sys.stdin, protocol)


if __name__ == "__main__":
    main()
