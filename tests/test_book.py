"""The book: it builds strictly, and its pages read correctly in a real browser with no network.

1. ``test_book_builds_strictly``: ``jupyter-book build --all -W -n --keep-going .`` from the repo
   root (execution cached in ``_build/.jupyter_cache``, so an unchanged book rebuilds in seconds).
   Any warning, broken reference or failing cell fails it, and the message names the notebooks
   that failed, with the failing cell's error.
2. ``test_built_html_names_no_network_resource``: no built page loads a script, stylesheet, image
   or font from the network (MathJax is served from ``_build/html/_static/mathjax``).
3. ``test_page_reads_offline[...]``, one per page of ``_toc.yml``: Debian's headless Chromium
   (``/usr/bin/chromium``, driven by Playwright) opens the built page from ``file://`` with
   networking off, every non-``file://`` request blocked *and* recorded (any attempt fails the
   test); it checks that every image loaded, that every formula was typeset by MathJax and no raw
   ``$...$``/``\\(``/``\\[`` is left, that no error, traceback or stderr output is shown, and
   saves a full-page screenshot to ``_build/screenshots/<page>.png`` for a person to look at.

4. The class edition (``make html EDITION=class``, after the reader build: it executes nothing, its
   execution cache is the reader's) builds strictly into ``_build/html-class``, and the browser test
   runs on its pages too (screenshots in ``_build/screenshots/class/``). In both editions no code
   block, output or table is wider than the text column.
4a. The Chinese edition (``make book`` builds it after the English one, with book/i18n.py, from the same
   execution cache) builds strictly into ``_build/html/zh_CN`` without executing anything, shows the same
   executed outputs as the English pages, and the browser test runs on its pages too (screenshots in
   ``_build/screenshots/zh_CN/``), checking in addition that Chinese text is drawn with a CJK font, that
   no prose block is left in English, and that the language switch leads to the English page; a search
   for 反向传播 finds the backpropagation chapter. (The catalogs themselves: tests/test_translations.py.)
5. The listings: every graded function's reference body (its tokens, without docstring, comments
   or layout, so a reformatted copy counts) appears in the code blocks of the reader edition and in
   none of the class edition, which shows every graded function's signature instead; outside the
   graded listings the two editions' pages are the same HTML.

The browser test never skips: without Playwright or Chromium it fails, saying how to install them
(``make system-deps`` installs Debian's chromium; Playwright is in requirements.lock).
"""

from __future__ import annotations

import ast
import importlib
import inspect
import io
import os
import pkgutil
import re
import shutil
import subprocess
import sys
import textwrap
import time
import tokenize
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "book"))
import i18n  # noqa: E402  (book/i18n.py: the Chinese edition's build, and the pages of _toc.yml)
BUILD = ROOT / "_build"
HTML = BUILD / "html"
HTML_CLASS = BUILD / "html-class"
SCREENSHOTS = BUILD / "screenshots"
HTML_ZH = HTML / "zh_CN"
#: Where each edition's HTML is (``make book``, which builds the Chinese one too, and
#: ``make book EDITION=class``).
EDITION_HTML = {"reader": HTML, "class": HTML_CLASS, "zh_CN": HTML_ZH}
# One BLAS thread for the chapters' kernels, as `make book` does: on a busy 2-core machine a
# 2-thread OpenBLAS slows down ~6x under contention, and the build must stay under 10 minutes.
BOOK_BUILD_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
BUILD_TIMEOUT_S = 20 * 60
#: An unchanged rebuild only renders (no execution): seconds, with a wide margin for a busy machine.
CACHED_REBUILD_LIMIT_S = 120
#: Chapters that teach with executed demonstrations: each must show at least one figure.
FIGURE_PAGES_PREFIXES = ("01_", "02_", "03_", "04_", "05_", "06_")
#: Chapters with an assignment: each must link its student notebook for download.
ASSIGNMENT_PAGES_PREFIXES = ("01_", "02_", "03_", "04_", "05_")

pytestmark = pytest.mark.slow

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# "<path>.md: WARNING: ..." or "<path>.md:12: ERROR: ..." (Sphinx's location prefix).
_LOCATED = re.compile(r"^(?P<path>/\S+?\.(?:md|ipynb|rst))(?::\d*)?:?\s*(?P<level>WARNING|ERROR|CRITICAL|SEVERE)\b:?\s*(?P<msg>.*)$")
_EXEC_ERROR = re.compile(r"ExecutionError:\s*(?P<path>/\S+?\.(?:md|ipynb))")


PAGES = i18n.toc_pages()  # docnames of every page in _toc.yml, in order (``book/01_data`` ...)


# --------------------------------------------------------------------------------------------
# 1. The strict build
# --------------------------------------------------------------------------------------------


def _jupyter_book() -> list[str]:
    exe = Path(sys.executable).with_name("jupyter-book")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("jupyter-book")
    if found:
        return [found]
    pytest.fail("jupyter-book is not installed in this environment: run `make install`")


def _failing_notebooks(log: str) -> dict[str, list[str]]:
    """Map each source file the log blames to its messages (warnings, errors, failed cells)."""
    blamed: dict[str, list[str]] = {}
    lines = log.splitlines()
    for i, line in enumerate(lines):
        m = _LOCATED.match(line)
        if m:
            rel = os.path.relpath(m["path"], ROOT)
            msg = m["msg"].strip()
            if msg.startswith("Executing notebook failed"):
                # The cell's error follows the message (show_tb: true): keep its last lines.
                tail = [l for l in lines[i + 1 : i + 80] if l.strip()]
                err = [l.split("  ")[0] if "Traceback" in l else l.strip() for l in tail
                       if re.match(r"^[A-Z]\w*(Error|Exception)\b(?! occurred)", l.strip())]
                cell = []
                after = "\n".join(lines[i + 1 : i + 120])
                marker = "An error occurred while executing the following cell:"
                if marker in after:
                    start = after.index(marker)
                    cell = after[start:start + 1500].splitlines()[1:14]
                msg = "a cell failed: " + (" | ".join(dict.fromkeys(err)) or msg)
                if cell:
                    msg += "\n      " + "\n      ".join(cell)
            blamed.setdefault(rel, []).append(msg)
        m = _EXEC_ERROR.search(line)
        if m:
            rel = os.path.relpath(m["path"], ROOT)
            msgs = blamed.setdefault(rel, [])
            if not any(msg.startswith("a cell failed") for msg in msgs):
                msgs.append("execution failed (see the cell error above)")
    # --keep-going without raise_on_error writes one report per failed notebook.
    for report in sorted((HTML / "reports").rglob("*.err.log")) if (HTML / "reports").exists() else []:
        rel = str(report.relative_to(HTML / "reports")).removesuffix(".err.log")
        blamed.setdefault(rel, []).append(f"see {report.relative_to(ROOT)}: "
                                          + report.read_text(errors="replace").strip()[-600:])
    return blamed


_DOWNLOAD = re.compile(r"\{download\}`[^`<]*<([^>`]+)>`")


def _missing_downloads() -> list[Path]:
    """Files the chapters link with {download} that do not exist (e.g. unreleased assignments)."""
    missing = []
    for page in PAGES:
        src = ROOT / f"{page}.md"
        if src.exists():
            for target in _DOWNLOAD.findall(src.read_text()):
                path = (src.parent / target).resolve()
                if not path.exists():
                    missing.append(path)
    return missing


def _timed_build(run, log_name: str, **env_extra) -> tuple[int, str, float]:
    """``run(env)`` (a build, returning its CompletedProcess) timed; its log saved as ``_build/<log_name>``."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", NO_COLOR="1", **env_extra)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")  # the venv's kernels
    start = time.perf_counter()
    try:
        proc = run(env)
    except subprocess.TimeoutExpired as exc:
        out = exc.output.decode(errors="replace") if isinstance(exc.output, bytes) else (exc.output or "")
        pytest.fail(f"the build ({log_name}) did not finish in {BUILD_TIMEOUT_S} s:\n{_ANSI.sub('', out)[-3000:]}")
    seconds = time.perf_counter() - start
    log = _ANSI.sub("", proc.stdout)
    BUILD.mkdir(exist_ok=True)
    (BUILD / log_name).write_text(log)
    return proc.returncode, log, seconds


def _command(cmd: list[str]):
    """A build for :func:`_timed_build`: ``cmd`` run in the checkout, its output captured."""
    return lambda env: subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      text=True, timeout=BUILD_TIMEOUT_S)


def _executed_notebooks(log: str) -> list[str]:
    """The pages a build's log says it executed (none, for a build that uses the cache)."""
    return sorted({os.path.relpath(m.group(1), ROOT) for m in
                   re.finditer(r"^(/\S+?\.md): Executing notebook", log, re.MULTILINE)})


@pytest.fixture(scope="session")
def book_build():
    """Build the book once per session, strictly; return (returncode, log, seconds)."""
    if _missing_downloads() and (ROOT / "Makefile").exists() and shutil.which("make"):
        # The chapters link the released (student) notebooks, which `make release` writes to
        # assignments/release/; `make book` depends on it, a bare pytest run may not have run it.
        subprocess.run(["make", "release"], cwd=ROOT, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=BUILD_TIMEOUT_S)
    cmd = _jupyter_book() + ["build", "--all", "-W", "-n", "--keep-going", "."]
    shutil.rmtree(HTML / "reports", ignore_errors=True)  # stale execution reports would mislead
    return _timed_build(_command(cmd), "book-build.log", **BOOK_BUILD_ENV)


def test_book_builds_strictly(book_build):
    returncode, log, seconds = book_build
    if returncode == 0:
        return
    blamed = _failing_notebooks(log)
    missing = _missing_downloads()
    hint = (f"\nlinked files that do not exist (released assignments? `make release`): "
            f"{[str(p.relative_to(ROOT)) for p in missing]}" if missing else "")
    if blamed:
        detail = "\n".join(f"  {src}:\n    " + "\n    ".join(msgs) for src, msgs in blamed.items())
        pytest.fail(f"the strict book build failed (exit {returncode}, {seconds:.0f} s); "
                    f"failing notebooks/pages: {', '.join(blamed)}\n{detail}\n"
                    f"(full log: {(BUILD / 'book-build.log').relative_to(ROOT)}){hint}", pytrace=False)
    pytest.fail(f"the strict book build failed (exit {returncode}), no page was blamed; end of the log:\n"
                f"{log[-4000:]}", pytrace=False)


def test_every_toc_page_was_built(book_build):
    missing = [p for p in PAGES if not (HTML / f"{p}.html").is_file()]
    assert not missing, f"pages in _toc.yml without built HTML: {missing}"


def test_unchanged_rebuild_uses_the_execution_cache(book_build):
    """A second build with nothing changed executes no notebook and takes seconds."""
    returncode, _, _ = book_build
    if returncode != 0:
        pytest.fail("the first build failed (see test_book_builds_strictly)", pytrace=False)
    cmd = _jupyter_book() + ["build", "--all", "-W", "-n", "--keep-going", "."]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=BUILD_TIMEOUT_S)
    seconds = time.perf_counter() - start
    log = _ANSI.sub("", proc.stdout)
    assert proc.returncode == 0, f"the rebuild failed:\n{log[-3000:]}"
    executed = _executed_notebooks(log)
    assert not executed, f"unchanged notebooks were executed again (cache not used): {executed}"
    assert seconds < CACHED_REBUILD_LIMIT_S, f"cached rebuild took {seconds:.0f} s"


@pytest.fixture(scope="session")
def class_build(book_build):
    """Build the class edition once per session (after the reader's); return (returncode, log, seconds)."""
    returncode, _, _ = book_build
    if returncode != 0:
        pytest.fail("the reader edition did not build (see test_book_builds_strictly)", pytrace=False)
    make = shutil.which("make")
    if make is None:
        pytest.fail("the class edition is built by `make html EDITION=class`: install make", pytrace=False)
    bin_dir = Path(_jupyter_book()[0]).parent
    cmd = [make, "--no-print-directory", "html", "EDITION=class", f"BIN={bin_dir}"]
    return _timed_build(_command(cmd), "book-build-class.log")


def test_class_edition_builds_strictly_from_the_readers_cache(class_build):
    returncode, log, seconds = class_build
    assert returncode == 0, (f"`make html EDITION=class` failed (exit {returncode}, {seconds:.0f} s); "
                             f"blamed: {_failing_notebooks(log) or '-'}\nend of the log:\n{log[-3000:]}")
    executed = _executed_notebooks(log)
    assert not executed, f"the class edition executed notebooks the reader build had cached: {executed}"
    missing = [p for p in PAGES if not (HTML_CLASS / f"{p}.html").is_file()]
    assert not missing, f"pages in _toc.yml without class-edition HTML: {missing}"


@pytest.fixture(scope="session")
def zh_build(book_build):
    """Build the Chinese edition once per session (after the English); return (returncode, log, seconds).

    The same command as ``make book`` (book/i18n.py): a strict build from the English execution cache,
    copied into _build/html/zh_CN.
    """
    returncode, _, _ = book_build
    if returncode != 0:
        pytest.fail("the English edition did not build (see test_book_builds_strictly)", pytrace=False)
    returncode, log, seconds = _timed_build(
        lambda env: i18n.build("zh_CN", env=env, timeout=BUILD_TIMEOUT_S, log=lambda *_: None),
        "book-build-zh_CN.log", **BOOK_BUILD_ENV)
    (BUILD / "book-build-times.txt").write_text(
        f"English edition: {book_build[2]:.1f} s\nChinese edition (after it, from its cache): {seconds:.1f} s\n")
    return returncode, log, seconds


def test_chinese_edition_builds_strictly_from_the_english_cache(zh_build):
    returncode, log, seconds = zh_build
    assert returncode == 0, (f"the Chinese edition's strict build failed (exit {returncode}, {seconds:.0f} s); "
                             f"blamed: {_failing_notebooks(log) or '-'}\n(full log: _build/book-build-zh_CN.log)\n"
                             f"end of the log:\n{log[-3000:]}")
    executed = _executed_notebooks(log)
    assert not executed, f"the Chinese edition executed notebooks the English build had cached: {executed}"
    missing = [p for p in PAGES if not (HTML_ZH / f"{p}.html").is_file()]
    assert not missing, f"pages in _toc.yml without a Chinese page: {missing}"


@pytest.fixture(params=sorted(EDITION_HTML), ids=lambda e: e)
def edition_html(request, book_build):
    """(edition, its HTML folder), built."""
    builds = {"class": ("class_build", "test_class_edition_builds_strictly..."),
              "zh_CN": ("zh_build", "test_chinese_edition_builds_strictly...")}
    if request.param in builds:
        fixture, test = builds[request.param]
        returncode, _, _ = request.getfixturevalue(fixture)
        if returncode != 0:
            pytest.fail(f"the {request.param} edition did not build (see {test})", pytrace=False)
    return request.param, EDITION_HTML[request.param]


_REMOTE_REF = re.compile(
    r"<(script|link|img|iframe|source|video|audio)\b[^>]*?\b(src|href)\s*=\s*[\"']\s*(https?:)?//[^\"']*",
    re.IGNORECASE)
_REMOTE_CSS = re.compile(r"url\(\s*[\"']?\s*(https?:)?//[^)\"']*|@import\s+[\"']?\s*(https?:)?//\S*", re.IGNORECASE)


def test_built_html_names_no_network_resource(edition_html):
    _, HTML = edition_html
    assert (HTML / "_static" / "mathjax" / "tex-chtml.js").is_file(), "MathJax is not served from _static"
    offenders = []
    for page in sorted(HTML.rglob("*.html")):
        text = page.read_text(errors="replace")
        offenders += [f"{page.relative_to(HTML)}: {m.group(0)}" for m in _REMOTE_REF.finditer(text)]
        offenders += [f"{page.relative_to(HTML)}: names a CDN" for cdn in ("unpkg.com", "cdn.jsdelivr.net",
                      "cdnjs.cloudflare.com", "fonts.googleapis.com") if cdn in text]
    for css in sorted((HTML / "_static").rglob("*.css")):
        text = css.read_text(errors="replace")
        offenders += [f"{css.relative_to(HTML)}: {m.group(0)}" for m in _REMOTE_CSS.finditer(text)]
    assert not offenders, "built files that would load from the network:\n" + "\n".join(offenders)


# --------------------------------------------------------------------------------------------
# 2. The offline browser test
# --------------------------------------------------------------------------------------------

# Evaluated in the page after it loaded and MathJax finished.
_INSPECT_JS = r"""
async () => {
  const imgs = Array.from(document.images);
  for (const img of imgs) { if (img.loading === 'lazy') img.loading = 'eager'; }
  await Promise.all(imgs.map(img => img.complete ? null :
      new Promise(r => { img.addEventListener('load', r); img.addEventListener('error', r);
                         setTimeout(r, 5000); })));
  const broken = imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.getAttribute('src'));
  const figures = Array.from(document.querySelectorAll(
      'article .cell_output img, article figure img, article img.cell_output')).length;
  const math = Array.from(document.querySelectorAll('article .math'));
  const untypeset = math.filter(m => !m.querySelector('mjx-container')).map(m => m.textContent.slice(0, 80));
  const mjxErrors = Array.from(document.querySelectorAll('mjx-merror, [data-mjx-error]'))
      .map(e => (e.getAttribute('data-mjx-error') || e.textContent).slice(0, 120));
  // Visible prose only: drop code, already-typeset math, scripts and the search UI.
  const article = document.querySelector('article') || document.body;
  const clone = article.cloneNode(true);
  clone.querySelectorAll('pre, code, .highlight, mjx-container, script, style, .math, noscript')
       .forEach(e => e.remove());
  const text = clone.textContent;
  const errorSel = ['.output.stderr', '.output.traceback', '.output.error', '.cell_output .stderr',
                    '.system-message', 'div.error', '.nboutput .stderr', '[data-mime-type="application/vnd.jupyter.stderr"]'];
  const errors = errorSel.flatMap(s => Array.from(document.querySelectorAll('article ' + s)))
      .map(e => e.textContent.trim().slice(0, 200));
  const tracebacks = Array.from(document.querySelectorAll('article .cell_output'))
      .map(e => e.textContent).filter(t => /Traceback \(most recent call last\)/.test(t))
      .map(t => t.trim().slice(0, 200));
  const downloads = Array.from(document.querySelectorAll('article a.download, article a[download]'))
      .map(a => a.href);
  // Display formulas wider than the text column get cut off (or need a sideways scroll).
  const column = article.getBoundingClientRect().right;
  const overflowing = Array.from(document.querySelectorAll('article mjx-container[display="true"]'))
      .filter(m => m.scrollWidth > m.clientWidth + 2 || m.getBoundingClientRect().right > column + 2)
      .map(m => m.textContent.slice(0, 60));
  // Code, outputs and tables: no sideways scroll, and nothing past the text column's right edge.
  const wide = Array.from(document.querySelectorAll('article pre, article .cell_output, article table'))
      .filter(e => e.offsetParent !== null)
      .filter(e => e.scrollWidth > e.clientWidth + 1 || e.getBoundingClientRect().right > column + 1)
      .map(e => `${e.tagName.toLowerCase()} ${e.scrollWidth}px in ${e.clientWidth}px: `
                + e.textContent.trim().slice(0, 60));
  const pageWide = document.documentElement.scrollWidth > document.documentElement.clientWidth + 1;
  const nBlocks = document.querySelectorAll('article pre, article .cell_output, article table').length;
  return {broken, figures, downloads, nImages: imgs.length, nMath: math.length, untypeset, mjxErrors, text,
          overflowing, wide, pageWide, nBlocks,
          errors, tracebacks, title: document.title,
          mathjax: !!(window.MathJax && window.MathJax.version)};
}
"""

# Console errors of the theme itself that do not affect the page: pydata-sphinx-theme reads the
# light/dark choice from localStorage, which is empty for file:// pages.
_BENIGN_CONSOLE = ("Got invalid theme mode",)

# Raw TeX left in the prose: $...$ (not a lone price-like "$"), $$, \( \) \[ \].
_RAW_MATH = re.compile(r"\$\$|\$[^\s$][^$\n]{0,200}?\$|\\\(|\\\)|\\\[|\\\]|\\begin\{")


@pytest.mark.parametrize("page", PAGES)
def test_page_reads_offline(edition_html, browser, page):
    edition, HTML = edition_html
    html_file = HTML / f"{page}.html"
    assert html_file.is_file(), f"{html_file.relative_to(ROOT)} was not built (see test_book_builds_strictly)"
    shots = SCREENSHOTS if edition == "reader" else SCREENSHOTS / edition
    chinese = edition == "zh_CN"
    shots.mkdir(parents=True, exist_ok=True)

    attempted: list[str] = []  # every request that would have needed the network
    context = browser.new_context(offline=True, viewport={"width": 1280, "height": 900},
                                  service_workers="block")
    page_obj = context.new_page()

    def route(r):
        url = r.request.url
        if url.startswith(("file://", "data:", "blob:", "about:")):
            r.continue_()
        else:
            attempted.append(url)
            r.abort("internetdisconnected")

    page_obj.route("**/*", route)
    page_obj.on("request", lambda req: None if req.url.startswith(("file://", "data:", "blob:", "about:"))
                else attempted.append(req.url))
    page_obj.on("websocket", lambda ws: attempted.append(ws.url))
    console_errors: list[str] = []
    page_obj.on("pageerror", lambda exc: console_errors.append(str(exc)))
    page_obj.on("console", lambda msg: console_errors.append(msg.text)
                if msg.type == "error" and not any(b in msg.text for b in _BENIGN_CONSOLE) else None)

    try:
        page_obj.goto(html_file.as_uri(), wait_until="load", timeout=60_000)
        has_math = page_obj.evaluate("() => document.querySelectorAll('article .math').length > 0")
        if has_math:
            page_obj.wait_for_function(
                "() => window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=30_000)
            page_obj.evaluate("() => MathJax.startup.promise")
        page_obj.evaluate("() => document.fonts ? document.fonts.ready.then(() => true) : true")
        result = page_obj.evaluate(_INSPECT_JS)
        if chinese:
            result.update(page_obj.evaluate(_CHINESE_JS))
            result["cjkFonts"] = _fonts_of(page_obj, "[data-mnistlab-cjk]")
        shot = shots / f"{page.replace('/', '__')}.png"
        page_obj.screenshot(path=str(shot), full_page=True)
    finally:
        context.close()

    problems = []
    if attempted:
        problems.append(f"attempted network requests (blocked): {sorted(set(attempted))}")
    if result["broken"]:
        problems.append(f"images that did not load: {result['broken']}")
    if page.split("/")[-1].startswith(FIGURE_PAGES_PREFIXES) and result["figures"] == 0:
        problems.append("no figure: a chapter must show executed figures on the real data")
    notebooks = [u for u in result["downloads"] if u.endswith(".ipynb")]
    if page.split("/")[-1].startswith(ASSIGNMENT_PAGES_PREFIXES) and not notebooks:
        problems.append("no download link to the chapter's assignment notebook")
    dead = [u for u in result["downloads"]
            if not (u.startswith("file://") and Path(unquote(urlparse(u).path)).is_file())]
    if dead:
        problems.append(f"download links to missing files: {dead}")
    if result["nMath"] and not result["mathjax"]:
        problems.append(f"{result['nMath']} formulas but MathJax did not load")
    if result["untypeset"]:
        problems.append(f"formulas MathJax did not render: {result['untypeset'][:5]}")
    if result["mjxErrors"]:
        problems.append(f"MathJax errors: {result['mjxErrors'][:5]}")
    if result["overflowing"]:
        problems.append(f"display formulas wider than the text column (break them into lines): "
                        f"{result['overflowing'][:5]}")
    if result["wide"]:
        problems.append(f"code, output or table wider than the text column (wrap the line, narrow the "
                        f"table): {result['wide'][:5]}")
    if result["pageWide"]:
        problems.append("the page scrolls sideways")
    raw = [m.group(0) for m in _RAW_MATH.finditer(result["text"])]
    if raw:
        problems.append(f"raw TeX left in the text: {raw[:8]}")
    if result["errors"]:
        problems.append(f"error/stderr output shown: {result['errors'][:5]}")
    if result["tracebacks"]:
        problems.append(f"tracebacks shown in outputs: {result['tracebacks'][:3]}")
    if console_errors:
        problems.append(f"JavaScript errors: {console_errors[:5]}")
    if chinese:
        problems += _chinese_problems(result)
    assert not problems, f"{page} (screenshot: {shot.relative_to(ROOT)}):\n  " + "\n  ".join(problems)


# In a page of the Chinese edition: the prose blocks left in English (no CJK character, four or more
# Latin words once code, math, numbers and outputs are taken out; proper names alone stay under
# that), and one element of Chinese prose, marked for the font check.
_CHINESE_JS = r"""
() => {
  const article = document.querySelector('article') || document.body;
  const blocks = Array.from(article.querySelectorAll('p, li, h1, h2, h3, h4, td, th, figcaption, dt, dd, summary'))
      .filter(e => !e.closest('pre, .cell_output, .highlight, .math, mjx-container'))
      .filter(e => !e.querySelector('p, li'));
  const cjk = /[\u4e00-\u9fff]/;
  const english = [];
  let marked = false;
  for (const e of blocks) {
    const clone = e.cloneNode(true);
    clone.querySelectorAll('code, pre, .math, mjx-container, script, style').forEach(c => c.remove());
    const text = clone.textContent.replace(/\s+/g, ' ').trim();
    if (cjk.test(text)) {
      if (!marked && e.tagName === 'P') { e.setAttribute('data-mnistlab-cjk', ''); marked = true; }
      continue;
    }
    const words = text.match(/[A-Za-z][A-Za-z'-]*/g) || [];
    if (words.length >= 4) english.push(text.slice(0, 100));
  }
  const lang = document.documentElement.getAttribute('lang');
  const sw = document.querySelector('a.mnistlab-language-switch');
  return {english, lang, switchHref: sw ? sw.href : null};
}
"""

#: Font families that have the glyphs of Simplified Chinese (Debian's fonts-noto-cjk).
_CJK_FAMILIES = re.compile(r"CJK|Noto Sans SC|Noto Serif SC|WenQuanYi|Source Han", re.IGNORECASE)


def _fonts_of(page_obj, selector: str) -> list[str]:
    """The fonts Chromium actually drew an element's text with (DevTools' CSS.getPlatformFontsForNode)."""
    cdp = page_obj.context.new_cdp_session(page_obj)
    cdp.send("DOM.enable")
    cdp.send("CSS.enable")
    root = cdp.send("DOM.getDocument")["root"]["nodeId"]
    node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
    if not node:
        return []
    fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
    return [f"{f['familyName']} ({f['glyphCount']} glyphs)" for f in fonts]


def _chinese_problems(result: dict) -> list[str]:
    problems = []
    if result["lang"] != "zh-CN":
        problems.append(f"<html lang> is {result['lang']!r}, not 'zh-CN'")
    if result["english"]:
        problems.append(f"prose left in English (translate it in book/locale/zh_CN): {result['english'][:5]}")
    if not result["cjkFonts"]:
        problems.append("no paragraph of Chinese prose on the page")
    elif not any(_CJK_FAMILIES.search(f) for f in result["cjkFonts"]):
        problems.append(f"Chinese text drawn without a CJK font ({result['cjkFonts']}): its characters are "
                        "boxes; install Debian's fonts-noto-cjk (`make system-deps`)")
    target = result["switchHref"]
    if not (target and target.startswith("file://") and Path(unquote(urlparse(target).path)).is_file()):
        problems.append(f"the language switch does not lead to an English page: {target}")
    return problems


def test_language_switch_leads_to_the_same_page_in_the_other_language(zh_build):
    problems = []
    for page in PAGES:
        for here, there in ((HTML, HTML_ZH), (HTML_ZH, HTML)):
            html_file = here / f"{page}.html"
            m = re.search(r'<a class="btn btn-sm mnistlab-language-switch" href="([^"]+)"', html_file.read_text())
            target = (html_file.parent / m.group(1)).resolve() if m else None
            if target != (there / f"{page}.html").resolve():
                problems.append(f"{html_file.relative_to(ROOT)}: switch leads to {target}")
    assert not problems, "\n".join(problems)


def _outputs(html_file: Path) -> list[str]:
    """The executed outputs of a page: each cell output's text and the images it shows."""
    text = html_file.read_text()
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", block)).strip() + " " + " ".join(re.findall(r'src="[^"]*?([^/"]+)"', block))
            for block in re.findall(r'<div class="cell_output docutils container">(.*?)</div>\s*</div>', text, re.S)]


def test_both_languages_show_the_same_executed_numbers_and_figures(zh_build):
    differ = []
    counted = 0
    for page in PAGES:
        english, chinese = _outputs(HTML / f"{page}.html"), _outputs(HTML_ZH / f"{page}.html")
        counted += len(english)
        if english != chinese:
            differ.append(f"{page}: {len(english)} outputs in English, {len(chinese)} in Chinese, first differing: "
                          f"{next((e[:120] for e, c in zip(english, chinese) if e != c), '-')}")
    assert counted > 50 and not differ, f"{counted} outputs compared:\n" + "\n".join(differ)


def test_chinese_search_finds_chinese_words(zh_build, browser):
    # Sphinx splits Chinese into words with jieba (requirements.lock) when it writes the search index.
    context = browser.new_context(offline=True)
    page_obj = context.new_page()
    try:
        page_obj.goto((HTML_ZH / "search.html").as_uri() + "?q=%E5%8F%8D%E5%90%91%E4%BC%A0%E6%92%AD",
                      wait_until="load", timeout=60_000)
        page_obj.wait_for_function(
            "() => document.querySelector('#search-results p.search-summary, #search-results .search-summary')"
            " || document.querySelectorAll('#search-results li').length > 0", timeout=30_000)
        hits = page_obj.evaluate("() => Array.from(document.querySelectorAll('#search-results li a'))"
                                 ".map(a => a.getAttribute('href'))")
    finally:
        context.close()
    assert any("04_backprop" in h for h in hits), f"a search for 反向传播 found {hits}, not the backpropagation chapter"


# --------------------------------------------------------------------------------------------
# 3. The listings: what each edition shows of the graded functions
# --------------------------------------------------------------------------------------------

#: Graded items that are not functions: a5's training run must reach an accuracy bar.
_NOT_FUNCTIONS = {"training_run"}
_SKIPPED_TOKENS = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
                   tokenize.ENCODING, tokenize.ENDMARKER}
_FALLBACK_TOKEN = re.compile(r"""[A-Za-z_]\w*|\d[\w.]*|"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*'|\*\*|//|==|!=|<=|>=|->|\S""")
_CLOSERS = {")", "]", "}"}


def _normalize_string(token: str) -> str:
    """A string literal in one spelling (``'a'`` and ``"a"`` agree); f-strings as written."""
    try:
        return repr(ast.literal_eval(token))
    except (ValueError, SyntaxError):
        return token


def _tokens(code: str) -> list[str]:
    """Python tokens of ``code`` without comments and layout, strings in one spelling, and no
    trailing commas (which a formatter adds or drops); text that is not Python is split by a regex.
    """
    code = textwrap.dedent(code)
    try:
        raw = [(t.type, t.string) for t in tokenize.generate_tokens(io.StringIO(code).readline)
               if t.type not in _SKIPPED_TOKENS]
    except (tokenize.TokenError, IndentationError, SyntaxError):
        code = re.sub(r"#[^\n]*", "", code)
        raw = [(tokenize.STRING if m.group(0)[0] in "\"'" else tokenize.OP, m.group(0))
               for m in _FALLBACK_TOKEN.finditer(code)]
    out = [_normalize_string(text) if kind == tokenize.STRING else text for kind, text in raw]
    return [t for i, t in enumerate(out) if not (t == "," and i + 1 < len(out) and out[i + 1] in _CLOSERS)]


def _teaching_modules() -> list:
    import mnistlab

    names = [m.name for m in pkgutil.iter_modules(mnistlab.__path__) if not m.name.startswith("_")
             and not m.ispkg and m.name not in ("cli", "__main__", "grading", "bench")]
    return [importlib.import_module(f"mnistlab.{name}") for name in names]


def _graded_objects() -> dict[str, object]:
    """``"a2_relu_softmax.relu"`` -> the reference function, found in the teaching library."""
    from mnistlab.checks import GRADED

    found, not_found = {}, set()
    for assignment, names in GRADED.items():
        for name in names:
            hits = []
            for module in _teaching_modules():
                obj = module
                for part in name.split("."):
                    obj = getattr(obj, part, None)
                if callable(obj) and getattr(obj, "__module__", None) == module.__name__:
                    hits.append(obj)
            if hits:
                found[f"{assignment}.{name}"] = hits[0]
            else:
                not_found.add(name)
    assert not_found == _NOT_FUNCTIONS, f"graded names that are no function of the library: {not_found}"
    return found


def _split_source(fn) -> tuple[str, str, ast.FunctionDef]:
    """(signature, body without docstring, node) of a function, from its file."""
    lines, _ = inspect.getsourcelines(fn)
    source = textwrap.dedent("".join(lines))
    node = ast.parse(source).body[0]
    body = node.body[1:] if ast.get_docstring(node) is not None else node.body
    src_lines = source.splitlines()
    signature = "\n".join(src_lines[node.lineno - 1:node.body[0].lineno - 1])
    body_src = "\n".join(src_lines[body[0].lineno - 1:node.end_lineno])
    return signature, body_src, node


def _private_helpers(fn) -> dict[str, object]:
    """The module's private functions that ``fn`` calls, directly or through one another."""
    module = sys.modules[fn.__module__]
    helpers, todo = {}, [fn]
    while todo:
        _, body, _ = _split_source(todo.pop())
        for node in ast.walk(ast.parse(textwrap.dedent(body))):
            if isinstance(node, ast.Name) and node.id.startswith("_") and node.id not in helpers:
                obj = getattr(module, node.id, None)
                if inspect.isfunction(obj) and obj.__module__ == module.__name__:
                    helpers[node.id] = obj
                    todo.append(obj)
    return helpers


def _code_tokens(html_dir: Path) -> dict[str, str]:
    """Every page's code blocks, as one token string per page (blocks kept apart by a separator)."""
    from bs4 import BeautifulSoup

    pages = {}
    for page in PAGES:
        soup = BeautifulSoup((html_dir / f"{page}.html").read_text(encoding="utf-8"), "html.parser")
        article = soup.find("article") or soup
        blocks = [pre.get_text() for pre in article.find_all("pre")]
        pages[page] = "\x00" + "\x00\x01\x00".join("\x00".join(_tokens(b)) for b in blocks) + "\x00"
    return pages


def _where(tokens: list[str], pages: dict[str, str]) -> list[str]:
    needle = "\x00" + "\x00".join(tokens) + "\x00"
    return [page for page, text in pages.items() if needle in text]


def test_token_comparison_catches_a_reformatted_copy():
    """The comparison the edition tests rely on: layout, comments, quotes and trailing commas do not hide a copy."""
    body = 'x = np.asarray(x)\n# keep the dtype\nreturn np.maximum(x, 0)\n'
    copy = 'x = np.asarray(\n    x,\n)  # as array\nreturn np.maximum(x,\n                  0)'
    pages = {"p": "\x00" + "\x00".join(_tokens(copy)) + "\x00"}
    assert _where(_tokens(body), pages) == ["p"]
    assert _tokens("s = 'a'") == _tokens('s = "a"')
    assert _where(_tokens("return np.minimum(x, 0)"), pages) == []


def test_reader_edition_shows_every_graded_body(book_build):
    pages = _code_tokens(HTML)
    absent = [name for name, fn in _graded_objects().items() if not _where(_tokens(_split_source(fn)[1]), pages)]
    assert not absent, f"graded functions whose reference body the reader edition does not show: {absent}"


def test_class_edition_shows_no_graded_body_and_every_signature(class_build):
    returncode, _, _ = class_build
    assert returncode == 0, "the class edition did not build (see test_class_edition_builds_strictly...)"
    pages = _code_tokens(HTML_CLASS)
    shown, no_signature = [], []
    for name, fn in _graded_objects().items():
        signature, body, _ = _split_source(fn)
        for what, obj in [(name, fn)] + [(f"{name} (its helper {h})", o) for h, o in _private_helpers(fn).items()]:
            hits = _where(_tokens(_split_source(obj)[1]), pages)
            if hits:
                shown.append(f"{what}: in {hits}")
        if not _where(_tokens(signature), pages):
            no_signature.append(name)
    assert not shown, "the class edition shows the body of graded functions:\n  " + "\n  ".join(shown)
    assert not no_signature, f"graded functions whose signature the class edition does not show: {no_signature}"
    boxes = sum((HTML_CLASS / f"{p}.html").read_text(encoding="utf-8").count("You write this in assignment")
                for p in PAGES)
    assert boxes >= len(_graded_objects()), f"{boxes} 'You write this' boxes for {len(_graded_objects())} graded functions"


def test_class_edition_differs_only_in_the_graded_listings(class_build):
    """Prose, math, outputs, figures and the listings of ungraded functions: the same HTML in both editions."""
    from bs4 import BeautifulSoup

    returncode, _, _ = class_build
    assert returncode == 0, "the class edition did not build (see test_class_edition_builds_strictly...)"
    differ, hidden = [], 0
    for page in PAGES:
        reader, klass = (BeautifulSoup((d / f"{page}.html").read_text(encoding="utf-8"), "html.parser").find("article")
                         for d in (HTML, HTML_CLASS))
        r_listings, c_listings = reader.select(".mnistlab-listing"), klass.select(".mnistlab-listing")
        if len(r_listings) != len(c_listings):
            differ.append(f"{page}: {len(r_listings)} listings in the reader edition, {len(c_listings)} in the class one")
            continue
        for r, c in zip(r_listings, c_listings):
            if "mnistlab-exercise" in c.get("class", []):
                hidden += 1
            elif str(r) != str(c):
                differ.append(f"{page}: the listing of an ungraded function differs: {r.get_text()[:60]!r}")
        for listing in r_listings + c_listings:
            listing.decompose()
        if str(reader) != str(klass):
            differ.append(f"{page}: the page outside the listings differs")
    assert not differ, "the editions differ where they must not:\n  " + "\n  ".join(differ)
    assert hidden >= len(_graded_objects()), f"only {hidden} listings are hidden in the class edition"
