"""Grading a class in parallel, safely with the gradebook: the scheduler behind ``mnistlab grade``.

Instructor guide: ``book/07_instructor_guide.md``; ``assignments/README.md``
explains how the same run shards across machines.

- **Workers.** ``jobs`` long-lived worker processes
  (``python -m mnistlab.grader.worker``) each grade one submission at a time
  in a private course folder (:func:`mnistlab.grader.worker.grade_submission`);
  nothing they do touches the course. A worker that does not answer within
  the job's wall-clock limit is killed with its whole process tree (kernel,
  isolated re-check) and replaced; its student gets a flagged zero row with
  the reason, and the rest of the class is graded normally.
- **One writer.** Only this process writes the course's gradebook: each
  finished submission is merged in one SQLite transaction (its old rows
  deleted, the new ones inserted), after its autograded notebook and feedback
  were moved into place. Killed at any moment, the gradebook holds every
  submission either as before or as after, never half of one.
- **Resumable.** After the merge, the submission's result is recorded in
  ``<course>/.mnistlab-grading/<assignment>/results/<student>.json`` with a
  digest of the submitted files. A re-run skips submissions whose result
  matches their files and grades the rest: an interrupted run finishes the
  job without duplicates; a resubmission is graded again.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from mnistlab.checks import GRADED, grade_id
from mnistlab.grader.settings import CELL_TIMEOUT, TRAINING_RUN_TIMEOUT
from mnistlab.grader.worker import record_ungraded, stored_scores, submission_digest
from mnistlab.grader.processes import kill_tree

#: Seconds a worker gets to start before it is considered broken.
WORKER_START_TIMEOUT = 120


def job_timeout(assignment: str) -> float:
    """Wall-clock seconds one submission may take before its worker is killed.

    Every graded function may use its full time limit twice (in the notebook
    and in the isolated re-check), one more cell limit twice for the cells
    around them, plus a minute for starting kernels, nbgrader and feedback.
    Far above the ~2-5 s a submission normally takes.
    """
    limits = [TRAINING_RUN_TIMEOUT if f == "training_run" else CELL_TIMEOUT for f in GRADED[assignment]]
    return 2 * sum(limits) + 2 * CELL_TIMEOUT + 60


def state_dir(course: Path, assignment: str) -> Path:
    return Path(course) / ".mnistlab-grading" / assignment


# ---------------------------------------------------------------------------
# The gradebook
# ---------------------------------------------------------------------------


def make_template(master_db: Path, dest: Path) -> Path:
    """A copy of the course gradebook without any submission or student: what each private course starts from."""
    src = sqlite3.connect(f"file:{master_db}?mode=ro", uri=True)
    dst = sqlite3.connect(dest)
    with dst:
        src.backup(dst)
    src.close()
    with dst:
        for table in ("comment", "grade", "submitted_notebook", "submitted_assignment", "student"):
            dst.execute(f"DELETE FROM {table}")
    dst.execute("VACUUM")
    dst.close()
    return dest


def _columns(con, table: str) -> list[str]:
    return [row[1] for row in con.execute(f"PRAGMA main.table_info({table})")]


def merge_into_gradebook(master_db: Path, worker_db: Path, assignment: str, student: str, result: dict) -> None:
    """Replace ``student``'s submission of ``assignment`` in the course gradebook by the worker's, atomically.

    The rows come from the worker's private gradebook; the points come from
    ``result`` (computed by the trusted worker process after the student's code
    had stopped): a grade the re-check lowered is a manual score, the kernel's
    own score stays the auto score, extra credit is cleared, and the notebook
    is flagged when the result has flags.
    """
    # Opened as a URI so that ATTACH reads the worker's file as one too (read-only).
    con = sqlite3.connect(f"file:{master_db}", uri=True, timeout=120, isolation_level=None)
    con.execute("ATTACH DATABASE ? AS w", (f"file:{worker_db}?mode=ro",))
    try:
        con.execute("BEGIN IMMEDIATE")
        (aid,) = con.execute("SELECT id FROM main.assignment WHERE name = ?", (assignment,)).fetchone()
        worker_aid = con.execute("SELECT id FROM w.assignment WHERE name = ?", (assignment,)).fetchone()
        if worker_aid is None or worker_aid[0] != aid:
            raise RuntimeError(f"the gradebook's {assignment} changed during grading (released again?): re-run")
        new = con.execute("SELECT id FROM w.submitted_assignment WHERE assignment_id = ? AND student_id = ?",
                          (aid, student)).fetchone()
        if new is None:
            raise RuntimeError(f"the worker's gradebook has no submission of {student}")
        student_cols = _columns(con, "student")
        cols = ", ".join(student_cols)
        con.execute(f"INSERT OR IGNORE INTO main.student ({cols}) SELECT {cols} FROM w.student WHERE id = ?",
                    (student,))
        for (old,) in con.execute("SELECT id FROM main.submitted_assignment WHERE assignment_id = ? AND "
                                  "student_id = ?", (aid, student)).fetchall():
            notebooks = "SELECT id FROM main.submitted_notebook WHERE assignment_id = ?"
            con.execute(f"DELETE FROM main.grade WHERE notebook_id IN ({notebooks})", (old,))
            con.execute(f"DELETE FROM main.comment WHERE notebook_id IN ({notebooks})", (old,))
            con.execute("DELETE FROM main.submitted_notebook WHERE assignment_id = ?", (old,))
            con.execute("DELETE FROM main.submitted_assignment WHERE id = ?", (old,))
        sid = new[0]
        notebooks = "SELECT id FROM w.submitted_notebook WHERE assignment_id = ?"
        for table, where in (
            ("submitted_assignment", "id = ?"),
            ("submitted_notebook", "assignment_id = ?"),
            ("grade", f"notebook_id IN ({notebooks})"),
            ("comment", f"notebook_id IN ({notebooks})"),
        ):
            cols = ", ".join(_columns(con, table))
            con.execute(f"INSERT INTO main.{table} ({cols}) SELECT {cols} FROM w.{table} WHERE {where}", (sid,))
        for function, f in result["functions"].items():
            auto, manual = stored_scores(f)
            con.execute(
                "UPDATE main.grade SET auto_score = ?, manual_score = ?, extra_credit = NULL, needs_manual_grade = 0 "
                "WHERE notebook_id IN (SELECT id FROM main.submitted_notebook WHERE assignment_id = ?) AND cell_id IN "
                "(SELECT b.id FROM main.base_cell b JOIN main.notebook n ON b.notebook_id = n.id "
                " WHERE b.name = ? AND n.assignment_id = ? AND b.type = 'GradeCell')",
                (auto, manual, sid, grade_id(function), aid),
            )
        con.execute("UPDATE main.submitted_notebook SET flagged = ? WHERE assignment_id = ?",
                    (1 if result.get("flags") else 0, sid))
        con.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            con.execute("ROLLBACK")
        raise
    finally:
        con.close()


def _replace_tree(src: Path, dest: Path) -> None:
    """Put the folder ``src`` at ``dest``, replacing what is there (a copy first, so a kill leaves one whole tree)."""
    if not src.is_dir():
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    new, old = dest.with_name(dest.name + ".new"), dest.with_name(dest.name + ".old")
    shutil.rmtree(new, ignore_errors=True)
    shutil.rmtree(old, ignore_errors=True)
    shutil.copytree(src, new)
    if dest.exists():
        os.replace(dest, old)
    os.replace(new, dest)
    shutil.rmtree(old, ignore_errors=True)


def _write_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


def commit_result(course: Path, assignment: str, private: Path, result: dict) -> None:
    """Move one graded submission into the course: files, then the gradebook transaction, then its state record."""
    student = result["student_id"]
    _replace_tree(private / "autograded" / student / assignment, course / "autograded" / student / assignment)
    _replace_tree(private / "feedback" / student / assignment, course / "feedback" / student / assignment)
    merge_into_gradebook(course / "gradebook.db", private / "gradebook.db", assignment, student, result)
    _write_json(state_dir(course, assignment) / "results" / f"{student}.json", result)


def recorded_result(course: Path, assignment: str, student: str) -> dict | None:
    path = state_dir(course, assignment) / "results" / f"{student}.json"
    with contextlib.suppress(OSError, ValueError):
        return json.loads(path.read_text())
    return None


def in_gradebook(course: Path, assignment: str) -> set[str]:
    """Students with a submission of ``assignment`` in the course gradebook."""
    con = sqlite3.connect(f"file:{Path(course) / 'gradebook.db'}?mode=ro", uri=True, timeout=60)
    try:
        rows = con.execute("SELECT s.student_id FROM submitted_assignment s JOIN assignment a "
                           "ON s.assignment_id = a.id WHERE a.name = ?", (assignment,)).fetchall()
    finally:
        con.close()
    return {r[0] for r in rows}


# ---------------------------------------------------------------------------
# Worker processes
# ---------------------------------------------------------------------------


class Worker:
    """One ``python -m mnistlab.grader.worker`` process and the job it is doing."""

    def __init__(self, log_path: Path, env: dict):
        self.log = open(log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mnistlab.grader.worker"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log,
            start_new_session=True, env=env,
        )
        self.buffer = b""
        self.job: dict | None = None
        self.deadline = 0.0
        self.started = 0.0

    def send(self, job: dict, timeout: float) -> None:
        self.job, self.started = job, time.monotonic()
        self.deadline = self.started + timeout
        self.proc.stdin.write((json.dumps(job) + "\n").encode())
        self.proc.stdin.flush()

    def read_answer(self) -> dict | None:
        """The answer to the current job if a whole line has arrived; None otherwise."""
        chunk = os.read(self.proc.stdout.fileno(), 1 << 16)
        if not chunk:
            raise EOFError
        self.buffer += chunk
        if b"\n" not in self.buffer:
            return None
        line, self.buffer = self.buffer.split(b"\n", 1)
        return json.loads(line)

    def kill(self) -> None:
        """SIGKILL the worker and everything it started (kernels, isolated processes)."""
        kill_tree(self.proc)
        self.close()

    def close(self) -> None:
        for stream in (self.proc.stdin, self.proc.stdout):
            with contextlib.suppress(OSError, ValueError):
                stream.close()
        with contextlib.suppress(OSError, ValueError):
            self.log.close()


@dataclass
class PoolReport:
    """What :func:`grade_class` did."""

    assignment: str
    results: dict = field(default_factory=dict)  #: student -> result dict (also the ones skipped as done)
    graded: list = field(default_factory=list)  #: students graded in this run
    skipped: list = field(default_factory=list)  #: students whose recorded result was current
    wall_seconds: float = 0.0
    jobs: int = 1


def _lock(course: Path, assignment: str):
    import fcntl

    path = state_dir(course, assignment) / "lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    f = open(path, "a+")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.close()
        raise RuntimeError(f"another `mnistlab grade {assignment}` is running on this course ({path} is locked); "
                           "wait for it to finish") from None
    return f


#: The private folders of grading runs (copies of submissions, worker logs) are ``<tmp>/mnistlab-grade-*``.
RUN_DIR_PREFIX = "mnistlab-grade-"


def make_run_dir(assignment: str):
    """A new private folder for one grading run, and the open lock file that marks it in use.

    The run holds an exclusive ``flock`` on ``<folder>/.lock`` while it lasts; the
    operating system releases it when the process ends, however it ends. A run
    that was killed (a cancelled batch job, an instructor's kill -9) cannot remove
    its folder, which holds copies of the students' submissions: the next run
    removes every such folder whose lock it can take (:func:`sweep_run_dirs`).

    Returns
    -------
    (Path, file)
        The folder, and its lock file (close it after removing the folder).
    """
    import fcntl

    sweep_run_dirs()
    run_dir = Path(tempfile.mkdtemp(prefix=f"{RUN_DIR_PREFIX}{assignment}-"))
    lock = open(run_dir / ".lock.new", "w")
    fcntl.flock(lock, fcntl.LOCK_EX)
    os.rename(run_dir / ".lock.new", run_dir / ".lock")  # a sweeper never sees it unlocked
    return run_dir, lock


def sweep_run_dirs(tmp: str | None = None) -> list[Path]:
    """Remove the run folders (:func:`make_run_dir`) of grading runs that ended without removing them.

    A folder is removed only if its ``.lock`` exists and can be locked now: its run
    is over (a folder without one, from an older version or being created this
    instant, is left alone). Returns the folders removed.
    """
    import fcntl

    removed = []
    for folder in sorted(Path(tmp or tempfile.gettempdir()).glob(f"{RUN_DIR_PREFIX}*")):
        try:
            lock = open(folder / ".lock", "r+")
        except OSError:
            continue
        with lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # in use
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def grade_class(course, assignment: str, students, *, jobs: int | None = None, regrade: bool = False,
                isolated: bool = True, feedback: bool = True, timeout: float | None = None, progress: bool = True,
                env: dict | None = None, log=print) -> PoolReport:
    """Grade ``students``' submissions of ``assignment`` with ``jobs`` parallel workers.

    Submissions already graded from the same files are skipped unless
    ``regrade``. Returns a :class:`PoolReport`; the course's gradebook,
    ``autograded/`` and ``feedback/`` are updated as each submission finishes.
    """
    course = Path(course).resolve()
    jobs = max(1, int(jobs or os.cpu_count() or 1))
    timeout = float(timeout or job_timeout(assignment))
    report = PoolReport(assignment, jobs=jobs)
    lock = _lock(course, assignment)
    run_dir, run_lock = make_run_dir(assignment)
    start = time.perf_counter()
    try:
        graded_before = in_gradebook(course, assignment)
        todo = []
        for student in students:
            old = recorded_result(course, assignment, student)
            folder = course / "submitted" / student / assignment
            # Kept: a finished grade of the same files. Not kept: an "error" (a worker killed or broken,
            # the re-check unable to run): a re-run tries again.
            if (not regrade and old is not None and old.get("status") in ("graded", "rejected")
                    and student in graded_before and folder.is_dir() and old.get("digest") == submission_digest(folder)):
                report.results[student] = old
                report.skipped.append(student)
            else:
                todo.append(student)
        if report.skipped:
            log(f"{len(report.skipped)} submission(s) already graded from the same files: kept "
                "(--regrade grades them again)")
        if not todo:
            return report
        template = make_template(course / "gradebook.db", run_dir / "template.db")
        worker_env = {**os.environ, **(env or {})}
        queue = list(todo)
        workers: list[Worker] = []
        bar = _progress(len(todo), progress, log)
        selector = selectors.DefaultSelector()

        def finish(worker: Worker, result: dict) -> None:
            student = result["student_id"]
            private = Path(worker.job["private"])
            commit_result(course, assignment, private, result)
            shutil.rmtree(private, ignore_errors=True)
            report.results[student] = result
            report.graded.append(student)
            bar(student, result, time.monotonic() - worker.started)

        def fail(worker: Worker, reason: str) -> None:
            job = worker.job
            private = Path(job["private"])
            finish(worker, record_ungraded(private, template, course, assignment, job["student"], "error", reason))

        def start_worker() -> Worker:
            w = Worker(run_dir / f"worker-{len(workers)}.log", worker_env)
            selector.register(w.proc.stdout, selectors.EVENT_READ, w)
            workers.append(w)
            return w

        def dispatch(worker: Worker) -> None:
            student = queue.pop(0)
            worker.send({"course": str(course), "assignment": assignment, "student": student,
                         "template_db": str(template), "private": str(run_dir / "private" / student),
                         "isolated": isolated, "feedback": feedback}, timeout)

        idle = [start_worker() for _ in range(min(jobs, len(queue)))]
        busy: list[Worker] = []
        while queue or busy:
            while idle and queue:
                w = idle.pop()
                dispatch(w)
                busy.append(w)
            now = time.monotonic()
            wait = max(0.05, min(w.deadline for w in busy) - now) if busy else 0.05
            for key, _ in selector.select(timeout=min(wait, 1.0)):
                w = key.data
                if w not in busy:
                    continue
                try:
                    answer = w.read_answer()
                except (EOFError, ValueError, OSError) as exc:
                    code = w.proc.poll()
                    selector.unregister(w.proc.stdout)
                    w.kill()
                    busy.remove(w)
                    fail(w, f"the grading process ended unexpectedly (exit code {code}; {type(exc).__name__}) "
                            "while grading this submission")
                    if queue:
                        idle.append(start_worker())
                    continue
                if answer is None:
                    continue
                busy.remove(w)
                if "result" in answer:
                    finish(w, answer["result"])
                else:
                    fail(w, "grading failed with an internal error: " + answer.get("error", "?").strip().splitlines()[-1])
                    log(answer.get("error", ""))
                idle.append(w)
            now = time.monotonic()
            for w in [w for w in busy if now > w.deadline]:
                selector.unregister(w.proc.stdout)
                w.kill()
                busy.remove(w)
                fail(w, f"grading did not finish within {timeout:.0f} s (wall clock); the processes were killed. "
                        "Usually an endless loop that ignores interrupts")
                if queue:
                    idle.append(start_worker())
        for w in idle:
            with contextlib.suppress(OSError, ValueError):
                w.proc.stdin.close()
            with contextlib.suppress(subprocess.TimeoutExpired):
                w.proc.wait(timeout=10)
            if w.proc.poll() is None:
                w.kill()
            w.close()
        bar.close()
    finally:
        report.wall_seconds = time.perf_counter() - start
        shutil.rmtree(run_dir, ignore_errors=True)
        run_lock.close()
        lock.close()
    return report


class _progress:
    """A progress bar with an ETA (tqdm) on a terminal; one line per submission otherwise."""

    def __init__(self, total: int, enabled: bool, log):
        self.log, self.total, self.done = log, total, 0
        self.start = time.monotonic()
        self.tqdm = None
        if enabled and sys.stderr.isatty():
            from tqdm import tqdm

            self.tqdm = tqdm(total=total, unit="submission", dynamic_ncols=True)

    def __call__(self, student: str, result: dict, seconds: float) -> None:
        self.done += 1
        status = result["status"] + (" FLAGGED" if result.get("flags") else "")
        if self.tqdm is not None:
            self.tqdm.set_postfix_str(f"{student}: {result['score']:g}/{result['max_score']:g} {status}")
            self.tqdm.update(1)
            return
        elapsed = time.monotonic() - self.start
        eta = elapsed / self.done * (self.total - self.done)
        self.log(f"  [{self.done}/{self.total}, ETA {eta:4.0f} s] {student:<24} {seconds:6.1f} s  "
                 f"{result['score']:g}/{result['max_score']:g}  {status}")

    def close(self) -> None:
        if self.tqdm is not None:
            self.tqdm.close()


# ---------------------------------------------------------------------------
# Shards: several machines, one gradebook
# ---------------------------------------------------------------------------


def in_shard(student: str, shard: tuple[int, int]) -> bool:
    """Whether ``student`` belongs to shard ``k`` of ``n`` (a stable hash of the id, the same on every machine)."""
    import hashlib

    k, n = shard
    return int(hashlib.sha256(student.encode()).hexdigest(), 16) % n == k


def parse_shard(text: str) -> tuple[int, int]:
    """``"2/8"`` -> ``(2, 8)`` (shards are numbered 0 to n-1)."""
    try:
        k, n = (int(part) for part in text.split("/"))
    except ValueError:
        raise ValueError(f"--shard {text!r}: expected K/N with 0 <= K < N, e.g. 0/4") from None
    if not 0 <= k < n:
        raise ValueError(f"--shard {text!r}: expected K/N with 0 <= K < N, e.g. 0/4")
    return k, n


def merge_shards(course, assignment: str, shards, log=print) -> list[str]:
    """Merge the results graded in other copies of the course (``shards``) into ``course``.

    Each shard is a course folder made from the same release (a copy of this
    course's folder, gradebook included, taken after ``generate_assignment``)
    where ``mnistlab grade --shard K/N`` graded part of the class. For every
    submission a shard recorded, its autograded notebook, feedback and
    gradebook rows are merged exactly as a worker's are (one transaction per
    submission), so merging is idempotent and can be interrupted and re-run.
    Returns the students merged.
    """
    course = Path(course).resolve()
    merged = []
    lock = _lock(course, assignment)
    try:
        for shard in shards:
            shard = Path(shard).resolve()
            results = sorted((state_dir(shard, assignment) / "results").glob("*.json"))
            if not results:
                raise FileNotFoundError(f"{shard} has no graded submissions of {assignment} "
                                        f"({state_dir(shard, assignment) / 'results'} is empty)")
            for path in results:
                result = json.loads(path.read_text())
                student = result["student_id"]
                commit_result(course, assignment, shard, result)
                src = shard / "submitted" / student / assignment
                if src.is_dir():  # the master keeps the submitted files, for re-grading later
                    _replace_tree(src, course / "submitted" / student / assignment)
                merged.append(student)
            log(f"merged {len(results)} submission(s) from {shard}")
    finally:
        lock.close()
    return merged
