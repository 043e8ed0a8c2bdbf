# nbgrader configuration of the mnistlab course. This folder (assignments/) is the course directory:
# sources in source/<assignment>/, and nbgrader's working folders release/, submitted/, autograded/,
# feedback/ and gradebook.db next to them (none of those are tracked by git).
#
# The instructor's commands (book/07_instructor_guide.md walks through a real run):
#
#   cd assignments                                   # with the venv active: source ../.venv/bin/activate
#   nbgrader generate_assignment "*" --force         # release: release/<a>/<a>.ipynb for all five
#   mnistlab grade a1_data                           # submitted/ -> autograded/, feedback/, grades/a1_data.csv
#   mnistlab grade a1_data --zip canvas-export.zip   # the same from an LMS download (nbgrader zip_collect)
#   mnistlab check a1_data.ipynb                     # students: the visible tests, as the autograder runs them
#
# Everything below is plain nbgrader configuration, so nbgrader's own commands (autograde,
# generate_feedback, export, zip_collect, formgrader) grade like `mnistlab grade`: the same guarded
# kernel, the same isolated re-check and the same per-student hidden inputs (see "Executing students'
# notebooks" below). `mnistlab grade` adds what nbgrader's path has not: a flagged zero row for a
# malformed notebook, a private copy of the course and a wall-clock limit per submission, parallel
# workers, and the flags, item analysis and similarity report of the grades CSV. Prefer it.

import os

from mnistlab.grader.settings import KERNEL_ENV, SUBMISSION_IGNORE, cell_timeout

c = get_config()  # noqa: F821 (provided by traitlets when it loads this file)

c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.course_id = "mnistlab"

# --- Executing students' notebooks --------------------------------------------------------------
# Every cell gets 30 s (nbgrader's default), except the training run of a5_sgd_momentum, which gets
# 300 s (it takes 2-30 s on a 2-core machine, depending on what else runs). A cell that times out is
# interrupted and counts as failed; the remaining cells still run.
c.Execute.timeout_func = cell_timeout
c.Execute.interrupt_on_timeout = True
# A cell that ignores the interrupt (an endless loop inside `try: ... except KeyboardInterrupt`), or
# that kills the kernel (os._exit, a segfault, the memory limit), would make nbgrader drop the whole
# notebook. RobustExecute (nbgrader's Execute, otherwise unchanged) restarts the kernel, re-runs the
# cells above silently, marks that cell as failed with the reason and grades the rest.
#
# nbgrader's own path holds to mnistlab grade's rules (issue 12; we chose this over refusing): the
# executor is GuardedExecute, a RobustExecute whose kernel is guarded like mnistlab grade's (it writes
# only in the notebook's folder, reads nothing else of this course: not the gradebook, the sources,
# other students' folders or the course secret) and gets the student's grading seed, derived from the
# course secret .mnistlab-secret in this folder (made on first use; `mnistlab secret`), so the hidden
# tests draw that student's inputs. After it, IsolatedRecheck checks every graded function again in
# the isolated process, where the notebook cannot patch the checks or call the reference; a function
# that fails there gets an error output at the top of its test cell, so nbgrader records 0 points for
# it (the lower verdict). mnistlab grade's workers replace this list with plain RobustExecute and do
# the same themselves. See mnistlab.grader.nbgrader_path.
from mnistlab.grader.nbgrader_path import AUTOGRADE_PREPROCESSORS  # noqa: E402

c.Autograde.autograde_preprocessors = AUTOGRADE_PREPROCESSORS
c.GuardedExecute.course_root = c.CourseDirectory.root
# The kernels inherit this environment: one BLAS thread each (see mnistlab.grader.settings.KERNEL_ENV).
for _name, _value in KERNEL_ENV.items():
    os.environ.setdefault(_name, _value)

# --- Files that come with a submission ---------------------------------------------------------
# nbgrader copies the files submitted next to a notebook into autograded/, and the kernel's working
# directory comes first on sys.path there: a submitted mnistlab/ folder or numpy.py would replace the
# installed package the tests import. Only notebooks are graded, so nothing importable (and no IPython
# configuration file) is copied. See mnistlab.grader.settings.SUBMISSION_IGNORE for the list and reasons.
c.CourseDirectory.ignore = SUBMISSION_IGNORE

# --- Feedback -----------------------------------------------------------------------------------
# Feedback is generated from the autograded notebooks, which contain the hidden tests again (autograde
# restores every test cell from the gradebook). ClearHiddenTests removes the hidden regions from the
# cells' code; ScrubHiddenTestOutputs first removes any hidden-test line that an error's traceback
# quotes from the outputs. Students see their score per function and the failure messages of
# mnistlab.checks, which never contain test code.
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "mnistlab.grader.feedback.ScrubHiddenTestOutputs",
    "nbgrader.preprocessors.ClearHiddenTests",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]

# --- Grades -------------------------------------------------------------------------------------
# `nbgrader export` (and `mnistlab grade`) write one row per student and assignment with the points of
# every graded function, not only the total.
c.ExportApp.plugin_class = "mnistlab.grader.grades.PerFunctionCsvExport"

# --- LMS downloads (nbgrader zip_collect) -------------------------------------------------------
# Put the LMS's zip of submissions in downloaded/<assignment>/archive/ (`mnistlab grade --zip` does it).
# The default names are Canvas's: <student>_<user id>_<submission id>_<file name>, with LATE_ after the
# student for late submissions and -N before .ipynb for resubmissions, e.g.
# bitdiddleben_1234_56789_a1_data.ipynb. Adapt the pattern to your LMS; it must set student_id and
# file_id (the notebook's name without .ipynb).
c.FileNameCollectorPlugin.named_regexp = (
    r".*/(?P<student_id>[A-Za-z0-9.\-]+)_(?:LATE_)?\d+_\d+_(?P<file_id>a\d_[a-z_]+?)(?:-\d+)?\.ipynb$"
)
c.ZipCollectApp.strict = True
