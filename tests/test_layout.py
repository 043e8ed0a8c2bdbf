"""The package's three parts and the rules between them, as the README describes them.

The rules are import-linter contracts in ``pyproject.toml`` (``make test`` also runs ``lint-imports``
on its own, before pytest, so a broken contract is the first thing it reports).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "mnistlab"
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"

#: The project's limit for one module (``README.md``, "The package").
MAX_MODULE_LINES = 800


def _lint(root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(root), "COLUMNS": "250"}  # one line per contract
    return subprocess.run([str(LINT_IMPORTS), "--config", str(root / "pyproject.toml"), "--no-cache"],
                          cwd=root, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def scratch_copy(tmp_path_factory):
    """A copy of the package and its contracts, to break on purpose."""
    root = tmp_path_factory.mktemp("layout")
    shutil.copytree(PACKAGE, root / "mnistlab", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    return root


def test_the_contracts_hold():
    result = _lint(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "5 kept, 0 broken" in result.stdout


def test_the_tree_shows_the_three_parts():
    assert (PACKAGE / "checks" / "__init__.py").is_file() and (PACKAGE / "grader" / "__init__.py").is_file()
    top = {p.stem for p in PACKAGE.glob("*.py")}
    assert not top & {"grading_cli", "grading_pool", "grading_worker", "isolation", "sandbox", "preflight"}


@pytest.mark.parametrize("importer, imported, contract", [
    ("functional", "from mnistlab.grader import settings", "The teaching library imports neither"),
    ("data", "from mnistlab import checks", "The teaching library imports neither"),
    ("checks/runner", "from mnistlab.grader import processes", "The checks import the teaching library"),
    ("grader/pool", "from mnistlab import cli", "Nothing imports the CLI module"),
    ("grader/selfcheck", "from mnistlab.grader import sandbox", "The student's self-check imports none"),
    ("grader/settings", "from mnistlab.grader import pool", "No import cycles"),
])
def test_a_deliberate_violation_breaks_its_contract(scratch_copy, importer, imported, contract):
    module = scratch_copy / "mnistlab" / f"{importer}.py"
    original = module.read_text(encoding="utf-8")
    # Inside a function, as the lazy imports of the package are: grimp sees those too.
    module.write_text(original + f"\n\ndef _scratch():\n    {imported}  # deliberate violation\n", encoding="utf-8")
    try:
        result = _lint(scratch_copy)
    finally:
        module.write_text(original, encoding="utf-8")
    assert result.returncode != 0
    broken = [line for line in result.stdout.splitlines() if line.endswith("BROKEN")]
    assert any(line.startswith(contract) for line in broken), result.stdout


def test_no_module_is_over_800_lines():
    sizes = {str(p.relative_to(REPO)): len(p.read_text(encoding="utf-8").splitlines()) for p in PACKAGE.rglob("*.py")}
    too_long = {p: n for p, n in sizes.items() if n > MAX_MODULE_LINES}
    assert not too_long, f"split these modules (one concept each): {too_long}"


def test_notebooks_released_before_the_move_still_run_the_same_checks():
    """Released a1-a5 notebooks begin with ``from mnistlab import grading``: the same module as the checks."""
    import numpy as np

    import mnistlab.checks
    from mnistlab import functional, grading

    assert grading is mnistlab.checks
    grading.check_relu(functional.relu)
    with pytest.raises(grading.GradingFailure):
        grading.check_relu(lambda x: np.abs(x))
    from mnistlab.data import fetch_mnist  # the released a1 notebook's import
    from mnistlab.fetch import fetch_mnist as moved

    assert fetch_mnist is moved
