"""Item analysis of a graded assignment, for instructors: which functions were hard, and which discriminate.

Instructor guide: ``book/07_instructor_guide.md``. After ``mnistlab grade
ASSIGNMENT`` the instructor gets, per graded function ("item"): how many
submissions it was graded in, the pass rate, the mean points, the most common
failures and a discrimination index; and for the whole assignment the
distribution of the total scores and how many submissions were flagged.

The input is one record per submission, as the grading command produces them::

    {"student_id": "alice",
     "status": "graded",          # or "error" / "rejected": flagged, zero points
     "score": 7.0, "max_score": 10.0,
     "functions": {"relu": {"points": 1.0, "max_points": 1.0, "message": ""},
                   "softmax": {"points": 0.0, "max_points": 2.0,
                               "message": 'softmax: hidden test "rows sum to 1" failed.\\n  ...'}},
     "flags": ["relu: uses the reference mnistlab.functional.relu"]}

Which submissions count where
-----------------------------
* The per-function figures (pass rate, mean points, failures, discrimination)
  use the submissions with ``status == "graded"`` that have an entry for the
  function. Submissions with status ``"error"`` or ``"rejected"`` get zero
  points by decision, not because of the function: counting them would make
  every function look harder, and (as they are at the bottom of every
  function's ranking at once) inflate every discrimination index.
* The score distribution uses every submission, zeros included: it is what the
  gradebook holds.

Functions: :func:`analyze` (the figures), :func:`format_table` (the text
report), :func:`plot` (the figure) and :func:`write_report` (all three files).
Only NumPy and matplotlib are needed; nothing here needs a display.
"""

from __future__ import annotations

import csv
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np

__all__ = [
    "FailureGroup",
    "ItemStats",
    "ScoreDistribution",
    "ItemAnalysis",
    "failure_key",
    "analyze",
    "format_table",
    "plot",
    "write_report",
]

#: Statuses of submissions that got zero points by decision (see the module docstring).
FLAGGED_STATUSES = ("error", "rejected")
#: How many failure groups are kept per function.
TOP_FAILURES = 3
#: Widest line :func:`format_table` writes.
TABLE_WIDTH = 110


# ---------------------------------------------------------------------------
# The figures
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class FailureGroup:
    """Failures of one function with the same first line, up to numbers and array details.

    Attributes
    ----------
    message : str
        The normalized first line (see :func:`failure_key`), e.g.
        ``softmax: hidden test "rows sum to 1" failed.``
    count : int
        Number of submissions whose failure has this first line.
    example : str
        The first line of the first such failure, as it was.
    """

    message: str
    count: int
    example: str


@dataclass
class ItemStats:
    """The figures of one graded function.

    Attributes
    ----------
    function : str
    n : int
        Graded submissions with an entry for this function.
    n_passed : int
        Of these, the ones with full points (``points == max_points``).
    max_points : float
        The function's points (NaN if ``n == 0``).
    pass_rate : float
        ``n_passed / n`` in [0, 1] (NaN if ``n == 0``).
    mean_points : float
        NaN if ``n == 0``.
    discrimination : float
        Point-biserial correlation of passing with the rest score (see
        :func:`analyze`); NaN when it is undefined.
    failures : list of FailureGroup
        The most common failures, most frequent first (at most 3).
    """

    function: str
    n: int
    n_passed: int
    max_points: float
    pass_rate: float
    mean_points: float
    discrimination: float
    failures: list[FailureGroup] = field(default_factory=list)

    @property
    def n_failed(self) -> int:
        return self.n - self.n_passed


@dataclass
class ScoreDistribution:
    """The total scores of all submissions (flagged ones included).

    Attributes
    ----------
    counts : dict of float to int
        Number of submissions per total score, in increasing score order.
    n : int
    max_score : float
        The assignment's maximum score (the largest ``max_score`` of the records).
    mean, median, std, min, max : float
        ``std`` is the population standard deviation (``ddof=0``): the class
        is described, not sampled.
    """

    counts: dict[float, int]
    n: int
    max_score: float
    mean: float
    median: float
    std: float
    min: float
    max: float

    @property
    def scores(self) -> np.ndarray:
        """Every submission's score, sorted (rebuilt from ``counts``)."""
        return np.repeat(np.array(list(self.counts), dtype=float), list(self.counts.values()))


@dataclass
class ItemAnalysis:
    """The result of :func:`analyze`.

    Attributes
    ----------
    items : list of ItemStats
        One per function, in the order asked for.
    scores : ScoreDistribution
    n_submissions : int
        All records.
    n_graded : int
        Records with status ``"graded"`` (the ones the item figures use).
    n_flagged : int
        Records with at least one flag, or with status ``"error"``/``"rejected"``.
    n_rejected, n_error : int
        Records with that status.
    """

    items: list[ItemStats]
    scores: ScoreDistribution
    n_submissions: int
    n_graded: int
    n_flagged: int
    n_rejected: int
    n_error: int

    def item(self, function: str) -> ItemStats:
        """The figures of ``function`` (KeyError if it was not analysed)."""
        for stats in self.items:
            if stats.function == function:
                return stats
        raise KeyError(f"no function {function!r} in this item analysis; it has {[s.function for s in self.items]}")


# ---------------------------------------------------------------------------
# Grouping failure messages
# ---------------------------------------------------------------------------

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# IPython's traceback header ("NameError    Traceback (most recent call last)"):
# the exception and its text are on the last line of such a message instead.
_TRACEBACK_HEADER = re.compile(r"^\w+\s+Traceback \(most recent call last\)")
# Test titles ("float32 in, float32 out") name the test: kept as they are.
_QUOTED = re.compile(r'("[^"]*")')
# Array contents and value lists differ from submission to submission.
_BRACKETS = re.compile(r"\[[^\[\]]*\]")
# Numbers, but not digits inside names (float32, W1, log1p): those are part of the message.
_NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+(?:\.\d+)?|\.\d+)(?:[eE][-+]?\d+)?")


def _first_line(message: str) -> str:
    """The line of ``message`` that says what failed (ANSI codes and ``GradingFailure:`` removed)."""
    lines = [line.strip() for line in _ANSI.sub("", message or "").splitlines()]
    # IPython separates tracebacks with a line of dashes; it says nothing.
    lines = [line for line in lines if line and set(line) != {"-"}]
    if not lines:
        return ""
    first = lines[0]
    if _TRACEBACK_HEADER.match(first):
        first = lines[-1]
    return first.removeprefix("GradingFailure: ")


def failure_key(message: str) -> str:
    """The group of a failure message: its first line with numbers and array details normalized.

    Two failures are "the same" when their first lines differ only in numbers
    (``did not finish within 30 s`` / ``within 31.5 s``, a test accuracy, a
    shape) or in the contents of brackets (array values). Text in double
    quotes, the test's title, is kept as it is, and digits that are part of a
    word (``float32``, ``W1``) are not numbers.

    Parameters
    ----------
    message : str
        A failure message (``GradingFailure`` text or a notebook traceback).

    Returns
    -------
    str
        E.g. ``softmax: hidden test "rows sum to 1" failed.``; numbers become
        ``#`` and bracket contents ``[...]``. ``"(no message)"`` for an empty message.

    Examples
    --------
    >>> failure_key("training run: test accuracy 93.12% after 3 epochs is below the bar of 96%.\\n  per epoch: ...")
    'training run: test accuracy #% after # epochs is below the bar of #%.'
    >>> failure_key('relu: hidden test "float32 in, float32 out" failed.')
    'relu: hidden test "float32 in, float32 out" failed.'
    """
    first = _first_line(message)
    if not first:
        return "(no message)"
    parts = _QUOTED.split(first)  # odd indices are the quoted parts
    for i in range(0, len(parts), 2):
        parts[i] = _NUMBER.sub("#", _BRACKETS.sub("[...]", parts[i]))
    return re.sub(r"\s+", " ", "".join(parts)).strip()


# ---------------------------------------------------------------------------
# analyze
# ---------------------------------------------------------------------------


def _passed(points: float, max_points: float) -> bool:
    # Full points, up to float noise from summing fractional points.
    return points >= max_points - 1e-9 * max(1.0, abs(max_points))


def _point_biserial(passed: np.ndarray, rest: np.ndarray) -> float:
    """Pearson correlation of a 0/1 item with the rest score; NaN when either is constant."""
    if len(passed) < 2:
        return math.nan
    p = passed.mean()
    sd = rest.std()
    # A constant item (all pass / all fail) or constant rest score has no correlation.
    if p in (0.0, 1.0) or sd <= 1e-12 * max(1.0, float(np.abs(rest).max())):
        return math.nan
    m1, m0 = rest[passed == 1].mean(), rest[passed == 0].mean()
    return float(np.clip((m1 - m0) / sd * math.sqrt(p * (1 - p)), -1.0, 1.0))


def _number(value, what: str, record_no: int) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"record {record_no}: {what} must be a number, got {value!r}") from None


def analyze(records: Iterable[Mapping], functions: Sequence[str] | None = None) -> ItemAnalysis:
    """The item analysis of one assignment's graded submissions.

    Parameters
    ----------
    records : iterable of dict
        One per submission: ``student_id``, ``status`` (``"graded"``,
        ``"error"`` or ``"rejected"``; default ``"graded"``), ``score``,
        ``max_score`` (default: the sums over ``functions``), ``functions``
        (function -> ``{"points", "max_points", "message"}``) and ``flags``
        (list of str). See the module docstring for which records count where.
    functions : sequence of str, optional
        The functions to analyse, in this order (e.g.
        ``mnistlab.grading.GRADED[assignment]``). Default: every function of the
        records, in the order first seen. A function no graded record has gets
        ``n == 0`` and NaN figures.

    Returns
    -------
    ItemAnalysis

    Raises
    ------
    ValueError
        If there are no records, or a record's points are not numbers.

    Notes
    -----
    A function *passes* in a submission when it gets its full points.

    The discrimination index is the corrected point-biserial correlation
    between passing the function, :math:`x_i \\in \\{0, 1\\}`, and the *rest
    score* :math:`y_i` = total score minus this function's points (the
    function's own points are left out, so that it is not correlated with
    itself):

    .. math::

        r_{pb} = \\frac{M_1 - M_0}{s_y} \\sqrt{p (1 - p)}

    where :math:`M_1` and :math:`M_0` are the mean rest scores of the
    submissions that pass and fail the function, :math:`p` the pass rate and
    :math:`s_y` the population standard deviation of the rest scores. This is
    Pearson's correlation of :math:`x` and :math:`y`: 1 when exactly the
    strong submissions pass, near 0 when passing says nothing about the rest,
    negative when weaker submissions pass more often (worth a look at the
    tests). It is NaN when it is undefined: fewer than 2 submissions, every
    submission passing or every one failing, or all rest scores equal. As a
    rule of thumb items above 0.3 discriminate well, below 0.1 poorly.
    """
    records = list(records)
    if not records:
        raise ValueError("item analysis: no submission records (was anything graded?)")

    order: list[str] = list(dict.fromkeys(functions)) if functions is not None else []
    if functions is None:
        for rec in records:
            for name in rec.get("functions") or {}:
                if name not in order:
                    order.append(name)

    totals, max_scores = [], []
    statuses = Counter()
    n_flagged = 0
    # function -> per graded record: (passed, points, max_points, rest score, message)
    rows: dict[str, list[tuple[bool, float, float, float, str]]] = {name: [] for name in order}
    for k, rec in enumerate(records):
        entries = rec.get("functions") or {}
        status = rec.get("status", "graded")
        statuses[status] += 1
        if rec.get("flags") or status in FLAGGED_STATUSES:
            n_flagged += 1
        points = {name: _number(e.get("points", 0.0), f"{name} points", k) for name, e in entries.items()}
        score = _number(rec["score"], "score", k) if rec.get("score") is not None else sum(points.values())
        max_score = rec.get("max_score")
        if max_score is None:
            max_score = sum(_number(e.get("max_points", 0.0), f"{n} max_points", k) for n, e in entries.items())
        totals.append(score)
        max_scores.append(_number(max_score, "max_score", k))
        if status in FLAGGED_STATUSES:
            continue
        for name in order:
            if name not in entries:
                continue
            entry = entries[name]
            mx = _number(entry.get("max_points", 0.0), f"{name} max_points", k)
            rows[name].append((_passed(points[name], mx), points[name], mx, score - points[name],
                               entry.get("message") or ""))

    items = []
    for name in order:
        data = rows[name]
        n = len(data)
        if not n:
            items.append(ItemStats(name, 0, 0, math.nan, math.nan, math.nan, math.nan, []))
            continue
        passed = np.array([r[0] for r in data], dtype=float)
        groups: Counter = Counter()
        examples: dict[str, str] = {}
        for ok, *_, message in data:
            if not ok:
                key = failure_key(message)
                groups[key] += 1
                examples.setdefault(key, _first_line(message) or key)
        items.append(ItemStats(
            function=name,
            n=n,
            n_passed=int(passed.sum()),
            max_points=max(r[2] for r in data),
            pass_rate=float(passed.mean()),
            mean_points=float(np.mean([r[1] for r in data])),
            discrimination=_point_biserial(passed, np.array([r[3] for r in data])),
            # Counter.most_common keeps first-seen order among equal counts.
            failures=[FailureGroup(key, count, examples[key]) for key, count in groups.most_common(TOP_FAILURES)],
        ))

    scores = np.array(totals, dtype=float)
    values, counts = np.unique(scores, return_counts=True)
    distribution = ScoreDistribution(
        counts={float(v): int(c) for v, c in zip(values, counts)},
        n=len(scores),
        max_score=float(max(max_scores)),
        mean=float(scores.mean()),
        median=float(np.median(scores)),
        std=float(scores.std()),
        min=float(scores.min()),
        max=float(scores.max()),
    )
    return ItemAnalysis(
        items=items,
        scores=distribution,
        n_submissions=len(records),
        n_graded=len(records) - sum(statuses[s] for s in FLAGGED_STATUSES),
        n_flagged=n_flagged,
        n_rejected=statuses["rejected"],
        n_error=statuses["error"],
    )


# ---------------------------------------------------------------------------
# The text report
# ---------------------------------------------------------------------------


def _truncate(text: str, width: int) -> str:
    if len(text) <= width:
        return text
    return text[: max(0, width - 3)] + "..." if width >= 3 else text[:width]


def _fmt(value: float, spec: str) -> str:
    return "-" if value is None or math.isnan(value) else format(value, spec)


def _without_function(message: str, function: str) -> str:
    # The table's first column already names the function ("training_run" is "training run: ...").
    for prefix in (function, function.replace("_", " ")):
        if message.startswith(prefix + ": "):
            return message[len(prefix) + 2:]
    return message


def _score_step(scores: ScoreDistribution, max_values: int) -> float | None:
    """The points step of all scores (1, 0.5, 2.5, ...) if 0..max score on it has at most ``max_values`` values."""
    top = max(scores.max_score, scores.max)
    quarters = np.array([*scores.counts, top]) * 4
    # Points are whole, half or quarter points in practice; anything else gets bins.
    if scores.min < 0 or not np.allclose(quarters, np.round(quarters)):
        return None
    step = np.gcd.reduce(np.round(quarters).astype(np.int64)) / 4
    if step == 0 or top / step + 1 > max_values:
        return None
    return float(step)


def _histogram_bins(scores: ScoreDistribution, max_rows: int = 25) -> list[tuple[str, int]]:
    """(label, count) rows: one per score value, or equal bins over [0, max score] if there are many."""
    top = max(scores.max_score, scores.max)
    step = _score_step(scores, max_rows)
    if step is not None:
        # Every possible score from 0 to the maximum, so that gaps show.
        grid = step * np.arange(int(round(top / step)) + 1)
        return [(f"{v:g}", scores.counts.get(float(v), 0)) for v in grid]
    if len(scores.counts) <= max_rows:
        return [(f"{value:g}", count) for value, count in scores.counts.items()]
    low = min(0.0, scores.min)
    edges = np.linspace(low, top, 11)
    counts, _ = np.histogram(scores.scores, bins=edges)
    return [(f"{a:g}-{b:g}", int(c)) for a, b, c in zip(edges[:-1], edges[1:], counts)]


def format_table(analysis: ItemAnalysis, *, width: int = TABLE_WIDTH) -> str:
    """The item analysis as plain text for a terminal, no line wider than ``width``.

    Sections: the table of functions (max points, pass rate, mean points,
    discrimination, number of graded submissions, most common failure with its
    count), the three most common failures of each function, the score
    distribution as a text histogram, and the flagged submissions.

    Parameters
    ----------
    analysis : ItemAnalysis
        From :func:`analyze`.
    width : int, default 110
        Longer messages are cut and end in ``...``.

    Returns
    -------
    str
    """
    lines: list[str] = []
    name_width = min(24, max([len(s.function) for s in analysis.items] + [len("function")]))
    header = f"{'function':<{name_width}}  {'max':>5}  {'pass %':>6}  {'mean':>6}  {'discr.':>6}  {'n':>4}  "
    fail_width = max(10, width - len(header))
    lines.append(header + "most common failure (count)")
    lines.append("-" * min(width, len(header) + fail_width))
    for s in analysis.items:
        if s.failures:
            top = s.failures[0]
            failure = f"({top.count}) {_without_function(top.message, s.function)}"
        else:
            failure = "-"
        lines.append(
            f"{_truncate(s.function, name_width):<{name_width}}  {_fmt(s.max_points, '5g'):>5}  "
            f"{_fmt(100 * s.pass_rate, '6.1f'):>6}  {_fmt(s.mean_points, '6.2f'):>6}  "
            f"{_fmt(s.discrimination, '+6.2f'):>6}  {s.n:>4}  {_truncate(failure, fail_width)}"
        )
    lines.append("pass %: full points; discr.: point-biserial correlation of passing with the rest of the score "
                  "(- if undefined)")

    failing = [s for s in analysis.items if s.failures]
    if failing:
        lines += ["", "Most common failures"]
        for s in failing:
            lines.append(f"  {s.function} ({s.n_failed} of {s.n} failed)")
            for g in s.failures:
                lines.append(_truncate(f"    {g.count:>4}  {g.message}", width))

    dist = analysis.scores
    plural = "" if dist.n == 1 else "s"
    lines += ["", f"Score distribution: {dist.n} submission{plural}, out of {dist.max_score:g} points"]
    bins = _histogram_bins(dist)
    label_width = max(len(label) for label, _ in bins)
    biggest = max(count for _, count in bins) or 1
    bar_width = max(10, min(50, width - label_width - 12))
    for label, count in bins:
        bar = "#" * int(round(bar_width * count / biggest))
        lines.append(f"  {label:>{label_width}} | {bar} {count}".rstrip())
    lines.append(f"  mean {dist.mean:.2f}  median {dist.median:g}  std {dist.std:.2f}  "
                 f"min {dist.min:g}  max {dist.max:g}")

    zeroed = analysis.n_rejected + analysis.n_error
    lines += ["", f"Flagged: {analysis.n_flagged} of {analysis.n_submissions} submissions; "
                  f"{analysis.n_rejected} rejected, {analysis.n_error} with errors"
                  + (" (zero points, left out of the function figures above)." if zeroed else ".")]
    return "\n".join(_truncate(line, width) for line in lines)


# ---------------------------------------------------------------------------
# The figure
# ---------------------------------------------------------------------------


def plot(analysis: ItemAnalysis, path=None, *, title: str | None = None):
    """Pass rate per function and the histogram of total scores, side by side.

    Parameters
    ----------
    analysis : ItemAnalysis
        From :func:`analyze`.
    path : str or Path, optional
        If given, the figure is also saved there as a PNG.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure
    """
    # A bare Figure, not pyplot: it draws with Agg whatever the backend or the
    # display, and a grading run that writes many reports leaves no open figures.
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    items = analysis.items
    dist = analysis.scores
    fig = Figure(figsize=(11, max(3.5, 0.45 * len(items) + 1.5)), layout="constrained")
    ax_items, ax_scores = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.2, 1]})

    # Pass rates: first function at the top, as in the notebook.
    y = np.arange(len(items))[::-1]
    rates = np.array([100 * s.pass_rate if s.n else 0.0 for s in items])
    ax_items.barh(y, rates, color="tab:blue")
    for yi, s, rate in zip(y, items, rates):
        ax_items.text(min(rate, 100) + 1, yi, f"n={s.n}", va="center", fontsize=8)
    ax_items.set_yticks(y, [s.function for s in items])
    ax_items.set_xlim(0, 115)  # room for the "n=" labels
    ax_items.set_xticks(range(0, 101, 20))
    ax_items.set(xlabel="pass rate (% of graded submissions with full points)", title="Pass rate per function")
    ax_items.grid(axis="x", alpha=0.3)

    scores = dist.scores
    top = max(dist.max_score, dist.max, 1e-9)
    low = min(0.0, dist.min)
    step = _score_step(dist, 41)
    if step is not None:
        # Scores on a grid (whole or half points): one bar centred on each possible score.
        bins = step * (np.arange(int(round(top / step)) + 2) - 0.5)
    else:
        bins = np.linspace(low, top, int(min(20, max(1, math.ceil(top - low)))) + 1)
    heights, _, _ = ax_scores.hist(scores, bins=bins, color="tab:gray", edgecolor="white")
    ax_scores.set_ylim(0, 1.3 * max(1, heights.max()))  # headroom for the legend
    ax_scores.yaxis.set_major_locator(MaxNLocator(integer=True))  # counts of submissions
    ax_scores.axvline(dist.max_score, color="tab:red", linestyle="--", label=f"max score {dist.max_score:g}")
    ax_scores.axvline(dist.mean, color="black", linestyle=":", label=f"mean {dist.mean:.2f}")
    ax_scores.set(xlabel="total score", ylabel="submissions",
                  title=f"Total scores ({dist.n} submissions, {analysis.n_flagged} flagged)")
    ax_scores.legend(loc="best")
    ax_scores.grid(axis="y", alpha=0.3)
    if title:
        fig.suptitle(title)
    if path is not None:
        fig.savefig(path, format="png", dpi=100)
    return fig


# ---------------------------------------------------------------------------
# All three files
# ---------------------------------------------------------------------------

CSV_COLUMNS = (
    ["function", "max_points", "n", "n_passed", "pass_rate", "mean_points", "discrimination"]
    + [f"{what}_{k}" for k in range(1, TOP_FAILURES + 1) for what in ("failure", "failure_count")]
)


def _csv_number(value: float) -> str:
    # Empty, not "nan": spreadsheets read an empty cell as missing.
    return "" if math.isnan(value) else f"{value:.6g}"


def write_report(records, out_dir, assignment: str, functions: Sequence[str] | None = None) -> dict[str, Path]:
    """Analyse ``records`` and write the text report, the CSV and the figure.

    Parameters
    ----------
    records : iterable of dict
        See :func:`analyze`.
    out_dir : str or Path
        Created if missing.
    assignment : str
        Names the files and titles the report.
    functions : sequence of str, optional
        See :func:`analyze`.

    Returns
    -------
    dict of str to Path
        ``{"txt": <out_dir>/<assignment>-items.txt, "csv": ...-items.csv, "png": ...-items.png}``.
        The CSV has one row per function (columns :data:`CSV_COLUMNS`;
        ``pass_rate`` in [0, 1], empty cells where a figure is undefined).
    """
    analysis = analyze(records, functions)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {ext: out / f"{assignment}-items.{ext}" for ext in ("txt", "csv", "png")}

    paths["txt"].write_text(f"Item analysis of {assignment}\n\n{format_table(analysis)}\n", encoding="utf-8")

    with paths["csv"].open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(CSV_COLUMNS)
        for s in analysis.items:
            row = [s.function, _csv_number(s.max_points), s.n, s.n_passed, _csv_number(s.pass_rate),
                   _csv_number(s.mean_points), _csv_number(s.discrimination)]
            for k in range(TOP_FAILURES):
                row += [s.failures[k].message, s.failures[k].count] if k < len(s.failures) else ["", ""]
            writer.writerow(row)

    plot(analysis, paths["png"], title=f"Item analysis of {assignment}")
    return paths
