"""The student's view: a released notebook in a real JupyterLab, driven through the page in headless Chromium.

JupyterLab runs from the project's environment on 127.0.0.1 (a token, a private folder, no network
needed). The test types a correct ``relu`` into the solution cell of the released ``a2_relu_softmax``
notebook, runs the cells from the menu, and reads the visible test's pass line in the page; it also
shows that the read-only test cells cannot be edited there. A screenshot is kept in
``_build/screenshots/student-jupyterlab-a2.png``.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from assignment_bugs.harness import make_course, student_notebook

REPO = Path(__file__).resolve().parents[1]
SCREENSHOT = REPO / "_build" / "screenshots" / "student-jupyterlab-a2.png"
ASSIGNMENT = "a2_relu_softmax"
CORRECT_RELU = '''def relu(x):
    """Rectified linear unit, elementwise max(x, 0)."""
    return np.maximum(np.asarray(x), 0)
'''
START_TIMEOUT_S = 120

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def jupyterlab(tmp_path_factory):
    """A JupyterLab server on 127.0.0.1 whose folder holds the released (unanswered) a2 notebook."""
    tmp = tmp_path_factory.mktemp("lab")
    work = tmp / "student"
    work.mkdir()
    nbformat.write(student_notebook(make_course(tmp), ASSIGNMENT, stub=True), work / f"{ASSIGNMENT}.ipynb")
    port, token = _free_port(), secrets.token_hex(16)
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp / "config"), "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"),
           "IPYTHONDIR": str(tmp / "ipython"), "JUPYTERLAB_WORKSPACES_DIR": str(tmp / "workspaces")}
    log = open(tmp / "jupyterlab.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", f"--ServerApp.port={port}",
         "--ServerApp.ip=127.0.0.1", "--ServerApp.port_retries=0", "--ServerApp.allow_root=True", f"--IdentityProvider.token={token}",
         f"--ServerApp.root_dir={work}", "--LabApp.news_url=",
         "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
        cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail("JupyterLab did not start:\n" + (tmp / "jupyterlab.log").read_text(errors="replace")[-3000:])
        time.sleep(0.5)
    yield {"base": base, "token": token, "folder": work}
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


def _kernels_idle(lab) -> bool:
    with urllib.request.urlopen(f"{lab['base']}/api/kernels?token={lab['token']}", timeout=5) as r:
        kernels = json.load(r)
    return bool(kernels) and all(k["execution_state"] == "idle" for k in kernels)


def _cell_with(page, text: str):
    cells = page.locator(".jp-Notebook .jp-CodeCell").filter(has_text=text)
    assert cells.count() >= 1, f"no cell with {text!r}"
    return cells.first


def test_a_student_writes_relu_in_jupyterlab_and_sees_its_test_pass(jupyterlab, browser):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(60_000)
    try:
        page.goto(f"{jupyterlab['base']}/lab/tree/{ASSIGNMENT}.ipynb?token={jupyterlab['token']}")
        page.wait_for_selector(".jp-Notebook .jp-CodeCell .cm-content")
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _kernels_idle(jupyterlab):
            assert time.monotonic() < deadline, "the notebook's kernel did not start"
            time.sleep(0.5)

        # The solution cell: replace the stub through the editor, as a student types it.
        solution = _cell_with(page, "def relu(x):")
        editor = solution.locator(".cm-content")
        editor.click()
        page.keyboard.press("Control+A")
        page.keyboard.insert_text(CORRECT_RELU)  # one insertion: no auto-indent of the typed lines
        assert "np.maximum" in editor.inner_text() and "NotImplementedError" not in editor.inner_text()

        # The read-only test cell: the editor refuses input.
        test_cell = _cell_with(page, "checks.check_relu(relu)")
        test_editor = test_cell.locator(".cm-content")
        before = test_editor.inner_text()
        test_editor.click()
        page.keyboard.type("x = 1  # edited")
        page.keyboard.press("Enter")
        assert test_editor.inner_text() == before, "a read-only test cell was edited in the page"
        assert "HIDDEN" not in before  # the released notebook carries no hidden tests

        # Run every cell from the menu, as a student does, and read the verdict in the page.
        page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
        page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
        passed = test_cell.locator(".jp-OutputArea-output", has_text=re.compile(r"relu: \d+ visible tests passed"))
        passed.wait_for()
        # The next function is still a stub: its test fails with the message the autograder gives.
        failed = _cell_with(page, "checks.check_sigmoid(sigmoid)").locator(".jp-OutputArea-output",
                                                                        has_text="not implemented yet")
        failed.first.wait_for()
        assert "GradingFailure" in failed.first.text_content()
        no_news = page.locator(".jp-toast-button", has_text=re.compile(r"^No$"))
        if no_news.count():  # JupyterLab's one-time question about its news feed
            no_news.first.click()
        solution.scroll_into_view_if_needed()  # the typed relu, its test cell and its pass line
        page.evaluate("document.querySelector('.jp-WindowedPanel-outer').scrollBy(0, -60)")
        page.wait_for_timeout(1000)  # cells render as they scroll into view
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOT))
        assert SCREENSHOT.stat().st_size > 10_000
    finally:
        page.close()
