"""Checking a submitted notebook file before it is graded (instructor guide, ``book/07_instructor_guide.md``).

A class's submissions include files nbgrader cannot grade: an empty upload, a
file that is not JSON (a Word document renamed ``.ipynb``, a truncated
download), a notebook of another assignment, a notebook saved in an old
format, a notebook renamed by the LMS (``a2_relu_softmax (1).ipynb``), a
notebook with duplicated cell ids. :func:`preflight` looks at the files of one
submission folder, and either returns the notebook to grade (repaired where a
repair changes nothing the student wrote, each repair noted) or a
:class:`Rejection` with the reason, which the grading command records as a
flagged row with zero points. The submitted files are never changed.
"""

from __future__ import annotations

import json
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path

#: Largest notebook file graded. The course's notebooks are ~50 kB; outputs
#: with images make them a few MB. Beyond this, reading it would put the
#: grading machine's memory at the student's mercy.
MAX_NOTEBOOK_BYTES = 50 * 1024 * 1024


class Rejection(Exception):
    """A submission that cannot be graded; the message is the reason, written for the instructor."""


@dataclass
class Preflight:
    """A notebook that can be graded: the parsed notebook and the repairs made to it."""

    notebook: object  #: nbformat.NotebookNode, version 4
    source: Path  #: the submitted file it was read from
    notes: list[str] = field(default_factory=list)  #: repairs and oddities, for the instructor


def _grade_ids(nb) -> set[str]:
    return {
        cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        for cell in nb.get("cells", [])
        if isinstance(cell, dict) and isinstance(cell.get("metadata"), dict)
    } - {None}


def find_notebook(folder: Path, assignment: str) -> tuple[Path, list[str]]:
    """The notebook to grade in a submission folder, and notes (e.g. it had another name).

    Raises :class:`Rejection` when there is no notebook or several candidates.
    """
    expected = folder / f"{assignment}.ipynb"
    if expected.is_file():
        return expected, []
    notebooks = sorted(p for p in folder.glob("*.ipynb") if p.is_file())
    if len(notebooks) == 1:
        return notebooks[0], [f"the notebook was submitted as {notebooks[0].name!r} instead of "
                              f"'{assignment}.ipynb'; graded as {assignment}.ipynb"]
    others = ", ".join(repr(p.name) for p in notebooks) or "no .ipynb file"
    raise Rejection(f"expected {assignment}.ipynb in {folder}, found {others}: ask the student which notebook "
                    f"to grade and rename it to {assignment}.ipynb")


def preflight(folder, assignment: str, expected_grade_ids) -> Preflight:
    """Read and check the notebook of one submission folder.

    Parameters
    ----------
    folder : path
        ``submitted/<student>/<assignment>/``.
    assignment : str
        The assignment's name; its notebook is ``<assignment>.ipynb``.
    expected_grade_ids : iterable of str
        The nbgrader ``grade_id`` of the assignment's graded test cells: a
        notebook with none of them is another assignment's.

    Returns
    -------
    Preflight
        The notebook (nbformat version 4, cell ids unique) and notes on what was
        repaired.

    Raises
    ------
    Rejection
        With the reason, when the folder holds nothing that can be graded.
    """
    import nbformat
    from nbformat.validator import ValidationError

    folder = Path(folder)
    path, notes = find_notebook(folder, assignment)
    size = path.stat().st_size
    if size == 0:
        raise Rejection(f"{path.name} is empty (0 bytes): the upload failed or the notebook was never saved; "
                        "ask the student to submit it again")
    if size > MAX_NOTEBOOK_BYTES:
        raise Rejection(f"{path.name} is {size / 2**20:.0f} MB, more than the {MAX_NOTEBOOK_BYTES // 2**20} MB "
                        "a notebook of this course can be: clear its outputs (Kernel > Restart & Clear Output) "
                        "and submit it again")
    raw = path.read_bytes()
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise Rejection(f"{path.name} is not a notebook: it is not UTF-8 text (byte {exc.start}); is it another "
                        "kind of file renamed .ipynb?") from None
    except json.JSONDecodeError as exc:
        raise Rejection(f"{path.name} is not a notebook: invalid JSON at line {exc.lineno}, column {exc.colno} "
                        f"({exc.msg}); the file is truncated or was edited outside Jupyter") from None
    if not isinstance(data, dict) or "cells" not in data and "worksheets" not in data:
        raise Rejection(f"{path.name} is JSON but not a Jupyter notebook (no 'cells')")
    version = data.get("nbformat")
    if not isinstance(version, int) or version < 3:
        raise Rejection(f"{path.name} has notebook format {version!r}; the course's notebooks are format 4: open "
                        "it in a current Jupyter and save it again")
    if version > 4:
        raise Rejection(f"{path.name} has notebook format {version}, newer than this nbgrader reads (4)")
    cells = data.get("cells") if isinstance(data.get("cells"), list) else []
    ids = [c.get("id") for c in cells if isinstance(c, dict) and isinstance(c.get("id"), str)]
    repeated = len(ids) - len(set(ids))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # nbformat's DuplicateCellId: repaired below, and noted
            nb = nbformat.reads(raw.decode("utf-8"), as_version=4)
    except (ValidationError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise Rejection(f"{path.name} is not a valid notebook: {str(exc).splitlines()[0][:300]}") from None
    if version == 3:
        notes.append(f"{path.name} was in notebook format 3 and was converted to format 4")
    expected = set(expected_grade_ids)
    present = _grade_ids(nb)
    if expected and not expected & present:
        raise Rejection(f"{path.name} does not contain the graded cells of {assignment} (none of "
                        f"{', '.join(sorted(expected)[:3])}...): it is another assignment's notebook or was "
                        "rebuilt from scratch; the student must submit the released notebook")
    # nbformat may already have renamed repeated ids while reading (with a warning): count either way.
    renamed = max(repeated, _unique_cell_ids(nb))
    if renamed:
        notes.append(f"{renamed} cell(s) had an id that another cell already had; they were given new ids")
    _unique_grade_ids(nb, notes)
    try:
        nbformat.validate(nb)
    except ValidationError as exc:
        raise Rejection(f"{path.name} is not a valid notebook: {str(exc).splitlines()[0][:300]}") from None
    return Preflight(nb, path, notes)


def _unique_grade_ids(nb, notes: list[str]) -> None:
    """Keep nbgrader's metadata only on the first cell of each ``grade_id``; later copies become plain cells.

    nbgrader refuses a notebook in which two cells claim one ``grade_id``
    (typically a test cell copied to re-run it), and the student would get
    nothing. The first cell is the one nbgrader grades (and restores from the
    gradebook if it is a test cell); a copy's code still runs, but as ordinary
    code, so it can neither earn nor lose points.
    """
    seen: set[str] = set()
    copies = []
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader")
        gid = meta.get("grade_id") if isinstance(meta, dict) else None
        if gid is None:
            continue
        if gid in seen:
            del cell.metadata["nbgrader"]
            copies.append(gid)
        seen.add(gid)
    if copies:
        notes.append(f"{len(copies)} cell(s) repeated the nbgrader id of an earlier cell ({', '.join(sorted(set(copies)))}): "
                     "the copies were graded as ordinary code")


def _unique_cell_ids(nb) -> int:
    """Give cells whose ``id`` repeats an earlier one a new id (format 4.5 requires unique ids); return how many.

    nbgrader identifies cells by their ``grade_id`` metadata, not by this id, so
    the repair changes nothing that is graded.
    """
    seen: set[str] = set()
    renamed = 0
    for cell in nb.cells:
        cell_id = cell.get("id")
        if cell_id is None:
            continue
        if cell_id in seen:
            cell["id"] = uuid.uuid4().hex[:8]
            renamed += 1
        seen.add(cell["id"])
    return renamed
