"""``mnistlab.grader.robust_execute.RobustExecute``: notebooks that break the kernel still get graded.

Real nbgrader autogrades of a2_relu_softmax in a temporary copy of the course
(``assignments/``), with the lines ``ROBUST_CONFIG`` appended to the copy's
``nbgrader_config.py`` (the first two are the ones for the real course file; the
third shortens the cell timeout to keep the tests quick). Students break the
kernel in ``relu``'s cells; every other function must keep its full points, read
from nbgrader's gradebook. Then: a normal notebook runs exactly as with nbgrader's
``Execute`` and as fast; and, on small notebooks run directly, the restart limit
and the skipping of a cell that hangs when it is run again to rebuild the kernel.
"""

from __future__ import annotations

import statistics
import time

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from assignment_bugs import harness as h
from mnistlab.checks import GRADED, grade_id
from mnistlab.grader.course import course_api, environment, load_course_config
from mnistlab.grader.feedback import strip_ansi
from mnistlab.grader.robust_execute import AUTOGRADE_PREPROCESSORS, GRACE_SECONDS, MAX_RESTARTS, RobustExecute

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")]

A2 = "a2_relu_softmax"
#: Cell timeout of the test course (the real course has 30 s).
TEST_TIMEOUT = 5

ROBUST_CONFIG = f"""
# --- added by tests/test_robust_execute.py ---
from mnistlab.grader.robust_execute import AUTOGRADE_PREPROCESSORS
c.Autograde.autograde_preprocessors = AUTOGRADE_PREPROCESSORS
c.Execute.timeout_func = lambda cell: {TEST_TIMEOUT}  # test only: short cell timeouts
"""

#: A loop that swallows the timeout's interrupt. The interrupt (SIGINT) lands inside the ``try``
#: because ``sleep`` is where the loop spends its time. (In the bare ``try: pass`` version the
#: interrupt is raised at the loop's backward jump, outside the ``try``, so it does stop: see
#: ``test_plain_swallowing_loop_is_interrupted``.)
SWALLOWING_LOOP = (
    "import time\n"
    "while True:\n"
    "    try:\n"
    "        time.sleep(0.05)\n"
    "    except KeyboardInterrupt:\n"
    "        pass\n"
)
PLAIN_SWALLOWING_LOOP = "while True:\n    try:\n        pass\n    except KeyboardInterrupt:\n        pass\n"
RELU_RETURN = "return np.maximum(np.asarray(x), 0)"


def relu_cell(nb):
    (cell,) = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "relu"]
    return cell


def prepend_to_relu(code):
    def edit(nb):
        relu_cell(nb).source = code + "\n" + relu_cell(nb).source
    return edit


def in_relu(body):
    """Put ``body`` (one level of indentation) in relu, before its return."""
    def edit(nb):
        cell = relu_cell(nb)
        assert cell.source.count(RELU_RETURN) == 1
        indented = "".join("    " + line + "\n" for line in body.strip("\n").split("\n"))
        cell.source = cell.source.replace(RELU_RETURN, indented.lstrip() + "    " + RELU_RETURN)
    return edit


#: student -> the edit of the reference solution notebook that breaks the kernel (None: unchanged).
STUDENTS = {
    "solution": None,
    "loop_top": prepend_to_relu(SWALLOWING_LOOP),
    "plain_loop_top": prepend_to_relu(PLAIN_SWALLOWING_LOOP),
    "exit_top": prepend_to_relu("import os\nos._exit(1)"),
    "segfault_top": prepend_to_relu("import ctypes\nctypes.string_at(0)"),
    "loop_in_relu": in_relu(SWALLOWING_LOOP),
    "sys_exit_in_relu": in_relu("import sys\nsys.exit()"),
}


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    course = h.make_course(tmp_path_factory.mktemp("robust"))
    course.execute_api = course.api  # the repository's configuration: nbgrader's Execute
    with open(course.root / "nbgrader_config.py", "a") as f:
        f.write(ROBUST_CONFIG)
    config, env = load_course_config(course.root)
    with environment(course.env):
        course.api = course_api(config)
    for student, edit in STUDENTS.items():
        h.submit(course, A2, student, h.student_notebook(course, A2, edit=edit))
    course.seconds = h.autograde(course, A2, list(STUDENTS))  # asserts that every autograde succeeds
    course.scores = h.gradebook_scores(course, A2)
    print("\nautograde seconds:", {s: round(t, 1) for s, t in course.seconds.items()})
    return course


def points(course, student):
    cells = course.scores[student]
    return {f: cells[grade_id(f)] for f in GRADED[A2]}


def errors(nb, grade):
    """The error outputs (ename, text) of the cell ``grade``."""
    (cell,) = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade]
    return [(o.ename, strip_ansi("\n".join(o.traceback))) for o in cell.outputs if o.output_type == "error"]


def all_error_names(nb):
    return [o.ename for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]


def assert_only_relu_lost(course, student):
    got = points(course, student)
    assert got["relu"] == (0.0, 1.0), got
    for function in GRADED[A2][1:]:
        score, max_score = got[function]
        assert score == max_score > 0, (student, function, got)


def test_config_replaces_only_execute():
    from nbgrader.converters.autograde import Autograde
    from nbgrader.preprocessors import Execute

    default = list(Autograde.class_traits()["autograde_preprocessors"].default())
    assert AUTOGRADE_PREPROCESSORS == [RobustExecute if p is Execute else p for p in default]
    assert issubclass(RobustExecute, Execute)
    assert (GRACE_SECONDS, MAX_RESTARTS) == (3.0, 5)
    assert (RobustExecute().grace_seconds, RobustExecute().max_restarts) == (GRACE_SECONDS, MAX_RESTARTS)


def test_solution_gets_full_marks(course):
    got = points(course, "solution")
    assert sum(s for s, _ in got.values()) == sum(m for _, m in got.values()) == 10.0, got
    assert all_error_names(h.autograded_notebook(course, A2, "solution")) == []


def test_loop_ignoring_the_interrupt_at_top_level(course):
    assert_only_relu_lost(course, "loop_top")
    nb = h.autograded_notebook(course, A2, "loop_top")
    ((ename, text),) = errors(nb, "relu")
    assert ename == "TimeoutError"
    assert f"did not finish within {TEST_TIMEOUT} s and ignored the interrupt; the kernel was restarted" in text
    assert [e for e, _ in errors(nb, "test_relu")] == ["NameError"]  # relu's cell never finished


def test_plain_swallowing_loop_is_interrupted(course):
    """The brief's ``while True: try: pass except KeyboardInterrupt: pass`` stops at the interrupt
    (CPython checks for signals at the loop's jump, outside the ``try``): no restart is needed."""
    assert_only_relu_lost(course, "plain_loop_top")
    nb = h.autograded_notebook(course, A2, "plain_loop_top")
    assert [e for e, _ in errors(nb, "relu")] == ["KeyboardInterrupt", "CellTimeoutError"]  # as with Execute


def test_os_exit_at_top_level(course):
    assert_only_relu_lost(course, "exit_top")
    nb = h.autograded_notebook(course, A2, "exit_top")
    ((ename, text),) = errors(nb, "relu")
    assert ename == "DeadKernelError"
    assert "the kernel died while this cell ran (exit status 1); the kernel was restarted" in text
    assert "os._exit()" in text and "memory" in text
    assert [e for e, _ in errors(nb, "test_relu")] == ["NameError"]


def test_segfault_at_top_level(course):
    assert_only_relu_lost(course, "segfault_top")
    ((ename, text),) = errors(h.autograded_notebook(course, A2, "segfault_top"), "relu")
    assert ename == "DeadKernelError" and "(SIGSEGV: segmentation fault)" in text


def test_loop_ignoring_the_interrupt_in_relu(course):
    """relu's own cell runs; its test cell hangs, is stopped, and the kernel is rebuilt with relu in it."""
    assert_only_relu_lost(course, "loop_in_relu")
    nb = h.autograded_notebook(course, A2, "loop_in_relu")
    assert errors(nb, "relu") == []
    ((ename, text),) = errors(nb, "test_relu")
    assert ename == "TimeoutError" and "ignored the interrupt" in text


def test_sys_exit_is_an_ordinary_error(course):
    """sys.exit() raises SystemExit, which IPython shows as an error; the kernel survives (no restart)."""
    assert_only_relu_lost(course, "sys_exit_in_relu")
    nb = h.autograded_notebook(course, A2, "sys_exit_in_relu")
    assert [e for e, _ in errors(nb, "test_relu")] == ["SystemExit"]
    assert all_error_names(nb) == ["SystemExit"]


def comparable(nb):
    """The cells' sources and outputs, without timings and execution metadata."""
    return [(c.source, c.get("outputs"), c.get("execution_count")) for c in nb.cells]


def test_normal_notebook_same_as_execute_and_as_fast(course):
    nb = h.student_notebook(course, A2)
    times = {"Execute": [], "RobustExecute": []}
    apis = {"Execute": course.execute_api, "RobustExecute": course.api}
    for name in times:
        h.submit(course, A2, f"timing_{name}", nb)
    with environment(course.env):
        for _ in range(3):
            for name, api in apis.items():
                start = time.perf_counter()
                result = api.autograde(A2, f"timing_{name}")
                times[name].append(time.perf_counter() - start)
                assert result["success"], result.get("log")
    medians = {name: statistics.median(t) for name, t in times.items()}
    print("\nautograde of a normal a2 submission (median of 3 s):",
          {name: round(m, 2) for name, m in medians.items()},
          "all:", {name: [round(x, 2) for x in t] for name, t in times.items()})
    plain = h.autograded_notebook(course, A2, "timing_Execute")
    robust = h.autograded_notebook(course, A2, "timing_RobustExecute")
    assert comparable(robust) == comparable(plain)
    scores = h.gradebook_scores(course, A2)
    assert scores["timing_RobustExecute"] == scores["timing_Execute"]
    assert medians["RobustExecute"] < 1.3 * medians["Execute"] + 0.3, medians


# --- RobustExecute on small notebooks, without nbgrader's autograde ------------------------------

def run(cells, tmp_path, cls=RobustExecute, **traits):
    """Run ``cells`` with ``cls``; return each cell's outputs as (type, ename or text, error message)."""
    nb = new_notebook(cells=[new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    cls(**traits).preprocess(nb, {"metadata": {"path": str(tmp_path)}})
    return [[(o.output_type, o.get("ename") or o.get("text", ""), o.get("evalue", "")) for o in c.outputs]
            for c in nb.cells]


def test_restart_limit(tmp_path):
    outputs = run(["x = 1", *["import os; os._exit(1)"] * 3, "print(x)"], tmp_path, timeout=5, max_restarts=2)
    assert [[o[:2] for o in cell] for cell in outputs] == [
        [], [("error", "DeadKernelError")], [("error", "DeadKernelError")], [("error", "DeadKernelError")],
        [("error", "NotRunError")],
    ]
    assert "; the kernel was restarted and the cells above were run again" in outputs[2][0][2]
    assert outputs[3][0][2] == (
        "the kernel died while this cell ran (exit status 1); the kernel was not restarted: it was restarted "
        "2 times already (the limit), so the cells below were not run."
    )
    assert outputs[4][0][2] == (
        "this cell was not run: the autograder stopped running the notebook because the kernel broke and "
        "it was restarted 2 times already (the limit)."
    )


class FailingRestart(RobustExecute):
    async def _async_restart_kernel(self):
        await self._async_cleanup_kernel()  # what nbclient does when a new kernel does not start
        raise RuntimeError("no kernel today")


def test_failed_restart_ends_the_notebook_cleanly(tmp_path):
    outputs = run(["x = 1", "import os; os._exit(1)", "print(x)"], tmp_path, cls=FailingRestart, timeout=5)
    assert [[o[:2] for o in cell] for cell in outputs] == [
        [], [("error", "DeadKernelError")], [("error", "NotRunError")]]
    assert "the kernel was not restarted: the kernel could not be restarted" in outputs[1][0][2]


def test_cell_that_hangs_when_run_again_is_skipped(tmp_path):
    """Rebuilding the kernel after cell 3 crashes, cell 1 hangs (second run): it is skipped, the rest is rebuilt."""
    hang_second_time = (
        "import os, time\nif os.path.exists('ran'):\n"
        + "".join("    " + line + "\n" for line in SWALLOWING_LOOP.split("\n") if line)
        + "open('ran', 'w').close()\nb = 2"
    )
    outputs = run(["a = 1", hang_second_time, "print(a, b)", "import os; os._exit(3)", "print(a, 'b' in dir())"],
                  tmp_path, timeout=2, grace_seconds=1)
    assert [[o[:2] for o in cell] for cell in outputs] == [
        [], [], [("stream", "1 2\n")], [("error", "DeadKernelError")], [("stream", "1 False\n")]]


def test_killed_kernel(tmp_path):
    outputs = run(["x = 1", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)", "print(x)"], tmp_path, timeout=5)
    assert [[o[:2] for o in cell] for cell in outputs] == [[], [("error", "DeadKernelError")], [("stream", "1\n")]]
    assert "(SIGKILL: killed, often for using too much memory)" in outputs[1][0][2]
