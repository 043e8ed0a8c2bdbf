"""Copy detection after grading: which submissions of a graded function are suspiciously alike.

Instructor guide: ``book/07_instructor_guide.md``; ``assignments/README.md`` says how to read the report.

For every graded function this module compares each pair of submissions, and each submission with the
published reference (:mod:`mnistlab`, whose source every student can read), the way MOSS does:
winnowed k-gram fingerprints (:mod:`copydetect`) of the code, after a normalization that a disguise
does not survive:

- the function is taken out of its notebook cell with :mod:`ast` (for ``TwoLayerNet.loss``: the method
  of the class); its signature and docstring are dropped, and so is every comment and every difference
  of whitespace or quoting (the body is printed again by :func:`ast.unparse`);
- the statements of every block are put in a canonical order (sorted by their tokens with every name
  replaced), so reordering independent statements changes nothing;
- :mod:`copydetect`'s Python tokenizer replaces every identifier, so renaming changes nothing;
- the released starter code of the function (what remains of it in ``release/<a>/<a>.ipynb``) is
  boilerplate: its fingerprints never count as shared.

Short functions have few ways to be written (``relu`` is one line whoever writes it), so a pair is only
reported when both versions have at least :data:`MIN_TOKENS` tokens and the shared part is at least
:data:`MIN_SHARED` of each. The report flags; it never changes points.

The core, :func:`find_similar`, takes plain code (student -> source, per function) and is what the
tests exercise; :func:`similarity_report` reads a graded course and :func:`write_html` writes the
side-by-side report.
"""

from __future__ import annotations

import ast
import html
import importlib
import inspect
import io
import json
import os
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

#: k-gram length (characters of copydetect's filtered code, in which ``np.maximum(x, 0)`` is ``V.V(V,0)``).
K = 12
#: Winnowing window. 1 keeps every k-gram: the functions are small, and a larger window lets Python's
#: per-process string hashing (which copydetect uses) choose the fingerprints, so scores would change
#: from one run to the next.
WINDOW = 1
#: Below this many filtered characters (of either version) a function is too short to tell a copy from
#: the same idea written independently: no pair is reported (the measured sizes are in the tests).
MIN_TOKENS = 50
#: The shared fraction of both versions above which a pair is reported.
MIN_SHARED = 0.8
#: The name under which the published reference appears in pairs and in the CSV's ``similar_to``.
REFERENCE = "reference"

#: Where each assignment's reference functions are defined (the teaching library, chapter map).
@dataclass
class Code:
    """One version of one function, normalized for fingerprinting.

    Attributes
    ----------
    source : str
        The function as written (what the report shows).
    normalized : str
        Its body without docstring and comments, statements in canonical order (what is fingerprinted).
    lines : list of tuple
        For every line of ``normalized`` (0-based), the 1-based lines of ``source`` it comes from.
    """

    source: str
    normalized: str
    lines: list = field(default_factory=list)


@dataclass
class Pair:
    """Two versions of one function that share at least :data:`MIN_SHARED` of their code."""

    function: str
    a: str  #: a student id
    b: str  #: another student id, or :data:`REFERENCE`
    score: float  #: the smaller of the two shared fractions, in [0, 1]
    shared: tuple = ((), ())  #: the 1-based lines of a's and of b's source that are shared

    def as_dict(self) -> dict:
        return {"function": self.function, "a": self.a, "b": self.b, "score": round(self.score, 3)}


@dataclass
class SimilarityReport:
    """What :func:`find_similar` found, for one assignment."""

    assignment: str
    pairs: list = field(default_factory=list)  #: every reported :class:`Pair`, best first per function
    sizes: dict = field(default_factory=dict)  #: function -> student -> filtered tokens of its body
    code: dict = field(default_factory=dict)  #: function -> student (or REFERENCE) -> :class:`Code`
    skipped: dict = field(default_factory=dict)  #: student -> why its notebook was not compared
    html_path: Path | None = None

    def similar_to(self) -> dict:
        """student -> the ids it resembles in any function (``reference`` first), as the CSV shows them."""
        found: dict = {}
        for p in self.pairs:
            found.setdefault(p.a, set()).add(p.b)
            if p.b != REFERENCE:
                found.setdefault(p.b, set()).add(p.a)
        return {s: sorted(ids, key=lambda i: (i != REFERENCE, i)) for s, ids in found.items()}


# ---------------------------------------------------------------------------
# Normalizing one function
# ---------------------------------------------------------------------------

def _find_def(tree, function: str):
    """The ``def`` of ``function`` ("name" or "Class.method") in a parsed cell, or None."""
    *owners, name = function.split(".")
    body = tree.body
    for owner in owners:
        cls = next((n for n in body if isinstance(n, ast.ClassDef) and n.name == owner), None)
        if cls is None:
            return None
        body = cls.body
    found = [n for n in body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == name]
    return found[-1] if found else None  # the last definition is the one the notebook runs


def _filtered(code: str) -> str:
    from copydetect.utils import filter_code

    return filter_code(code, "code.py", "python")[0]


def _canonical_order(body: list) -> list:
    """``body``'s statements (and recursively their blocks) sorted by their tokens with names replaced."""
    for stmt in body:
        for name in ("body", "orelse", "finalbody"):
            block = getattr(stmt, name, None)
            if isinstance(block, list) and block and isinstance(block[0], ast.stmt):
                setattr(stmt, name, _canonical_order(block))
        for handler in getattr(stmt, "handlers", []) or []:
            handler.body = _canonical_order(handler.body)
    return sorted(body, key=lambda s: _filtered(ast.unparse(s)))


def _statements(tree) -> list:
    return [n for n in ast.walk(tree) if isinstance(n, ast.stmt)]


def _header_lines(node, source: str) -> list:
    """The lines of a compound statement that are not in its blocks: ``if ...:`` and its ``else:``, ``finally:``."""
    lines = source.split("\n")
    found = [node.lineno]
    clauses = [(getattr(node, f, None) or [], k) for f, k in (("orelse", ("else", "elif")), ("finalbody", ("finally",)))]
    clauses += [([h], ("except",)) for h in getattr(node, "handlers", None) or []]
    for block, keywords in clauses:
        if not block:
            continue
        i = min(n.lineno for n in block) - 1  # 1-based line of the block's first statement, minus one
        while i > node.lineno and not lines[i - 1].lstrip().startswith(keywords):
            i -= 1
        if keywords == ("except",):
            i = block[0].lineno
        found.append(i)
    return found


def normalize(source: str, function: str) -> Code | None:
    """``function``'s body in ``source`` (a notebook cell or a module), normalized; None if it is not there.

    Parameters
    ----------
    source : str
        Python code that defines ``function`` (cell magics and shell lines are ignored).
    function : str
        The graded function's name, ``"relu"`` or ``"TwoLayerNet.loss"``.

    Returns
    -------
    Code or None
        None when ``source`` does not parse or does not define ``function``.
    """
    source = "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.split("\n"))
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    node = _find_def(tree, function)
    if node is None:
        return None
    lines = source.split("\n")[node.lineno - 1: node.end_lineno]
    shown = textwrap.dedent("\n".join(lines))
    first = node.lineno - 1  # lines of ``shown`` are source lines minus ``first``
    body = list(node.body)
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
            and isinstance(body[0].value.value, str):
        body = body[1:]
    body = _canonical_order(body)
    module = ast.Module(body=body, type_ignores=[])
    normalized = ast.unparse(module) if body else ""
    # map the normalized lines back to the lines the student wrote (the statements keep their positions)
    mapping = [()] * (normalized.count("\n") + 1)
    again = _statements(ast.parse(normalized)) if normalized else []
    original = _statements(module)
    if len(again) == len(original):
        for new, old in sorted(zip(again, original), key=lambda p: p[0].end_lineno - p[0].lineno, reverse=True):
            simple = not any(isinstance(getattr(old, f, None), list) and getattr(old, f) and
                             isinstance(getattr(old, f)[0], ast.stmt) for f in ("body", "orelse", "finalbody"))
            span = range(old.lineno, old.end_lineno + 1) if simple else _header_lines(old, source)
            for i in range(new.lineno - 1, new.end_lineno):
                mapping[i] = tuple(n - first for n in span)
    return Code(shown, normalized, mapping)


# ---------------------------------------------------------------------------
# The core: comparing every version of every function
# ---------------------------------------------------------------------------

def _fingerprint(code: Code, boilerplate):
    from copydetect import CodeFingerprint

    return CodeFingerprint("code.py", K, WINDOW, boilerplate=boilerplate, fp=io.StringIO(code.normalized),
                           language="python")


def _shared_lines(code: Code, slices) -> tuple:
    starts = [0]
    for line in code.normalized.split("\n"):
        starts.append(starts[-1] + len(line) + 1)
    marked = set()
    for start, end in zip(*slices) if len(slices) else ():
        for i, (lo, hi) in enumerate(zip(starts, starts[1:])):
            if lo < end and start < hi - 1:
                marked.update(code.lines[i])
    return tuple(sorted(marked))


def _boilerplate(starter: Code | None):
    if starter is None or not starter.normalized:
        return None
    return list(_fingerprint(starter, None).hashes) or None


def _compare_prints(a: Code, b: Code, fa, fb, lines=True) -> tuple:
    from copydetect import compare_files

    tokens = int(min(fa.token_coverage, fb.token_coverage))
    if not fa.hashes or not fb.hashes or fa.hashes.isdisjoint(fb.hashes):
        return 0.0, tokens, ((), ())
    _, (sa, sb), (slices_a, slices_b) = compare_files(fa, fb)
    shared = (_shared_lines(a, slices_a), _shared_lines(b, slices_b)) if lines else ((), ())
    return float(min(sa, sb)), tokens, shared


def compare(a: Code, b: Code, starter: Code | None = None) -> tuple:
    """The shared fraction of ``a`` and ``b`` and the shared lines of each, the starter code excluded.

    Parameters
    ----------
    a, b : Code
        Two normalized versions of one function (:func:`normalize`).
    starter : Code, optional
        The released starter code of the function: boilerplate.

    Returns
    -------
    (score, tokens, shared) : (float, int, tuple)
        ``score`` the smaller of the two shared fractions; ``tokens`` the smaller size of the two (filtered
        characters, boilerplate removed); ``shared`` the 1-based shared lines of a's and of b's source.
    """
    plate = _boilerplate(starter)
    return _compare_prints(a, b, _fingerprint(a, plate), _fingerprint(b, plate))


def find_similar(assignment: str, submissions: dict, starter: dict | None = None, reference: dict | None = None,
                 *, min_tokens: int = MIN_TOKENS, min_shared: float = MIN_SHARED) -> SimilarityReport:
    """Every pair of versions of a function that share at least ``min_shared`` of their code.

    Parameters
    ----------
    assignment : str
        The assignment, for the report's title.
    submissions : dict
        function -> student id -> the code the student handed in for it (a cell that defines it).
    starter : dict, optional
        function -> the released starter cell (its given lines are boilerplate).
    reference : dict, optional
        function -> the published reference code; a match is a pair with :data:`REFERENCE`.
    min_tokens, min_shared : int, float
        No pair is reported for a version shorter than ``min_tokens`` filtered characters, or sharing
        less than ``min_shared`` of either version.

    Returns
    -------
    SimilarityReport
    """
    report = SimilarityReport(assignment)
    for function, by_student in submissions.items():
        plate = normalize(starter.get(function, ""), function) if starter else None
        versions = {s: c for s, src in sorted(by_student.items()) if (c := normalize(src, function)) is not None}
        ref = normalize((reference or {}).get(function, ""), function)
        if ref is not None:
            versions[REFERENCE] = ref
        report.code[function] = versions
        boilerplate = _boilerplate(plate)
        prints = {s: _fingerprint(c, boilerplate) for s, c in versions.items()}
        report.sizes[function] = {s: int(len(_filtered(c.normalized))) for s, c in versions.items()}
        names = [s for s in versions if report.sizes[function][s] >= min_tokens]
        found = []
        for i, a in enumerate(names):
            for b in names[i + 1:]:
                x, y = (b, a) if a == REFERENCE else (a, b)
                score, tokens, _ = _compare_prints(versions[x], versions[y], prints[x], prints[y], lines=False)
                if score >= min_shared and tokens >= min_tokens:
                    shared = _compare_prints(versions[x], versions[y], prints[x], prints[y])[2]
                    found.append(Pair(function, x, y, score, shared))
        report.pairs += sorted(found, key=lambda p: (p.b != REFERENCE, -p.score, p.a, p.b))
    return report


# ---------------------------------------------------------------------------
# Reading a course
# ---------------------------------------------------------------------------

def reference_sources(assignment: str) -> dict:
    """function -> the source of the published reference implementation (the teaching library's)."""
    from mnistlab.checks import GRADED, REFERENCE_MODULES

    found = {}
    for function in GRADED[assignment]:
        for module in REFERENCE_MODULES[assignment]:
            obj = importlib.import_module(module)
            for part in function.split("."):
                obj = getattr(obj, part, None)
            if callable(obj):
                try:
                    code = textwrap.dedent(inspect.getsource(obj))
                except (OSError, TypeError):
                    continue
                *owners, name = function.split(".")
                for owner in reversed(owners):  # nest a method in its class, as the notebook has it
                    code = f"class {owner}:\n" + textwrap.indent(code, "    ")
                found[function] = code
                break
    return found


def _solution_cells(path: Path) -> dict:
    """grade_id -> source of every solution cell of the notebook at ``path``; {} if it cannot be read."""
    try:
        nb = json.loads(Path(path).read_text(encoding="utf-8"))
        cells = {}
        for cell in nb.get("cells", []):
            meta = (cell.get("metadata") or {}).get("nbgrader") or {}
            if meta.get("solution") and cell.get("cell_type") == "code":
                source = cell.get("source", "")
                cells[str(meta.get("grade_id"))] = "".join(source) if isinstance(source, list) else str(source)
        return cells
    except (OSError, ValueError, AttributeError, TypeError):
        return {}


def _submitted_notebook(folder: Path, assignment: str) -> Path | None:
    """The notebook grading takes from a submission folder (:func:`mnistlab.grader.preflight.find_notebook`)."""
    from mnistlab.grader.preflight import Rejection, find_notebook

    try:
        return find_notebook(folder, assignment)[0]
    except Rejection:
        return None


def similarity_report(course, assignment: str, *, students=None, min_tokens: int = MIN_TOKENS,
                      min_shared: float = MIN_SHARED) -> SimilarityReport:
    """Compare the submitted notebooks of ``assignment`` in ``course`` with each other and the reference.

    Parameters
    ----------
    course : path
        The course folder (``submitted/<student>/<assignment>/<assignment>.ipynb``, ``release/``, ``source/``).
    assignment : str
    students : iterable of str, optional
        Only these students (default: every submission).

    Returns
    -------
    SimilarityReport
        Unreadable notebooks are left out, with the reason in ``skipped``.
    """
    from mnistlab.checks import GRADED

    course = Path(course)
    functions = [f for f in GRADED[assignment] if f != "training_run"]
    released = course / "release" / assignment / f"{assignment}.ipynb"
    starter_cells = _solution_cells(released)
    if not starter_cells:  # not released: the source without its solution regions
        starter_cells = {gid: _strip_solution(code)
                         for gid, code in _solution_cells(course / "source" / assignment / f"{assignment}.ipynb").items()}
    names = sorted(students) if students else sorted(p.name for p in (course / "submitted").glob("*")
                                                      if (p / assignment).is_dir())
    submissions = {f: {} for f in functions}
    skipped = {}
    for student in names:
        path = _submitted_notebook(course / "submitted" / student / assignment, assignment)
        cells = _solution_cells(path) if path else {}
        if not cells:
            skipped[student] = "no readable notebook with solution cells"
            continue
        for function in functions:
            code = cells.get(function.replace(".", "_"))
            if code is not None:
                submissions[function][student] = code
    starter = {f: starter_cells.get(f.replace(".", "_"), "") for f in functions}
    report = find_similar(assignment, submissions, starter, reference_sources(assignment),
                          min_tokens=min_tokens, min_shared=min_shared)
    report.skipped = skipped
    return report


def _strip_solution(code: str) -> str:
    out, inside = [], False
    for line in code.split("\n"):
        if line.strip() == "### BEGIN SOLUTION":
            inside = True
        elif line.strip() == "### END SOLUTION":
            inside = False
        elif not inside:
            out.append(line)
    return "\n".join(out)


# ---------------------------------------------------------------------------
# Text summary and HTML report
# ---------------------------------------------------------------------------

def _groups(pairs: list) -> list:
    """The students connected by pairs (not counting the reference), largest first."""
    parent: dict = {}

    def root(x):
        while parent.setdefault(x, x) != x:
            x = parent[x]
        return x

    for p in pairs:
        if p.b != REFERENCE:
            parent[root(p.a)] = root(p.b)
    groups: dict = {}
    for x in list(parent):
        groups.setdefault(root(x), []).append(x)
    return sorted((sorted(g) for g in groups.values()), key=lambda g: (-len(g), g))


def _shown_path(path) -> str:
    """A path as the instructor typed it: relative to the working folder when it is inside it."""
    relative = os.path.relpath(path)
    return str(path) if relative.startswith("..") else relative


def format_summary(report: SimilarityReport, *, limit: int = 12) -> str:
    """The text summary printed after the item analysis: per function, reference matches and groups."""
    lines = [f"similarity of {report.assignment} (flags for the instructor, no points changed; "
             f"reported when both versions have >= {MIN_TOKENS} tokens and share >= {MIN_SHARED:.0%}):"]

    def names(ids):
        ids = list(ids)
        return ", ".join(ids[:limit]) + (f", ... ({len(ids)} in all)" if len(ids) > limit else "")

    for function, versions in report.code.items():
        pairs = [p for p in report.pairs if p.function == function]
        students = [s for s in versions if s != REFERENCE]
        if not pairs:
            short = sum(1 for s in students if report.sizes[function].get(s, 0) < MIN_TOKENS)
            lines.append(f"  {function}: nothing similar" + (f" ({short} of {len(students)} too short to compare)"
                                                              if short else ""))
            continue
        ref = sorted(p.a for p in pairs if p.b == REFERENCE)
        if ref:
            lines.append(f"  {function}: {len(ref)} match the reference: {names(ref)}")
        for group in _groups(pairs):
            scores = [p.score for p in pairs if p.b != REFERENCE and p.a in group]
            lines.append(f"  {function}: {len(group)} alike (score >= {min(scores):.2f}): "
                         + ("the same students as match the reference" if group == ref else names(group)))
    if report.skipped:
        lines.append(f"  not compared: {names(sorted(report.skipped))}")
    if report.html_path:
        lines.append(f"  side by side: {_shown_path(report.html_path)}")
    return "\n".join(lines)


_STYLE = """body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:2px 6px;vertical-align:top}h3{margin-top:1.5em}"""
# Inline, so that a pair shown elsewhere (the instructor guide shows one) looks the same; long lines wrap.
_SIDE_STYLE = "display:flex;gap:1em"
_COLUMN_STYLE = "flex:1;min-width:0"
_CODE_STYLE = "background:#f7f7f7;padding:.5em;margin:0;font-size:.8em;white-space:pre-wrap;overflow-wrap:anywhere"
_MARK_STYLE = "background:#ffd86b"


def _marked(code: Code, shared: tuple) -> str:
    rows = []
    for i, line in enumerate(code.source.split("\n"), start=1):
        text = html.escape(line) or " "
        rows.append(f"<mark style='{_MARK_STYLE}'>{text}</mark>" if i in shared else text)
    return f"<pre style='{_CODE_STYLE}'>" + "\n".join(rows) + "</pre>"


def side_by_side(report: SimilarityReport, pair: Pair) -> str:
    """One pair as an HTML fragment: the two versions of the function beside each other, shared lines marked.

    Parameters
    ----------
    report : SimilarityReport
        The report the pair belongs to (it holds each submission's code).
    pair : Pair
        One of ``report.pairs``.
    """
    code = report.code[pair.function]
    lines_a, lines_b = pair.shared
    return (f"<div style='{_SIDE_STYLE}'>"
            f"<div style='{_COLUMN_STYLE}'><b>{html.escape(pair.a)}</b>{_marked(code[pair.a], lines_a)}</div>"
            f"<div style='{_COLUMN_STYLE}'><b>{html.escape(pair.b)}</b>{_marked(code[pair.b], lines_b)}</div></div>")


def write_html(report: SimilarityReport, path) -> Path:
    """A self-contained page: every pair's score, and each flagged submission beside its closest match.

    Shared lines (after normalization: names, comments, spacing and order aside) are marked.
    """
    path = Path(path)
    out = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>Similarity: {html.escape(report.assignment)}"
           f"</title><style>{_STYLE}</style></head><body><h1>Similarity of {html.escape(report.assignment)}</h1>",
           f"<p>Flags for the instructor to look at; no points were changed. A pair is listed when both versions "
           f"of a function have at least {MIN_TOKENS} tokens (after dropping the signature, docstring, comments "
           f"and starter code) and share at least {MIN_SHARED:.0%} of them; names, comments, whitespace and the "
           f"order of statements are ignored. <code>{REFERENCE}</code> is the published reference.</p>"]
    for function in report.code:
        pairs = [p for p in report.pairs if p.function == function]
        out.append(f"<h2>{html.escape(function)}: {len(pairs)} pair(s)</h2>")
        if not pairs:
            continue
        out.append("<table><tr><th>submission</th><th>similar to</th><th>score</th></tr>")
        out += [f"<tr><td>{html.escape(p.a)}</td><td>{html.escape(p.b)}</td><td>{p.score:.2f}</td></tr>"
                for p in pairs]
        out.append("</table>")
        best: dict = {}
        for p in pairs:  # pairs are sorted: reference matches first, then by score
            best.setdefault(p.a, p)
            if p.b != REFERENCE:
                best.setdefault(p.b, p)
        shown = {(p.a, p.b): p for p in best.values()}  # each submission once, beside its closest match
        for p in sorted(shown.values(), key=lambda p: (p.a, p.b)):
            out.append(f"<h3>{html.escape(function)}: {html.escape(p.a)} and {html.escape(p.b)} "
                       f"(score {p.score:.2f})</h3>{side_by_side(report, p)}")
    out.append("</body></html>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(out), encoding="utf-8")
    report.html_path = path
    return path
