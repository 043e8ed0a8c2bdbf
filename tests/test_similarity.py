"""Copy detection (``mnistlab.grader.similarity``): disguised copies are paired, honest solutions are not.

The crafted submissions are in ``tests/similarity_cases.py``. The scores each case gets are printed
(``pytest -s``) and bounded here, so a change of the thresholds shows what it costs.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

from mnistlab.grader import similarity as S
import similarity_cases as c


def score(function, a, b):
    return S.compare(S.normalize(a, function), S.normalize(b, function), S.normalize(c.STARTER[function], function))


@pytest.mark.parametrize("name, copy", [("renamed", c.RENAMED), ("reordered", c.REORDERED)])
def test_a_disguised_copy_scores_as_the_original(name, copy):
    got, tokens, (mine, theirs) = score("cross_entropy", c.ORIGINAL, copy)
    print(f"\ncross_entropy original vs {name}: score {got:.2f}, {tokens} tokens")
    assert got >= 0.95 and tokens >= S.MIN_TOKENS
    assert mine and theirs  # shared lines to mark in the report


def test_the_disguise_is_gone_after_normalization():
    normalized = {S.normalize(code, "cross_entropy").normalized for code in (c.ORIGINAL, c.RENAMED, c.REORDERED)}
    filtered = {S._filtered(n) for n in normalized}
    assert len(filtered) == 1
    assert "#" not in "".join(normalized) and '"""' not in "".join(normalized)


def test_a_copy_of_the_reference_is_reported_as_such():
    report = S.find_similar("a2", {"softmax": {"copier": c.REFERENCE_COPY, "honest": c.HONEST["softmax"]["h_expand"]}},
                            c.STARTER, c.REFERENCE)
    assert [(p.a, p.b) for p in report.pairs] == [("copier", S.REFERENCE)]
    assert report.pairs[0].score >= 0.95
    assert report.similar_to() == {"copier": [S.REFERENCE]}


def test_copies_are_paired_with_each_other():
    report = S.find_similar("a2", {"cross_entropy": {"a": c.ORIGINAL, "b": c.RENAMED, "c": c.REORDERED,
                                                      **c.HONEST["cross_entropy"]}}, c.STARTER, c.REFERENCE)
    assert {(p.a, p.b) for p in report.pairs} == {("a", "b"), ("a", "c"), ("b", "c")}
    assert report.similar_to() == {"a": ["b", "c"], "b": ["a", "c"], "c": ["a", "b"]}
    assert "3 alike" in S.format_summary(report)


@pytest.mark.parametrize("function", list(c.HONEST))
def test_honest_solutions_are_not_paired(function):
    versions = {**c.HONEST[function], S.REFERENCE: c.REFERENCE[function]}
    print()
    worst = 0.0
    for (a, sa), (b, sb) in itertools.combinations(versions.items(), 2):
        got, tokens, _ = score(function, sa, sb)
        sizes = [len(S._filtered(S.normalize(x, function).normalized)) for x in (sa, sb)]
        print(f"{function}: {a} vs {b}: score {got:.2f}, sizes {sizes[0]}/{sizes[1]}")
        if min(sizes) >= S.MIN_TOKENS:
            worst = max(worst, got)
    assert worst < S.MIN_SHARED
    report = S.find_similar("a2", {function: c.HONEST[function]}, c.STARTER, c.REFERENCE)
    assert report.pairs == []


def test_short_functions_are_never_paired():
    same = "def relu(x):\n    return np.maximum(x, 0)\n"
    report = S.find_similar("a2", {"relu": {"a": same, "b": same}}, c.STARTER, c.REFERENCE)
    assert report.sizes["relu"]["a"] < S.MIN_TOKENS and report.pairs == []
    assert "too short" in S.format_summary(report)


def test_starter_code_is_boilerplate():
    """Two stubs handed in unchanged share only the starter code: not a pair."""
    given = "    z = np.asarray(z, dtype=float)\n    scale = np.max(np.abs(z), axis=axis, keepdims=True) + 1.0\n"
    starter = 'def softmax(z, axis=-1):\n    """S."""\n' + given + "    # YOUR CODE HERE\n    raise NotImplementedError()\n"
    a = 'def softmax(z, axis=-1):\n' + given + "    return np.exp(z) / np.exp(z).sum(axis=axis, keepdims=True)\n"
    b = 'def softmax(z, axis=-1):\n' + given + "    m = np.moveaxis(z, axis, 0)\n    return np.moveaxis(m - m.max(0), 0, axis)\n"
    with_plate = S.compare(S.normalize(a, "softmax"), S.normalize(b, "softmax"), S.normalize(starter, "softmax"))[0]
    without = S.compare(S.normalize(a, "softmax"), S.normalize(b, "softmax"))[0]
    assert with_plate < without


def test_a_method_is_taken_out_of_its_class_and_unparsable_cells_are_skipped():
    cell = "class TwoLayerNet:\n    def __init__(self):\n        self.p = 1\n\n    def loss(self, x, y=None):\n" \
           "        '''Doc.'''\n        return x  # scores\n"
    code = S.normalize(cell, "TwoLayerNet.loss")
    assert code.normalized == "return x" and code.source.startswith("def loss") and code.lines == [(3,)]
    assert S.normalize("def relu(x:\n", "relu") is None
    assert S.normalize("x = 1\n", "relu") is None
    assert "TwoLayerNet.loss" in S.reference_sources("a4_backprop")


def test_the_html_report_shows_both_versions_marked(tmp_path):
    report = S.find_similar("a2", {"cross_entropy": {"alice": c.ORIGINAL, "bob": c.RENAMED}}, c.STARTER, c.REFERENCE)
    page = S.write_html(report, tmp_path / "a2-similarity.html").read_text()
    assert "alice" in page and "bob" in page and "<mark style=" in page
    assert "biggest" in page and "lse" in page  # both versions, as written
    # clauses marked, comments not
    assert re.search(r"<mark[^>]*>    else:</mark>", page) and not re.search(r"<mark[^>]*>    # max trick", page)
    assert "http" not in page.replace("http-equiv", "")  # self-contained


def test_the_similarity_command_on_a_course(tmp_path, capsys):
    """``mnistlab similarity``: submitted notebooks in, summary and HTML out; an unreadable one is skipped."""
    import shutil

    import nbformat

    from mnistlab import cli

    a = "a2_relu_softmax"
    source = Path(__file__).resolve().parents[1] / "assignments" / "source" / a / f"{a}.ipynb"
    (tmp_path / "nbgrader_config.py").write_text("")
    shutil.copytree(source.parent, tmp_path / "source" / a)
    handed_in = {"alice": {"cross_entropy": c.ORIGINAL, "softmax": c.HONEST["softmax"]["h_expand"]},
                 "bob": {"cross_entropy": c.RENAMED, "softmax": c.REFERENCE_COPY},
                 "carol": {"cross_entropy": c.HONEST["cross_entropy"]["h_loop"], "softmax": c.HONEST["softmax"]["h_apply"]}}
    for student, cells in handed_in.items():
        nb = nbformat.read(source, as_version=4)
        for cell in nb.cells:
            gid = cell.metadata.get("nbgrader", {}).get("grade_id")
            if gid in cells:
                cell.source = cells[gid]
        folder = tmp_path / "submitted" / student / a
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / f"{a}.ipynb")
    (tmp_path / "submitted" / "dave" / a).mkdir(parents=True)
    (tmp_path / "submitted" / "dave" / a / f"{a}.ipynb").write_text("not json")
    assert cli.main(["similarity", a, "--course", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "softmax: 1 match the reference: bob" in out
    assert "cross_entropy: 2 alike" in out and "alice, bob" in out
    assert "not compared: dave" in out
    page = (tmp_path / "grades" / f"{a}-similarity.html").read_text()
    assert "biggest" in page and "<mark style=" in page


def test_scores_do_not_depend_on_the_process():
    """copydetect hashes k-grams with Python's salted ``hash``; with a window of 1 the scores do not depend on it."""
    import os
    import subprocess
    import sys

    script = ("import similarity_cases as c\nfrom mnistlab.grader import similarity as S\n"
              "r = S.find_similar('a2', {'softmax': {**c.HONEST['softmax'], 'copier': c.REFERENCE_COPY}}, "
              "c.STARTER, c.REFERENCE, min_tokens=0, min_shared=0.0)\n"
              "print(sorted((p.a, p.b, round(p.score, 6)) for p in r.pairs))\n")
    here = Path(__file__).resolve().parent
    runs = {subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=here,
                           env={**os.environ, "PYTHONHASHSEED": seed,
                                "PYTHONPATH": os.pathsep.join([str(here.parent), str(here)])}).stdout
            for seed in ("1", "2", "3")}
    assert len(runs) == 1 and "copier" in runs.pop()
