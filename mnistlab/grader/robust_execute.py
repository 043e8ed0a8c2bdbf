"""``RobustExecute``: nbgrader's ``Execute`` for notebooks that break the kernel.

With nbgrader's own ``Execute`` (nbgrader 0.9.6, nbclient 0.11.0), one cell that
breaks the kernel makes the autograde of the *whole* notebook fail, and the
student gets no grade at all:

* a cell that times out and ignores the interrupt (``while True: try: ...
  except KeyboardInterrupt: pass``, or a bare ``except:`` in a loop): nbclient's
  ``_async_handle_timeout`` interrupts the kernel and hands back a fake
  ``CellTimeoutError`` reply, then ``_async_poll_for_reply`` waits
  ``iopub_timeout`` (4 s) for the kernel to go idle; it never does, so it raises
  ``CellTimeoutError("Timeout waiting for IOPub output")`` (nbgrader sets
  ``raise_on_iopub_timeout=True``), and that ends the autograde;
* a kernel that dies during a cell (``os._exit``, a segfault, the OOM killer's
  SIGKILL): ``_async_poll_kernel_alive`` notices within 1 s and
  ``async_execute_cell`` raises ``DeadKernelError``, which ends the autograde.

``RobustExecute`` handles both: the cell gets an error output that tells the
student what happened, the kernel is restarted, the code cells above are run
again silently (their outputs stay those of the first run) to rebuild the
kernel's state, and execution continues with the next cell, so every other test
cell is graded as usual. It restarts at most :data:`MAX_RESTARTS` times per
notebook; after that, the remaining cells get an error output without being run.

A notebook that does not break the kernel runs exactly as with ``Execute``
(same calls into nbclient, same outputs); ``sys.exit()`` in a cell only raises
``SystemExit`` in IPython, which is an ordinary error, and the kernel survives.

Details and limits:

* the grace period after the interrupt is :data:`GRACE_SECONDS` (nbclient's own
  wait for the idle status, ``iopub_timeout``, is 4 s); a cell whose interrupt
  works (``time.sleep``, most loops; also ``while True: try: pass except
  KeyboardInterrupt: pass``, because CPython raises the KeyboardInterrupt at the
  loop's backward jump, outside the ``try``) is handled by nbclient as before;
* the cells run again to rebuild the kernel are those that ran to their end
  (with or without an error); a cell that timed out or broke the kernel is never
  run again (what it defined is lost), and a cell that breaks the kernel or times
  out when it is run again is dropped from later rebuilds. Rebuilding costs the
  run time of the cells above, with their usual timeouts; side effects (files
  written) happen twice;
* execution counts after a restart are the new kernel's; widget state and
  ``update_display_data`` of the first kernel are not carried over;
* a restart counts towards :data:`MAX_RESTARTS` also when it happens during a rebuild.

Select it in ``nbgrader_config.py`` (the ``Execute`` settings still apply to it)::

    from mnistlab.grader.robust_execute import AUTOGRADE_PREPROCESSORS
    c.Autograde.autograde_preprocessors = AUTOGRADE_PREPROCESSORS
"""

from __future__ import annotations

import asyncio
import copy
import signal

from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbclient.util import ensure_async, run_sync
from nbformat import NotebookNode
from nbgrader.preprocessors import Execute
from traitlets import Bool, Float, Integer

#: Seconds the kernel gets to stop after the timeout's interrupt before it is killed and restarted.
GRACE_SECONDS = 3.0
#: Kernel restarts per notebook; when one more would be needed, the remaining cells are not run.
MAX_RESTARTS = 5

_RED, _RESET = "\x1b[0;31m", "\x1b[0m"


class KernelUnresponsive(Exception):
    """The kernel was still busy :data:`GRACE_SECONDS` after the timeout's interrupt."""

    def __init__(self, timeout):
        super().__init__(f"kernel still busy after the interrupt of a cell that ran for {timeout} s")
        self.timeout = timeout


def _error(ename: str, evalue: str, *explanation: str) -> NotebookNode:
    """An error output as the kernel would send it (what nbgrader grades as a failed cell)."""
    return NotebookNode(
        output_type="error",
        ename=ename,
        evalue=evalue,
        traceback=[f"{_RED}{ename}{_RESET}: {evalue}", *explanation],
    )


#: An error output as the kernel would send it (public: the re-check on nbgrader's path writes one too).
error_output = _error


def _seconds(value) -> str:
    return f"{value:g}" if isinstance(value, (int, float)) else str(value)


class RobustExecute(Execute):
    """nbgrader's ``Execute``, with a kernel restart when a cell hangs past its interrupt or kills the kernel.

    Configured like ``Execute`` (``c.Execute.*`` applies), plus ``grace_seconds``
    and ``max_restarts``.
    """

    grace_seconds = Float(
        GRACE_SECONDS,
        help="Seconds the kernel has to stop after a timed-out cell is interrupted; then it is restarted.",
    ).tag(config=True)

    max_restarts = Integer(
        MAX_RESTARTS,
        help="Kernel restarts per notebook; after that the remaining cells get an error output, unrun.",
    ).tag(config=True)

    explain_limits = Bool(
        False,
        help="Add to an error that a grading limit caused (disk, files, open files) a line that says which "
             "limit stopped it (mnistlab.grader.settings.limit_explanation).",
    ).tag(config=True)

    # --- the notebook ------------------------------------------------------------------------

    def preprocess(self, nb, resources=None, km=None):
        self._restarts = 0
        self._gave_up = False
        self._rerun = []  # indices of the code cells that ran to the end: the kernel's state
        self._poll_output_task = None
        self._timed_out = None
        return super().preprocess(nb, resources, km)

    def preprocess_cell(self, cell, resources, index):
        self._check_assign_resources(resources)
        cell = self._robust_execute_cell(cell, index)
        return cell, self.resources

    async def _async_robust_execute_cell(self, cell, index):
        if not self._runnable(cell):
            return await self.async_execute_cell(cell, index, store_history=True)  # skips it, as Execute does
        if self._gave_up:
            cell.outputs = [self._not_run_error()]
            cell.execution_count = None
            return cell
        self._timed_out = None
        try:
            cell = await self.async_execute_cell(cell, index, store_history=True)
        except (KernelUnresponsive, DeadKernelError, CellTimeoutError) as exc:
            await self._async_recover(cell, index, exc)
            return cell
        if self._timed_out is None:  # interrupted cells are not run again: they would time out again
            self._rerun.append(index)
        if self.explain_limits:
            self._explain_limits(cell)
        return cell

    _robust_execute_cell = run_sync(_async_robust_execute_cell)

    @staticmethod
    def _explain_limits(cell) -> None:
        """A line under an error that a grading limit caused (written here, outside the student's reach)."""
        from mnistlab.grader.settings import limit_explanation

        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                why = limit_explanation(f"{output.get('ename')}: {output.get('evalue')}")
                if why and why not in output.get("traceback", []):
                    output["traceback"] = [*output.get("traceback", []), "", why]

    def _runnable(self, cell) -> bool:
        return (
            cell.cell_type == "code"
            and bool(cell.source.strip())
            and self.skip_cells_with_tag not in cell.metadata.get("tags", [])
        )

    # --- timeouts: interrupt, then a grace period -------------------------------------------

    async def _async_poll_for_reply(self, msg_id, cell, timeout, task_poll_output_msg, task_poll_kernel_alive):
        self._poll_output_task = task_poll_output_msg  # done when the kernel reports idle for this cell
        try:
            return await super()._async_poll_for_reply(
                msg_id, cell, timeout, task_poll_output_msg, task_poll_kernel_alive
            )
        finally:
            self._poll_output_task = None

    async def _async_handle_timeout(self, timeout, cell=None):
        self._timed_out = timeout
        # nbclient: interrupt the kernel and return the ``error_on_timeout`` reply (or raise
        # CellTimeoutError if interrupt_on_timeout is off, which _async_robust_execute_cell handles).
        reply = await super()._async_handle_timeout(timeout, cell)
        task = self._poll_output_task
        if task is not None and not task.done():
            await asyncio.wait({task}, timeout=self.grace_seconds)
            if not task.done():
                raise KernelUnresponsive(timeout)
        return reply

    # --- restart and rebuild -----------------------------------------------------------------

    async def _async_recover(self, cell, index, exc):
        """After ``exc`` broke the kernel in cell ``index``: explain it in the cell, restart, rebuild."""
        timeout = self._timed_out if self._timed_out is not None else self._get_timeout(cell)
        died = isinstance(exc, DeadKernelError) or not await self._async_kernel_alive()
        how = self._exit_description() if died else ""
        restarts_before = self._restarts
        self.log.warning(
            "Cell %d %s", index, f"killed the kernel{how}" if died else f"ignored the interrupt after {timeout} s"
        )
        await self._async_restart_and_rebuild()
        if not self._gave_up:
            outcome = ("the kernel was restarted and the cells above were run again; "
                       "grading continues with the next cell")
        elif self._restarts > restarts_before:  # restarted, but a rebuild that broke it again hit the limit
            outcome = f"the kernel was restarted, but {self._give_up_reason}, so the cells below were not run"
        else:
            outcome = f"the kernel was not restarted: {self._give_up_reason}, so the cells below were not run"
        if died:
            cell.outputs.append(_error(
                "DeadKernelError", f"the kernel died while this cell ran{how}; {outcome}.",
                "",
                "The Python process running the notebook stopped. The usual causes:",
                "  - os._exit(), or sys.exit()/exit() called in a way that ends the process (sys.exit() in a",
                "    cell normally only raises SystemExit);",
                "  - running out of memory: an array far too large, or one that grows in a loop",
                "    (the system then kills the process, signal SIGKILL);",
                "  - a crash in compiled code (segmentation fault, signal SIGSEGV), e.g. through ctypes.",
                "Anything this cell defined is lost.",
            ))
        elif isinstance(exc, KernelUnresponsive):
            cell.outputs.append(_error(
                "TimeoutError",
                f"this cell did not finish within {_seconds(timeout)} s and ignored the interrupt; {outcome}.",
                "",
                "After the time limit the autograder interrupts a cell (KeyboardInterrupt). This one kept",
                "running: code that catches KeyboardInterrupt (a bare `except:` or `except BaseException:`",
                "inside an endless loop, for example) cannot be interrupted, so the kernel had to be stopped.",
                "Anything this cell defined is lost.",
            ))
        else:  # CellTimeoutError: interrupt_on_timeout off, or no idle status after the reply
            cell.outputs.append(_error(
                "TimeoutError",
                f"this cell did not finish within {_seconds(timeout)} s; {outcome}.",
                "",
                "Anything this cell defined is lost.",
            ))
        cell.execution_count = None

    async def _async_restart_and_rebuild(self):
        while True:
            if self._restarts >= self.max_restarts:
                await self._async_give_up()
                return
            try:
                await self._async_restart_kernel()
            except Exception:
                self.log.exception("Could not restart the kernel")
                await self._async_give_up("the kernel could not be restarted")
                return
            self._restarts += 1
            if await self._async_rebuild():
                return

    async def _async_rebuild(self) -> bool:
        """Run the cells of ``self._rerun`` again, silently; False if one broke the kernel (it is dropped)."""
        display_ids = copy.deepcopy(self._display_id_map)
        try:
            for j in list(self._rerun):
                original = self.nb.cells[j]
                self._timed_out = None
                try:
                    await self.async_execute_cell(copy.deepcopy(original), j, store_history=True)
                except (KernelUnresponsive, DeadKernelError, CellTimeoutError) as exc:
                    self.log.warning("Cell %d broke the kernel when run again (%s); skipping it", j, exc)
                    self._rerun.remove(j)
                    return False
                finally:
                    self.nb.cells[j] = original  # async_execute_cell stores the copy there
                if self._timed_out is not None:
                    self.log.warning("Cell %d timed out when run again; not running it again", j)
                    self._rerun.remove(j)
            return True
        finally:
            self._display_id_map = display_ids

    async def _async_restart_kernel(self):
        assert self.km is not None
        if self.kc is not None:
            self.kc.stop_channels()
            self.kc = None
        await ensure_async(self.km.restart_kernel(now=True))
        await self.async_start_new_kernel_client()

    async def _async_give_up(self, reason=None):
        self._gave_up = True
        self._give_up_reason = reason or f"it was restarted {self._restarts} times already (the limit)"
        self.log.warning("Not running the rest of the notebook: %s", self._give_up_reason)
        try:  # the kernel may still be looping: do not wait for a graceful shutdown
            if self.km is not None and await self._async_kernel_alive():
                await ensure_async(self.km.shutdown_kernel(now=True))
        except Exception:
            self.log.exception("Could not stop the kernel")

    async def _async_cleanup_kernel(self):
        if self.km is None:  # a failed restart cleaned up already (nbclient's cleanup asserts a manager)
            return
        await super()._async_cleanup_kernel()

    _cleanup_kernel = run_sync(_async_cleanup_kernel)

    async def _async_kernel_alive(self) -> bool:
        if self.km is None:
            return False
        try:
            return bool(await ensure_async(self.km.is_alive()))
        except Exception:
            return False

    def _exit_description(self) -> str:
        """`` (exit status 1)`` / `` (signal SIGSEGV: ...)`` for the dead kernel's process, if known."""
        process = getattr(getattr(self.km, "provisioner", None), "process", None)
        code = process.poll() if process is not None else None
        if code is None:
            return ""
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            meaning = {"SIGSEGV": "segmentation fault", "SIGKILL": "killed, often for using too much memory",
                       "SIGABRT": "aborted", "SIGBUS": "bus error"}.get(name)
            return f" ({name}: {meaning})" if meaning else f" ({name})"
        return f" (exit status {code})"

    def _not_run_error(self) -> NotebookNode:
        return _error(
            "NotRunError",
            f"this cell was not run: the autograder stopped running the notebook because the kernel broke "
            f"and {self._give_up_reason}.",
            "",
            "See the error messages above for the cells that stopped or crashed the kernel.",
        )


def _autograde_preprocessors():
    from nbgrader.converters.autograde import Autograde

    defaults = list(Autograde.class_traits()["autograde_preprocessors"].default())
    assert Execute in defaults, defaults
    return [RobustExecute if pp is Execute else pp for pp in defaults]


#: nbgrader's ``Autograde.autograde_preprocessors`` with ``Execute`` replaced by :class:`RobustExecute`.
AUTOGRADE_PREPROCESSORS = _autograde_preprocessors()
