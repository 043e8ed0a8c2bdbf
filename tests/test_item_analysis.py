"""Item analysis on hand-built records whose figures are worked out by hand, and the three report files."""

import csv
import doctest
import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.image
import numpy as np
import pytest

from mnistlab.grader import item_analysis
from mnistlab.grader.item_analysis import analyze, failure_key, format_table, plot, write_report


def _fn(points, max_points, message=""):
    return {"points": points, "max_points": max_points, "message": message}


RELU_DTYPE = 'relu: hidden test "float32 in, float32 out" failed.\n  relu(x): expected float32, got float64'
RELU_NONE = "relu: expected a function, got None (NoneType).\n  hint: run the cell that defines relu"


def _records():
    """Four graded submissions, one rejected, one that did not run.

    ============  ====  =======  =======  =====  ===========
    student       relu  softmax  sigmoid  score  status
    ============  ====  =======  =======  =====  ===========
    alice         1/1   2/2      1/1      4      graded
    bob           1/1   2/2      1/1      4      graded, flagged
    carol         0/1   0/2      1/1      1      graded
    dave          0/1   0/2      1/1      1      graded
    erin          0/1   0/2      0/1      0      rejected
    frank         -     -        -        0      error
    ============  ====  =======  =======  =====  ===========
    """
    full = {"relu": _fn(1.0, 1.0), "softmax": _fn(2.0, 2.0), "sigmoid": _fn(1.0, 1.0)}
    return [
        {"student_id": "alice", "status": "graded", "score": 4.0, "max_score": 4.0, "functions": full, "flags": []},
        {"student_id": "bob", "status": "graded", "score": 4.0, "max_score": 4.0, "functions": full,
         "flags": ["softmax: printed to stderr"]},
        {"student_id": "carol", "status": "graded", "score": 1.0, "max_score": 4.0, "flags": [], "functions": {
            "relu": _fn(0.0, 1.0, RELU_DTYPE),
            "softmax": _fn(0.0, 2.0, "softmax: did not finish within 30 s"),
            "sigmoid": _fn(1.0, 1.0)}},
        {"student_id": "dave", "status": "graded", "score": 1.0, "max_score": 4.0, "flags": [], "functions": {
            "relu": _fn(0.0, 1.0, RELU_NONE),
            "softmax": _fn(0.0, 2.0, "GradingFailure: softmax: did not finish within 31.5 s\n  (interrupted)"),
            "sigmoid": _fn(1.0, 1.0)}},
        {"student_id": "erin", "status": "rejected", "score": 0.0, "max_score": 4.0,
         "flags": ["relu: uses the reference mnistlab.functional.relu"], "functions": {
            "relu": _fn(0.0, 1.0, "rejected"), "softmax": _fn(0.0, 2.0, "rejected"),
            "sigmoid": _fn(0.0, 1.0, "rejected")}},
        {"student_id": "frank", "status": "error", "score": 0.0, "max_score": 4.0, "functions": {}, "flags": []},
    ]


def test_item_figures_by_hand():
    a = analyze(_records())
    # order first seen; the rejected and the error submission are left out of the items
    assert [s.function for s in a.items] == ["relu", "softmax", "sigmoid"]
    relu, softmax, sigmoid = a.items
    assert (relu.n, relu.n_passed, relu.n_failed, relu.max_points) == (4, 2, 2, 1.0)
    assert relu.pass_rate == 0.5 and relu.mean_points == 0.5
    assert (softmax.pass_rate, softmax.mean_points, softmax.max_points) == (0.5, 1.0, 2.0)
    assert (sigmoid.pass_rate, sigmoid.mean_points) == (1.0, 1.0)
    assert a.item("softmax") is softmax
    with pytest.raises(KeyError, match="nope"):
        a.item("nope")


def test_discrimination_separating_item_is_one_and_constant_item_is_nan():
    relu, softmax, sigmoid = analyze(_records()).items
    # relu: passed by the two with rest score 3, failed by the two with rest score 1
    assert relu.discrimination == pytest.approx(1.0)
    assert softmax.discrimination == pytest.approx(1.0)  # rest scores 2, 2 | 1, 1
    # everyone passes sigmoid: no correlation to speak of, and no warning either
    with np.errstate(all="raise"):
        assert math.isnan(analyze(_records()).item("sigmoid").discrimination)


def test_discrimination_hand_worked_value():
    # item passed by submissions 1 and 3; rest scores 3, 2, 1, 0:
    # M1 = 2, M0 = 1, s = sqrt(1.25), p = 1/2 -> r = 1 / sqrt(1.25) * 1/2 = 1/sqrt(5)
    rest, passed = [3.0, 2.0, 1.0, 0.0], [1, 0, 1, 0]
    records = [{"status": "graded", "score": r + p, "max_score": 4.0,
                "functions": {"f": _fn(float(p), 1.0, "" if p else "f: wrong"), "g": _fn(r, 3.0)}}
               for r, p in zip(rest, passed)]
    f = analyze(records, functions=["f"]).items[0]
    assert f.discrimination == pytest.approx(1 / math.sqrt(5))
    assert f.discrimination == pytest.approx(np.corrcoef(passed, rest)[0, 1])
    # an item passed by the weaker submissions discriminates negatively
    flipped = [{**r, "functions": {**r["functions"], "f": _fn(1.0 - p, 1.0)}, "score": rr + 1 - p}
               for r, rr, p in zip(records, rest, passed)]
    assert analyze(flipped, ["f"]).items[0].discrimination == pytest.approx(-1 / math.sqrt(5))
    # a single submission, and all rest scores equal: undefined
    assert math.isnan(analyze(records[:1], ["f"]).items[0].discrimination)
    same_rest = [{"score": p + 1.0, "functions": {"f": _fn(float(p), 1.0)}} for p in passed]
    assert math.isnan(analyze(same_rest).items[0].discrimination)


def test_failure_messages_grouped_by_first_line_up_to_numbers():
    relu, softmax, sigmoid = analyze(_records()).items
    # "within 30 s" and "within 31.5 s" (with the GradingFailure prefix) are the same failure
    assert [(g.message, g.count) for g in softmax.failures] == [("softmax: did not finish within # s", 2)]
    assert softmax.failures[0].example == "softmax: did not finish within 30 s"
    # two different failures, one each, in the order first seen; test titles keep their digits
    assert [(g.message, g.count) for g in relu.failures] == [
        ('relu: hidden test "float32 in, float32 out" failed.', 1),
        ("relu: expected a function, got None (NoneType).", 1),
    ]
    assert sigmoid.failures == []


def test_failure_key():
    assert failure_key('softmax: hidden test "rows sum to 1" failed.\n  softmax(z): rows sum to 0.98') \
        == 'softmax: hidden test "rows sum to 1" failed.'
    a = "affine_forward: returned shape (3, 4) [0.1 0.2]; expected (3, 5), dtype float32"
    b = "affine_forward: returned shape (12, 4) [7. 1. 2.]; expected (12, 5), dtype float32"
    assert failure_key(a) == failure_key(b) \
        == "affine_forward: returned shape (#, #) [...]; expected (#, #), dtype float32"
    assert failure_key("x: took 3 s.") == failure_key("x: took 3.5 s.") == "x: took # s."
    # an IPython traceback (ANSI colours, dashes, header): the exception line says what failed
    tb = ("\x1b[0;31m----------------------------------\x1b[0m\n"
          "\x1b[0;31mNameError\x1b[0m                  Traceback (most recent call last)\n"
          "Cell In[4], line 1\n----> 1 check_relu(relu)\n\nNameError: name 'relu' is not defined")
    assert failure_key(tb) == "NameError: name 'relu' is not defined"
    assert failure_key("") == failure_key(None) == "(no message)"


def test_module_doctests():
    assert doctest.testmod(item_analysis).failed == 0


def test_score_distribution_and_flags():
    a = analyze(_records())
    d = a.scores
    # scores 4, 4, 1, 1, 0, 0: flagged submissions count here, with their zeros
    assert d.counts == {0.0: 2, 1.0: 2, 4.0: 2} and list(d.counts) == [0.0, 1.0, 4.0]
    assert (d.n, d.max_score, d.min, d.max, d.median) == (6, 4.0, 0.0, 4.0, 1.0)
    assert d.mean == pytest.approx(10 / 6)
    assert d.std == pytest.approx(math.sqrt(156 / 54))  # population std: deviations 7/3, 7/3, -2/3, -2/3, -5/3, -5/3
    np.testing.assert_array_equal(d.scores, [0, 0, 1, 1, 4, 4])
    # bob (a flag), erin (rejected, flagged), frank (error)
    assert (a.n_submissions, a.n_graded, a.n_flagged, a.n_rejected, a.n_error) == (6, 4, 3, 1, 1)


def test_functions_argument_orders_and_selects():
    a = analyze(_records(), functions=["sigmoid", "relu", "log_softmax"])
    assert [s.function for s in a.items] == ["sigmoid", "relu", "log_softmax"]
    missing = a.items[2]
    assert missing.n == 0 and missing.failures == []
    assert all(math.isnan(v) for v in (missing.pass_rate, missing.mean_points, missing.discrimination))
    assert "log_softmax" in format_table(a)


def test_defaults_for_missing_fields():
    # no status (graded), no score/max_score (sums of the functions), no flags
    a = analyze([{"functions": {"relu": _fn(1.0, 1.0), "softmax": _fn(0.5, 2.0, "softmax: no")}}])
    assert (a.scores.max_score, a.scores.max, a.n_graded, a.n_flagged) == (3.0, 1.5, 1, 0)
    assert a.item("softmax").pass_rate == 0.0 and math.isnan(a.item("softmax").discrimination)


def test_empty_input_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="no submission records"):
        analyze([])
    with pytest.raises(ValueError, match="no submission records"):
        write_report(iter([]), tmp_path, "a2_relu_softmax")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="score must be a number"):
        analyze([{"score": "lots", "functions": {}}])


def test_table_content_and_width():
    records = _records()
    long_name = "a_graded_function_with_a_very_long_name_indeed"
    records[2]["functions"][long_name] = _fn(0.0, 3.0, f"{long_name}: hidden test \"{'x' * 150}\" failed.")
    text = format_table(analyze(records))
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 110
    assert any(line.endswith("...") for line in lines)
    lines = format_table(analyze(_records())).splitlines()
    relu_row = next(line for line in lines if line.startswith("relu "))
    # max points, pass %, mean, discrimination, n, top failure (count, without the repeated "relu: ")
    assert relu_row.split()[:6] == ["relu", "1", "50.0", "0.50", "+1.00", "4"]
    assert '(1) hidden test "float32 in, float32 out" failed.' in relu_row
    sigmoid_row = next(line for line in lines if line.startswith("sigmoid "))
    assert sigmoid_row.split() == ["sigmoid", "1", "100.0", "1.00", "-", "4", "-"]
    assert "   2  softmax: did not finish within # s" in text
    # histogram: one row per whole score 0..4 (gaps shown), the largest count gets the full bar
    assert "Score distribution: 6 submissions, out of 4 points" in text
    hist = text.split("Score distribution")[1].splitlines()[1:6]
    assert [line.split("|")[0].strip() for line in hist] == ["0", "1", "2", "3", "4"]
    assert [int(line.split()[-1]) for line in hist] == [2, 2, 0, 0, 2]
    assert hist[4] == "  4 | " + "#" * 50 + " 2"
    assert "Flagged: 3 of 6 submissions; 1 rejected, 1 with errors" in text
    assert max(len(line) for line in format_table(analyze(records), width=80).splitlines()) <= 80


def test_table_histogram_on_the_points_grid():
    # scores in steps of 2.5 out of 10: every possible score gets a row, 0 and 10 included
    records = [{"score": s, "max_score": 10.0, "functions": {"f": _fn(s, 10.0, "f: low")}} for s in (2.5, 5.0, 5.0)]
    hist = format_table(analyze(records)).split("Score distribution")[1].splitlines()[1:6]
    assert [(line.split("|")[0].strip(), int(line.split()[-1])) for line in hist] == [
        ("0", 0), ("2.5", 1), ("5", 2), ("7.5", 0), ("10", 0)]


def test_table_histogram_bins_many_scores():
    records = [{"score": s / 4, "max_score": 100.0, "functions": {"f": _fn(s / 4, 100.0, "f: low")}}
               for s in range(0, 400, 3)]
    text = format_table(analyze(records))
    hist = text.split("Score distribution")[1].splitlines()[1:11]
    assert len(hist) == 10 and hist[0].strip().startswith("0-10 |")
    assert sum(int(line.split()[-1]) for line in hist) == len(records)


def test_plot_two_panels_without_pyplot_state(tmp_path):
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    fig = plot(analyze(_records()))
    assert plt.get_fignums() == before  # a bare Figure: nothing left open in pyplot
    ax_items, ax_scores = fig.axes
    # first function at the top
    by_height = sorted(zip(ax_items.get_yticks(), (t.get_text() for t in ax_items.get_yticklabels())), reverse=True)
    assert [name for _, name in by_height] == ["relu", "softmax", "sigmoid"]
    assert [p.get_width() for p in ax_items.patches] == [50.0, 50.0, 100.0]
    assert {t.get_text() for t in ax_items.texts} == {"n=4"}
    assert "max score 4" in [t.get_text() for t in ax_scores.get_legend().get_texts()]
    assert sum(p.get_height() for p in ax_scores.patches) == 6
    assert not list(tmp_path.iterdir())


def test_write_report_files(tmp_path):
    out = tmp_path / "reports" / "new"
    paths = write_report(_records(), out, "a2_relu_softmax", functions=["relu", "softmax", "sigmoid"])
    assert paths == {ext: out / f"a2_relu_softmax-items.{ext}" for ext in ("txt", "csv", "png")}
    image = matplotlib.image.imread(paths["png"])
    assert image.ndim == 3 and image.shape[2] in (3, 4) and image.shape[0] > 200 and image.shape[1] == 1100
    assert image[..., :3].std() > 0  # something was drawn
    text = paths["txt"].read_text()
    assert text.startswith("Item analysis of a2_relu_softmax") and "relu" in text
    with paths["csv"].open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["function"] for r in rows] == ["relu", "softmax", "sigmoid"]
    assert list(rows[0]) == item_analysis.CSV_COLUMNS
    relu, softmax, sigmoid = rows
    assert (relu["n"], relu["n_passed"], relu["pass_rate"], relu["mean_points"]) == ("4", "2", "0.5", "0.5")
    assert float(relu["discrimination"]) == pytest.approx(1.0)
    assert (softmax["failure_1"], softmax["failure_count_1"], softmax["failure_2"]) == (
        "softmax: did not finish within # s", "2", "")
    assert sigmoid["discrimination"] == "" and sigmoid["failure_1"] == ""
