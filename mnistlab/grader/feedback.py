"""What a student's feedback page may show: no line of hidden-test code, not even inside an output.

:class:`ScrubHiddenTestOutputs` is configured in the course's ``nbgrader_config.py``
(``GenerateFeedback.preprocessors``), before nbgrader's ``ClearHiddenTests``.
"""

from __future__ import annotations

import re

from nbgrader.preprocessors import NbGraderPreprocessor

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def strip_ansi(text: str) -> str:
    """``text`` without terminal colour codes."""
    return _ANSI.sub("", text)


def _hidden_lines(source: str) -> list[str]:
    """The hidden region's lines (stripped, non-empty), and the two markers themselves."""
    lines, inside = ["BEGIN HIDDEN TESTS", "END HIDDEN TESTS"], False
    for line in source.split("\n"):
        if "BEGIN HIDDEN TESTS" in line:
            inside = True
        elif "END HIDDEN TESTS" in line:
            inside = False
        elif inside and line.strip():
            lines.append(line.strip())
    return lines


def _scrub(text: str, hidden: list[str]) -> str:
    kept = [line for line in text.split("\n") if not any(h in strip_ansi(line) for h in hidden)]
    return "\n".join(kept)


class ScrubHiddenTestOutputs(NbGraderPreprocessor):
    """Remove lines of hidden-test code that outputs quote (e.g. a traceback's context lines).

    Run before ``ClearHiddenTests`` in ``GenerateFeedback``: ``ClearHiddenTests``
    removes the hidden regions from the cells' code but not from their outputs.
    """

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code" or "BEGIN HIDDEN TESTS" not in cell.source:
            return cell, resources
        hidden = _hidden_lines(cell.source)
        for output in cell.get("outputs", []):
            if output.output_type == "error":
                output.traceback = [_scrub(entry, hidden) for entry in output.traceback]
            elif output.output_type == "stream":
                output.text = _scrub(output.text, hidden)
            else:
                for mime in ("text/plain", "text/html", "text/markdown"):
                    if mime in output.get("data", {}):
                        value = output.data[mime]
                        text = "".join(value) if isinstance(value, list) else value
                        output.data[mime] = _scrub(text, hidden)
        return cell, resources
