"""The grader's shared settings: time limits, the kernels' environment, the files a submission may not
bring along. Imported by the pool, the worker, the self-check and the course's ``nbgrader_config.py``.
"""

from __future__ import annotations

import os

from mnistlab.checks import grade_id


#: Seconds a notebook cell (and a graded function in the isolated re-check) may run before it is
#: interrupted (nbgrader's default). The environment variable MNISTLAB_CELL_TIMEOUT overrides it for
#: the instructor's runs (the tests use 5 s to keep endless loops short).
CELL_TIMEOUT = float(os.environ.get("MNISTLAB_CELL_TIMEOUT", 30))
#: Seconds for the training run of a5_sgd_momentum (it takes 2-30 s on 2 cores).
TRAINING_RUN_TIMEOUT = float(os.environ.get("MNISTLAB_TRAINING_RUN_TIMEOUT", 300))

#: Address-space limit of the kernel and of the isolated process (MiB). The a5 training run needs
#: ~1 GiB (MNIST in float32 plus the model); a memory hog gets a MemoryError at this size instead of
#: pushing the machine into swap.
MEMORY_LIMIT_MB = 3072
#: What one submission may write while it is graded, kernel and re-check each (MB, files): the sandbox's
#: tmpfs holds the working folder and the temporary files (mnistlab.grader.os_sandbox).
DISK_LIMIT_MB = int(os.environ.get("MNISTLAB_DISK_LIMIT_MB", 100))
FILE_LIMIT = int(os.environ.get("MNISTLAB_FILE_LIMIT", 10_000))
#: Processes and threads of one sandboxed kernel (RLIMIT_NPROC; an idle ipykernel runs ~10 threads).
PROCESS_LIMIT = 64
#: Files open at once (RLIMIT_NOFILE; an idle kernel holds ~40, most of them ZeroMQ's).
OPEN_FILES_LIMIT = 512
#: CPU seconds of one kernel or re-check process (RLIMIT_CPU): the a5 training run's 300 s, twice,
#: plus the other cells. A restarted kernel starts again from zero.
CPU_SECONDS_LIMIT = 900

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


def limit_explanation(text: str) -> str | None:
    """What to tell a student whose code hit one of the sandbox's limits (``text``: an error's value), or None."""
    if "No space left on device" in text or "File too large" in text or "[Errno 28]" in text:
        return (f"mnistlab grading: a submission may write at most {DISK_LIMIT_MB} MB and {FILE_LIMIT:,} files "
                "while it is graded (its folder and its temporary files together); this write went past that "
                "limit and was stopped.")
    if "Too many open files" in text:
        return f"mnistlab grading: a submission may have at most {OPEN_FILES_LIMIT:,} files open at once."
    if "Resource temporarily unavailable" in text and "fork" in text.lower():
        return f"mnistlab grading: a submission may run at most {PROCESS_LIMIT} processes and threads."
    return None
