"""The Chinese edition's catalogs: complete, current, and faithful to what must not be translated.

The English chapters are the only source; the Chinese text lives in gettext catalogs,
``book/locale/zh_CN/LC_MESSAGES/book/<page>.po`` (``make translations`` extracts and updates them).
These tests read the catalogs with polib and fail, naming the page and the paragraph, when

- a message has no translation, is fuzzy, or is left over from an older English text;
- the catalogs are not the ones the current English sources produce (an English paragraph changed
  without its translation): the extraction is a real gettext build, with nothing executed;
- a role or reference (``{doc}``, ``{ref}``, ``{eq}``, ``{numref}``, ``{glue:text}`` ...), an inline
  code span or inline math differs between a message and its translation;
- ``msgfmt --check-format`` refuses a catalog;
- a glossary term is translated by another word than the glossary's (book/glossary.md).

Run one page while translating: ``pytest tests/test_translations.py -k 03_numerical``.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import polib
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "book"))
import i18n  # noqa: E402  (book/i18n.py: the language builds' configuration)

CATALOGS = ROOT / "book" / "locale" / "zh_CN" / "LC_MESSAGES" / "book"
PAGES = sorted(p.stem for p in CATALOGS.glob("*.po"))

# {role}`target`, a code span `x` (not part of a role), $inline math$ (not $$), and the targets of
# Markdown links [text](target): none of them may change in translation.
ROLE = re.compile(r"\{[a-z]+(?::[a-z]+)?\}`[^`]*`")
CODE = re.compile(r"(?<![}`])`[^`]+`")
MATH = re.compile(r"(?<!\$)\$[^$\n]+\$(?!\$)")
LINK_TARGET = re.compile(r"\]\(([^)\s]+)\)")


def _catalog(page: str) -> polib.POFile:
    return polib.pofile(str(CATALOGS / f"{page}.po"))


def _snippet(text: str, width: int = 90) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."


def untranslatable_parts(text: str, page: str) -> Counter:
    """The parts of a message that a translation must keep exactly.

    Parameters
    ----------
    text : str
        A msgid or a msgstr.
    page : str
        The page the message belongs to (``01_data``): a translation writes a ``{glue:text}`` key of
        its own page as ``01_data.md::key``, since the translated paragraph is parsed apart from the
        page's glue data (book/i18n.py explains); the two spellings count as the same part.

    Returns
    -------
    collections.Counter
        Each role, code span, inline formula and link target with the number of times it occurs.
    """
    text = text.replace(f"{{glue:text}}`{page}.md::", "{glue:text}`")
    roles = ROLE.findall(text)
    rest = ROLE.sub(" ", text)
    return Counter(roles + CODE.findall(rest) + MATH.findall(rest) + LINK_TARGET.findall(rest))


def test_no_compiled_catalog_is_tracked():
    # Sphinx compiles each .po into a .mo when the .po is newer: a tracked .mo, newer in a fresh clone,
    # would make the Chinese build show an old translation (or English).
    tracked = subprocess.run(["git", "ls-files", "*.mo"], cwd=ROOT, capture_output=True, text=True).stdout.split()
    assert not tracked, f"compiled catalogs in git (remove them, .gitignore has *.mo): {tracked}"


def test_every_page_of_the_book_has_a_catalog():
    assert set(PAGES) == {Path(p).stem for p in i18n.toc_pages()}, (
        "book/locale/zh_CN/LC_MESSAGES/book/ must have one catalog per page of _toc.yml: "
        "run `make translations`")


@pytest.mark.parametrize("page", PAGES)
def test_every_message_is_translated(page):
    catalog = _catalog(page)
    problems = [f"untranslated: {_snippet(e.msgid)}" for e in catalog if not e.msgstr and not e.obsolete]
    problems += [f"fuzzy (the English changed; check and clear the flag): {_snippet(e.msgid)}"
                 for e in catalog if "fuzzy" in e.flags and not e.obsolete]
    problems += [f"obsolete (no longer in the English text; delete it): {_snippet(e.msgid)}"
                 for e in catalog.obsolete_entries()]
    assert not problems, f"{page}.po:\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("page", PAGES)
def test_roles_code_and_math_survive_translation(page):
    problems = []
    for entry in _catalog(page):
        if not entry.msgstr:
            continue
        want = untranslatable_parts(entry.msgid, page)
        got = untranslatable_parts(entry.msgstr, page)
        if want != got:
            missing = sorted((want - got).elements())
            extra = sorted((got - want).elements())
            problems.append(f"{_snippet(entry.msgid)}\n    missing {missing}, not in the English {extra}")
    assert not problems, f"{page}.po:\n  " + "\n  ".join(problems)


def test_glue_keys_of_a_translation_are_page_qualified():
    # A translated {glue:text}`key:fmt` renders empty (with a warning) in the Chinese build: the
    # translation must name its page, {glue:text}`01_data.md::key:fmt`.
    # myst-nb reads `page.md::key:fmt` only with the format, so the English gives every key one.
    bare = re.compile(r"\{glue:text\}`(?![\w/.-]+\.md::)[^`]*`")
    unformatted = re.compile(r"\{glue:text\}`[^`:]+`")
    problems = [f"{page}.po: {_snippet(e.msgstr)}" for page in PAGES for e in _catalog(page)
                if bare.search(e.msgstr)]
    problems += [f"book/{page}.md: {m.group(0)} has no format (write key:g, key:.3f ...)" for page in PAGES
                 for m in unformatted.finditer((ROOT / "book" / f"{page}.md").read_text(encoding="utf-8"))]
    assert not problems, "glue keys without their page:\n  " + "\n  ".join(problems)


def test_no_translation_starts_like_a_markdown_block():
    # A translation is parsed as Markdown on its own: a heading "3. 收集" would become a list and Sphinx
    # would silently keep the English heading. (A message never includes its own list marker.)
    block = re.compile(r"^(?:\d+[.)]|[-*+]|#+|>)\s")
    problems = [f"{page}.po: {_snippet(e.msgstr)} (escape it: 3\\. ...)" for page in PAGES for e in _catalog(page)
                if block.match(e.msgstr)]
    assert not problems, "translations that Markdown reads as a list, heading or quote:\n  " + "\n  ".join(problems)


@pytest.mark.skipif(shutil.which("msgfmt") is None, reason="GNU gettext's msgfmt is not installed")
@pytest.mark.parametrize("page", PAGES)
def test_msgfmt_accepts_the_catalog(page, tmp_path):
    run = subprocess.run(["msgfmt", "--check-format", "--statistics", "-o", str(tmp_path / "out.mo"),
                          str(CATALOGS / f"{page}.po")], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "untranslated" not in run.stderr and "fuzzy" not in run.stderr, run.stderr


def test_the_glossary_has_its_terms():
    rows = i18n.glossary()
    assert len(rows) >= 25 and all(re.search(r"[\u4e00-\u9fff]", zh) for _, zh, _ in rows), rows


def _prose(text: str) -> str:
    """A message without its roles, code spans, math and link targets (where terms are not prose)."""
    for pattern in (ROLE, CODE, MATH, LINK_TARGET):
        text = pattern.sub(" ", text)
    return text


@pytest.mark.parametrize("english,chinese,page", i18n.glossary(), ids=lambda v: v if " " not in v else None)
def test_chapters_use_the_glossary_term(english, chinese, page):
    introduced = [e for e in _catalog(page) if chinese in e.msgstr]
    assert introduced, f"{page}.po never uses {chinese!r} ({english}), the page the glossary names"
    word = re.compile(rf"\b{re.escape(english)}(?:s|es)?\b", re.IGNORECASE)
    problems = [f"{p}.po: {_snippet(e.msgid)}\n    -> {_snippet(e.msgstr)}"
                for p in PAGES if p != "glossary" for e in _catalog(p)
                if e.msgstr and word.search(_prose(e.msgid)) and chinese not in e.msgstr]
    assert not problems, f"{english!r} is {chinese!r} in the glossary, but not in:\n  " + "\n  ".join(problems)


@pytest.mark.slow
def test_catalogs_are_those_of_the_current_english_text(tmp_path):
    """An English paragraph changed, added or removed without its catalog being updated fails here."""
    extracted = i18n.extract_messages(tmp_path)
    problems = []
    for page in sorted(set(extracted) | set(PAGES)):
        want = extracted.get(page, set())
        have = {e.msgid for e in _catalog(page)} if page in PAGES else set()
        problems += [f"{page}: new or changed English, not in the catalog: {_snippet(m)}" for m in sorted(want - have)]
        problems += [f"{page}: in the catalog, no longer in the English: {_snippet(m)}" for m in sorted(have - want)]
    assert not problems, "run `make translations`, then translate:\n  " + "\n  ".join(problems)
