"""The rules of ``mnistlab grade`` on nbgrader's own path: ``nbgrader autograde`` and the formgrader's Autograde button.

Issue 12; instructor guide ``book/07_instructor_guide.md``. The course's ``nbgrader_config.py``
sets ``c.Autograde.autograde_preprocessors`` to :data:`AUTOGRADE_PREPROCESSORS`: nbgrader's own
list, with

* ``Execute`` replaced by :class:`GuardedExecute`: :class:`~mnistlab.grader.robust_execute.RobustExecute`
  (kernel restarts, the course's timeouts) in a kernel confined as ``mnistlab grade``'s are
  (the OS sandbox of :mod:`mnistlab.grader.os_sandbox`, with the in-process guard of
  :mod:`mnistlab.grader.sandbox` inside it: no network, nothing of the course visible, the disk
  quota and resource limits; only the notebook and the submitted files stay in ``autograded/``) and given the
  student's grading seed (:mod:`mnistlab.grader.course_secret`, the course secret is made on
  first use), so the hidden checks draw that student's inputs;
* :class:`IsolatedRecheck` right after it: every graded function is checked again in the
  isolated process of :mod:`mnistlab.grader.isolation` (the same seed, drawn in this process),
  and the test cell of a function that passed in the kernel but fails its re-check gets an
  error output at its top, so nbgrader's ``SaveAutoGrades`` gives it zero points, as
  ``mnistlab grade`` does (the lower verdict). The output says why and names ``mnistlab grade``.

What stays ``mnistlab grade``'s alone: the preflight of malformed notebooks (nbgrader reports
an error instead of a flagged zero row), the per-submission private copy of the course and its
wall-clock limit, the flags (here a refused file access shows only as the error in the cell that
tried it, and a lowered grade as the re-check's error and a warning in nbgrader's log), the item
analysis and the similarity report.
``mnistlab grade``'s workers run nbgrader with plain ``RobustExecute`` and do the guarding and the
re-check themselves (:mod:`mnistlab.grader.worker`).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from nbformat import NotebookNode
from nbgrader.preprocessors import Execute, NbGraderPreprocessor
from traitlets import Unicode

from mnistlab.checks import GRADED, grade_id
from mnistlab.grader.course import environment
from mnistlab.grader.course_secret import ensure_secret, grading_seed
from mnistlab.grader.robust_execute import AUTOGRADE_PREPROCESSORS as _ROBUST, RobustExecute, error_output
from mnistlab.grader.settings import CELL_TIMEOUT, TRAINING_RUN_TIMEOUT

#: Where GuardedExecute leaves what IsolatedRecheck needs, in nbconvert's resources (this process only).
_RESOURCE_KEY = "mnistlab_guarded"


def _what_to_hide(course: Path, workdir: Path, private: Path) -> list[Path]:
    """Everything of the course but the Python it runs on and this notebook's folder; the private folder; the runtime folder."""
    from jupyter_core.paths import jupyter_runtime_dir

    from mnistlab.grader.worker import hidden_course_paths

    hidden = []
    for entry in hidden_course_paths(course):
        if entry == workdir or entry in workdir.parents:
            # The folder holding this notebook's: hide its other entries, level by level down to it.
            below = entry
            for part in workdir.relative_to(entry).parts:
                hidden += [p for p in sorted(below.iterdir()) if p.name != part]
                below = below / part
        else:
            hidden.append(entry)
    return [*hidden, private, Path(jupyter_runtime_dir())]


class GuardedExecute(RobustExecute):
    """``RobustExecute`` in a guarded kernel that knows the student's grading seed (nbgrader's path)."""

    course_root = Unicode(
        "",
        help="The course folder (where the course secret lives); the course's nbgrader_config.py sets it.",
    ).tag(config=True)

    def preprocess(self, nb, resources=None, km=None):
        from mnistlab.grader import os_sandbox
        from mnistlab.grader.worker import kernel_confinement, only_submitted_files

        if not self.course_root:
            raise ValueError("GuardedExecute.course_root is not set: the course's nbgrader_config.py sets it to "
                             "the course folder (c.GuardedExecute.course_root = c.CourseDirectory.root)")
        course = Path(self.course_root).resolve()
        student, assignment = resources["nbgrader"]["student"], resources["nbgrader"]["assignment"]
        workdir = Path(resources["metadata"]["path"]).resolve()
        secret, created = ensure_secret(course)
        if created:
            self.log.warning("Created the course secret %s (the hidden tests draw each student's inputs from it)",
                             course / ".mnistlab-secret")
        seed = grading_seed(secret, assignment, student)
        private = Path(tempfile.mkdtemp(prefix="mnistlab-autograde-"))
        resources[_RESOURCE_KEY] = {"seed": seed, "private": str(private), "course": str(course)}
        # The kernel in the OS sandbox, as mnistlab grade's (mnistlab.grader.worker.kernel_confinement): its
        # own network, nothing of the course, a tmpfs with the disk quota as its only writable place.
        if os_sandbox.unavailable_reason() is not None:
            os_sandbox.warn_once(self.log.warning)
        manager, env = kernel_confinement(private, workdir, _what_to_hide(course, workdir, private), seed)
        self.kernel_manager_class = os_sandbox.SandboxedKernelManager
        self.explain_limits = True
        for name, value in manager.items():
            setattr(self.config.SandboxedKernelManager, name, value)
        try:
            with environment(env):
                return super().preprocess(nb, resources, km)
        finally:
            tempfile.tempdir = None  # tempfile caches the first TMPDIR it sees: the kernel's, not ours
            # Only the notebook and the submitted files stay in autograded/ (and so in feedback/).
            only_submitted_files(workdir, course / "submitted" / student / assignment)


class IsolatedRecheck(NbGraderPreprocessor):
    """After :class:`GuardedExecute`: a test cell whose function fails the isolated re-check gets an error (0 points)."""

    def preprocess(self, nb, resources):
        import nbformat

        from mnistlab.grader.isolation import recheck_notebook
        from mnistlab.grader.worker import MEMORY_LIMIT_MB, hidden_course_paths

        guarded = resources.get(_RESOURCE_KEY)
        if guarded is None:
            raise RuntimeError("IsolatedRecheck must come after GuardedExecute in Autograde.autograde_preprocessors "
                               "(see mnistlab.grader.nbgrader_path.AUTOGRADE_PREPROCESSORS)")
        student, assignment = resources["nbgrader"]["student"], resources["nbgrader"]["assignment"]
        functions = {grade_id(f): f for f in GRADED.get(assignment, ())}
        private = Path(guarded["private"])
        try:
            if not functions:
                return nb, resources
            path = private / "executed.ipynb"
            nbformat.write(nb, path)
            verdicts = recheck_notebook(
                path, assignment, hidden_dirs=[*hidden_course_paths(Path(guarded["course"])), private],
                function_timeout=CELL_TIMEOUT, training_timeout=TRAINING_RUN_TIMEOUT, memory_mb=MEMORY_LIMIT_MB,
                cell_timeout=CELL_TIMEOUT, hidden_seed=guarded["seed"], student=student,
            )
        finally:
            shutil.rmtree(private, ignore_errors=True)
        for cell in nb.cells:
            function = functions.get(cell.get("metadata", {}).get("nbgrader", {}).get("grade_id"))
            verdict = verdicts.get(function)
            # A cell that failed in the kernel already earns nothing: its own message stays the one shown.
            if cell.cell_type == "code" and verdict is not None and not verdict.passed and not _failed(cell):
                self.log.warning("%s: %s failed the isolated re-check: %s", student, function,
                                 (verdict.message.splitlines() or ["?"])[0])
                cell.outputs.insert(0, _recheck_failure(function, verdict.message))
        return nb, resources


def _failed(cell) -> bool:
    """Whether nbgrader gives the test cell 0 points (an error, or output on stderr; nbgrader.utils.determine_grade)."""
    return any(o.get("output_type") == "error" or (o.get("output_type") == "stream" and o.get("name") == "stderr")
               for o in cell.get("outputs", []))


def _recheck_failure(function: str, message: str) -> NotebookNode:
    first = (message.splitlines() or ["it could not be run"])[0][:300]
    return error_output(
        "IsolatedRecheckFailed",
        f"{function} failed the isolated re-check ({first}); the lower verdict, 0 points, stands",
        "",
        "The graded functions are checked again in a separate process, where the notebook's code",
        "cannot change the checks, NumPy or builtins, nor call the reference implementation.",
        *message.splitlines()[1:20],
        "",
        "(mnistlab grade gives the same verdict, and also flags the submission for the instructor.)",
    )


def _guarded_preprocessors():
    out = []
    for pp in _ROBUST:
        if pp is RobustExecute:
            out += [GuardedExecute, IsolatedRecheck]
        else:
            assert pp is not Execute, _ROBUST
            out.append(pp)
    assert IsolatedRecheck in out, _ROBUST
    return out


#: nbgrader's ``Autograde.autograde_preprocessors`` with ``Execute`` replaced by :class:`GuardedExecute`
#: followed by :class:`IsolatedRecheck` (before ``SaveAutoGrades``, which reads the cells' outputs).
AUTOGRADE_PREPROCESSORS = _guarded_preprocessors()
