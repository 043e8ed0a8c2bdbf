"""``mnistlab check``: a student's notebook run as the autograder runs it, and the verdict of its visible tests.

The one piece of the grader that students run, on their own machine (any OS): it imports no sandbox
and nothing Linux-only, only nbgrader's executor (:mod:`mnistlab.grader.robust_execute`) and the shared
settings.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from mnistlab.grader.course import environment
from mnistlab.grader.feedback import strip_ansi
from mnistlab.grader.grades import function_name
from mnistlab.grader.settings import KERNEL_ENV, cell_timeout


class NotebookUnreadable(ValueError):
    """The file is not a notebook ``mnistlab check`` can run (not JSON, not nbformat 4, invalid)."""


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


def read_notebook(path: Path):
    """The notebook at ``path``; :class:`NotebookUnreadable` saying what is wrong if it is not one."""
    import json

    import nbformat

    try:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
    except UnicodeDecodeError:
        raise NotebookUnreadable(f"{path.name} is not a text file: is it the .ipynb notebook you downloaded?") from None
    except (json.JSONDecodeError, nbformat.reader.NotJSONError) as exc:
        raise NotebookUnreadable(f"{path.name} is not valid notebook JSON ({exc}); if Jupyter still opens it, "
                                 "save it again there; otherwise start again from the released notebook") from None
    except (nbformat.ValidationError, KeyError, AttributeError) as exc:
        first = str(exc).strip().split("\n", 1)[0]
        raise NotebookUnreadable(f"{path.name} is not a valid Jupyter notebook ({first}); save it again from "
                                 "Jupyter, or start again from the released notebook") from None
    return nb


def _kernel_config(folder: str):
    """The kernel talks to this process over local sockets in ``folder`` where the OS has them (not TCP).

    Nothing leaves the machine either way; with TCP, ipykernel warns on stderr about unencrypted
    traffic on every run, which a student would take for a problem of their notebook. Windows: TCP.
    """
    from traitlets.config import Config

    config = Config()
    if os.name == "posix":
        config.KernelManager.transport = "ipc"
        config.KernelManager.ip = os.path.join(folder, "kernel")
    return config


def run_graded_cells(path) -> list[CellVerdict]:
    """Execute the notebook at ``path`` as the autograder does; return the verdict of each graded cell.

    The notebook runs in its own folder, in a fresh kernel, with nbgrader's
    ``Execute`` preprocessor and the course's cell timeouts; a cell passes when
    it produces no error and nothing on stderr (nbgrader's rule).
    """
    from nbgrader import utils
    from mnistlab.grader.robust_execute import RobustExecute

    path = Path(path).resolve()
    nb = read_notebook(path)
    changed = {
        cell.metadata.nbgrader.grade_id
        for cell in nb.cells
        if utils.is_grade(cell) and "checksum" in cell.metadata.nbgrader
        and cell.metadata.nbgrader.checksum != utils.compute_checksum(cell)
    }
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    with tempfile.TemporaryDirectory(prefix="mnistlab-check-") as sockets:
        executor = RobustExecute(timeout_func=cell_timeout, interrupt_on_timeout=True, config=_kernel_config(sockets))
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


def check_report(path, verdicts: list[CellVerdict]) -> dict:
    """What ``mnistlab check --json`` prints: the notebook, each graded cell's verdict, the totals."""
    return {
        "notebook": str(path),
        "passed": bool(verdicts) and all(v.passed for v in verdicts),
        "points_if_hidden_tests_pass": sum(v.points for v in verdicts if v.passed),
        "max_points": sum(v.points for v in verdicts),
        "functions": [
            {"function": v.function, "points": v.points, "passed": v.passed,
             "message": v.message, "test_cell_changed": v.changed}
            for v in verdicts
        ],
    }


_FAILED_TEST = re.compile(r'^(?:GradingFailure: )?[\w.]+: (?:visible|hidden) test "(?P<title>[^"]*)" failed\.$')


def failure_summary(verdict: CellVerdict, width: int = 100) -> str:
    """One line for the table: which test failed and what went wrong (``"hand-worked example": relu(x) raised ...``)."""
    lines = [line.strip() for line in verdict.message.split("\n") if line.strip()]
    if not lines:
        return "(no message)"
    first = lines[0].removeprefix("GradingFailure: ")
    test = _FAILED_TEST.match(lines[0])
    if test and len(lines) > 1:
        first = f'"{test.group("title")}": {lines[1]}'
    return first if len(first) <= width else first[: width - 3] + "..."


def format_check(path, verdicts: list[CellVerdict]) -> str:
    """The report ``mnistlab check`` prints."""
    name = Path(path).name
    width = max([len(v.function) for v in verdicts] + [8])
    lines = [f"{name}: visible tests, run as the autograder runs them (fresh kernel, top to bottom)", ""]
    lines.append(f"  {'function':<{width}}  points  visible tests")
    for v in verdicts:
        status = "passed" if v.passed else f"FAILED  {failure_summary(v)}"
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
