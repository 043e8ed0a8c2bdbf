"""The README's Slurm recipe, run for real: a class graded as a job array on a one-node cluster, then merged.

``assignments/README.md`` ("A class too large for one machine") shards a class
over a Slurm job array, ``assignments/slurm/grade-shard.sbatch``, and merges
the shards with ``assignments/slurm/merge-shards.sh``. The slow test here
submits exactly those two files to a real slurmctld and slurmd on localhost
(:mod:`slurm_cluster`; Debian's packages, installed when missing) and checks
the merged gradebook against an independent oracle, a single-machine grading
of the same class, after killing one array task half-way and re-submitting it.
Its timings are printed (``pytest -s``).
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

import slurm_cluster
from process_helpers import left_after
from assignment_bugs import harness as h
from mnistlab import cli
from mnistlab.checks import GRADED
from mnistlab.grader.bench import make_class
from mnistlab.grader.pool import in_shard

A = "a2_relu_softmax"
REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "assignments" / "slurm"
JOB_SCRIPT = RECIPE / "grade-shard.sbatch"
MERGE_SCRIPT = RECIPE / "merge-shards.sh"
STUDENTS = 24
SHARDS = 2
#: Seconds one array task may take on the 2-core node (~2-5 s per submission on one core).
TASK_TIMEOUT = 600


def test_the_readme_recipe_is_the_two_scripts():
    """The README shows the files the Slurm test runs, and holds no second copy of their commands."""
    readme = (REPO / "assignments" / "README.md").read_text()
    assert "slurm/grade-shard.sbatch" in readme and "slurm/merge-shards.sh" in readme
    assert "--shard $SLURM_ARRAY_TASK_ID" not in readme and "--merge-from /scratch" not in readme
    for script in (JOB_SCRIPT, MERGE_SCRIPT):
        assert os.access(script, os.X_OK), f"{script} is not executable"
        done = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    # sbatch reads #SBATCH lines only before the first command.
    lines = [l for l in JOB_SCRIPT.read_text().splitlines()[1:] if l.strip()]
    first_command = next(i for i, l in enumerate(lines) if not l.startswith("#"))
    assert [l for l in lines[first_command:] if l.startswith("#SBATCH")] == []
    assert any(l.startswith("#SBATCH --cpus-per-task") for l in lines[:first_command])


def test_the_cluster_says_why_it_cannot_run(monkeypatch, tmp_path):
    """The reasons the Slurm test prints when it skips: not root, no apt-get, a package apt refuses."""
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert "runs its daemons as root" in slurm_cluster.install_reason()
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(slurm_cluster, "_SEARCH_PATH", str(tmp_path))  # no Slurm, no apt-get
    assert "no apt-get to install Debian's slurmctld slurmd munge" in slurm_cluster.install_reason()
    apt = tmp_path / "apt-get"  # an apt-get that knows no package, as on a machine without the archive
    apt.write_text('#!/bin/sh\n[ "$1" = update ] && exit 0\necho "E: Unable to locate package $4" >&2\nexit 100\n')
    apt.chmod(0o755)
    reason = slurm_cluster.install_reason()
    assert "install -y -qq slurmctld slurmd munge` failed (exit status 100)" in reason
    assert "E: Unable to locate package slurmctld" in reason


@pytest.fixture
def slurm(request):
    """A running one-node cluster; every daemon it started is stopped at the end, also when the test fails."""
    missing = slurm_cluster.missing_programs()
    begin = time.monotonic()
    reason = slurm_cluster.install_reason()
    if reason is not None:
        pytest.skip(f"no Slurm cluster here: {reason}")
    if missing:
        print(f"\n[slurm] installed Debian's {' '.join(slurm_cluster.PACKAGES)} in {time.monotonic() - begin:.1f} s")
    cluster = slurm_cluster.LocalCluster()

    def stop():
        begin = time.monotonic()
        killed = cluster.stop()
        left = cluster.alive()
        print(f"\n[slurm] daemons stopped in {time.monotonic() - begin:.1f} s"
              + (f" ({', '.join(killed)} needed SIGKILL)" if killed else ""))
        if not left:
            cluster.remove()
        assert not left, f"Slurm daemons still running after stop: {left} (folder {cluster.root} kept)"

    request.addfinalizer(stop)
    cluster.start()
    print(f"\n[slurm] munged, slurmctld and slurmd up in {cluster.start_seconds:.1f} s ({cluster.root})")
    return cluster


def _results(course: Path) -> list[Path]:
    return sorted((course / ".mnistlab-grading" / A / "results").glob("*.json"))


def _rows_per_student(course: Path) -> dict[str, tuple[int, int]]:
    """student -> (submissions of A, grade rows of A) in the course gradebook: duplicates show as counts above one."""
    con = sqlite3.connect(course / "gradebook.db")
    try:
        rows = con.execute(
            "SELECT s.student_id, COUNT(DISTINCT s.id), COUNT(g.id) FROM submitted_assignment s "
            "JOIN assignment a ON s.assignment_id = a.id "
            "JOIN submitted_notebook n ON n.assignment_id = s.id JOIN grade g ON g.notebook_id = n.id "
            "WHERE a.name = ? GROUP BY s.student_id", (A,)).fetchall()
    finally:
        con.close()
    return {student: (submissions, grades) for student, submissions, grades in rows}


def _csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _merge(env: dict, cwd: Path) -> tuple[subprocess.CompletedProcess, float]:
    begin = time.monotonic()
    done = subprocess.run([str(MERGE_SCRIPT)], env={**os.environ, **env}, cwd=cwd, capture_output=True, text=True,
                          timeout=600)
    return done, time.monotonic() - begin


@pytest.mark.slow
def test_a_class_graded_as_a_slurm_job_array_equals_one_machine_after_a_killed_task(tmp_path, slurm):
    venv_bin = Path(sys.executable).parent
    assert (venv_bin / "mnistlab").is_file(), f"no `mnistlab` in {venv_bin}: run `make install`"
    master = h.make_course(tmp_path / "shared")  # the course on "shared storage"
    h.release(master, A)
    make_class(master.root, A, STUDENTS)
    # README step 1: the course secret, which every copy carries (the shards draw the same hidden inputs).
    assert cli.main(["secret", "--course", str(master.root)]) == 0
    students = sorted(p.name for p in (master.root / "submitted").iterdir())
    shard1 = [s for s in students if in_shard(s, (1, SHARDS))]
    assert len(students) == STUDENTS and 2 <= len(shard1) <= STUDENTS - 2

    # The oracle: the same class graded on one machine, in its own copy of the released course.
    single = tmp_path / "single" / "course"
    shutil.copytree(master.root, single)
    begin = time.monotonic()
    single_status = cli.main(["grade", A, "--course", str(single), "--jobs", "2", "--no-progress"])
    single_seconds = time.monotonic() - begin
    oracle = h.gradebook_scores(h.Course(single, None, {}), A)
    totals = [sum(score for score, _ in cells.values()) for cells in oracle.values()]
    assert sorted(oracle) == students
    assert max(totals) == 10 and min(totals) < 10, "the class needs correct and buggy submissions"

    # The array, as the README submits it (the node has 2 CPUs: one per task instead of the script's 8).
    scratch, logs = tmp_path / "scratch", tmp_path / "slurm-output"
    logs.mkdir()
    env = {"PATH": f"{venv_bin}{os.pathsep}{os.environ['PATH']}", "MNISTLAB_COURSE": str(master.root),
           "MNISTLAB_SCRATCH": str(scratch), "MNISTLAB_SHARDS": str(SHARDS), "MNISTLAB_ASSIGNMENT": A}
    submitted = time.monotonic()
    job = slurm.sbatch([f"--array=0-{SHARDS - 1}", "--cpus-per-task=1", str(JOB_SCRIPT)], env=env, cwd=logs)
    # Kill task 1 once its shard has graded at least one submission, and follow both tasks out of the queue.
    shard1_copy = scratch / "course-1"
    killed_at, left_queue = None, {}
    deadline = submitted + TASK_TIMEOUT
    while len(left_queue) < SHARDS and time.monotonic() < deadline:
        if killed_at is None and _results(shard1_copy):
            slurm.run(["scancel", f"{job}_1"])
            killed_at = time.monotonic()
        queued = slurm.queued(job)
        for task in range(SHARDS):
            if task not in left_queue and f"{job}_{task}" not in queued and not any("[" in q for q in queued):
                left_queue[task] = time.monotonic() - submitted
        time.sleep(0.2)
    outputs = {t: logs / f"mnistlab-grade-{job}_{t}.out" for t in range(SHARDS)}
    output_text = {t: p.read_text() if p.is_file() else f"(no {p.name})" for t, p in outputs.items()}
    assert len(left_queue) == SHARDS, f"the array is still queued after {TASK_TIMEOUT} s: {slurm.queued(job)}\n" \
        + "\n".join(output_text.values()) + slurm.logs()
    assert killed_at is not None, "task 1 never graded a submission:\n" + output_text[1] + slurm.logs()
    graded_before_kill = [p.stem for p in _results(shard1_copy)]
    assert 1 <= len(graded_before_kill) < len(shard1), \
        f"task 1 was to be killed half-way, but had graded {len(graded_before_kill)} of {len(shard1)}"
    # A task leaves the queue once slurmd has seen its processes end. A sandboxed kernel of the cancelled
    # task is not always among them: proctrack/linuxproc follows parent ids, and a bwrap whose grading
    # worker died first is no longer below the task. The kernel's lifeline (os_sandbox.bwrap_command)
    # ends it when the worker ends, whatever killed the worker.
    left = left_after(f"SLURM_ARRAY_JOB_ID={job}", 60)  # Slurm sets it in every task
    assert not left, f"processes of the cancelled array still running after 60 s: {left}"
    shard0_log = re.search(r"graded (\d+) submission\(s\) of \S+ in ([\d.]+) s", output_text[0])
    assert shard0_log, output_text[0]
    assert int(shard0_log[1]) == STUDENTS - len(shard1), output_text[0]

    # Merging now says who is missing (exit status 1) and leaves them out; merging is idempotent.
    partial, partial_seconds = _merge(env, logs)
    missing = sorted(set(shard1) - set(graded_before_kill))
    assert partial.returncode == 1, partial.stdout + partial.stderr
    assert f"{len(missing)} submission(s) of {A} were graded in none of the shards: {', '.join(missing)}" \
        in partial.stdout, partial.stdout + partial.stderr
    assert sorted(r["student_id"] for r in _csv(master.root / "grades" / f"{A}.csv")) == \
        sorted(set(students) - set(missing))

    # Re-submitting the killed task resumes its shard: it keeps what was graded and grades the rest.
    resubmitted = time.monotonic()
    rerun = slurm.sbatch(["--array=1", "--cpus-per-task=1", str(JOB_SCRIPT)], env=env, cwd=logs)
    slurm.wait_gone(rerun, TASK_TIMEOUT)
    rerun_seconds = time.monotonic() - resubmitted
    rerun_output = (logs / f"mnistlab-grade-{rerun}_1.out").read_text()
    rerun_log = re.search(r"graded (\d+) submission\(s\) of \S+ in ([\d.]+) s with 1 worker\(s\); (\d+) kept",
                          rerun_output)
    assert rerun_log, rerun_output
    assert (int(rerun_log[1]), int(rerun_log[3])) == (len(missing), len(graded_before_kill)), rerun_output
    assert sorted(p.stem for p in _results(shard1_copy)) == shard1

    final, merge_seconds = _merge(env, logs)
    assert final.returncode == single_status, final.stdout + final.stderr

    # The merged gradebook is the single machine's: same scores per student and function, no duplicates.
    assert h.gradebook_scores(master, A) == oracle
    rows = _rows_per_student(master.root)
    assert rows == _rows_per_student(single)
    assert sorted(rows) == students and set(rows.values()) == {(1, len(GRADED[A]))}, rows
    merged_csv, single_csv = _csv(master.root / "grades" / f"{A}.csv"), _csv(single / "grades" / f"{A}.csv")
    assert [r["student_id"] for r in merged_csv] == students
    assert merged_csv == single_csv
    for name in (f"{A}-items.csv", f"{A}-items.txt"):
        assert (master.root / "grades" / name).read_text() == (single / "grades" / name).read_text(), name
    items = _csv(master.root / "grades" / f"{A}-items.csv")
    assert [r["function"] for r in items] == list(GRADED[A])
    graded = sum(1 for r in merged_csv if r["status"] == "graded")
    assert graded == STUDENTS and all(int(r["n"]) == graded for r in items), items
    for student in students:
        assert (master.root / "feedback" / student / A / f"{A}.html").is_file(), student

    print(f"\n[slurm] {STUDENTS} submissions of {A}, {SHARDS} shards ({len(students) - len(shard1)} + "
          f"{len(shard1)}), 1 CPU per task on a {os.cpu_count()}-CPU node")
    print(f"[slurm] single machine, --jobs 2: {single_seconds:.1f} s")
    print(f"[slurm] task 0: {left_queue[0]:.1f} s from submission to leaving the queue "
          f"(grading {float(shard0_log[2]):.1f} s)")
    print(f"[slurm] task 1: killed {killed_at - submitted:.1f} s after submission, out of the queue at "
          f"{left_queue[1]:.1f} s, {len(graded_before_kill)} of {len(shard1)} graded")
    print(f"[slurm] merge with task 1 incomplete: {partial_seconds:.1f} s ({len(missing)} reported missing)")
    print(f"[slurm] task 1 re-submitted: {rerun_seconds:.1f} s ({rerun_log[1]} graded in "
          f"{float(rerun_log[2]):.1f} s, {rerun_log[3]} kept)")
    print(f"[slurm] final merge: {merge_seconds:.1f} s")
    print(f"[slurm] array, submission to the last task out of the queue: {max(left_queue.values()):.1f} s; "
          f"with the re-submission and both merges: {time.monotonic() - submitted:.1f} s")
