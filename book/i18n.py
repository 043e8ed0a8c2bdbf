"""The book in other languages: the Simplified Chinese edition, built from the English sources.

The English chapters are the only source of text, code and structure. A translation is a set of gettext
catalogs, ``book/locale/<lang>/LC_MESSAGES/book/<page>.po``, one per page, read by Sphinx's
internationalization when the book is built with ``language: <lang>``; the overrides of the book's
configuration that are text (title, author line, footer) are in ``book/locale/<lang>/_config.yml``.

Used by the Makefile (``make book``, ``make translations``) and by the tests, so the commands exist once::

    python book/i18n.py build zh_CN        # the Chinese edition into _build/html/zh_CN (after the English)
    python book/i18n.py update zh_CN       # extract the English messages, update the catalogs

Facts this module relies on (Jupyter Book 1.0, Sphinx 7.4, myst-nb 1.4):

- ``jupyter-book build --config`` resolves ``local_extensions`` paths against the config file's folder,
  so the derived configuration (written under ``_build/``) makes them absolute.
- The execution cache is shared only when its path is given explicitly: both languages execute each
  chapter once, into ``_build/.jupyter_cache``, and show the same numbers and figures.
- The edition is built in ``_build/<lang>/`` and then copied into ``_build/html/<lang>/``: building it
  in place would put myst-nb's ``jupyter_execute`` folder inside the English site.
- A translated paragraph is parsed apart from its page, without the page's glue data, so a
  ``{glue:text}`key:fmt``` in a translation renders empty: translations write ``01_data.md::key:fmt``
  (the page-qualified form myst-nb resolves after parsing). tests/test_translations.py checks it.
- The gettext and HTML builds share their doctrees, so the extraction builds ``--all``, into its own
  folder, with nothing executed (outputs carry no translatable prose).
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "_build"
LOCALE = ROOT / "book" / "locale"
EXECUTION_CACHE = BUILD / ".jupyter_cache"
LANGUAGES = ("zh_CN",)


def toc_pages() -> list[str]:
    """Docnames of every page of _toc.yml, in order (``book/00_introduction``, ``book/01_data`` ...)."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    pages = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                pages.append(entry["file"])
            walk(entry.get("sections"))
            walk(entry.get("chapters"))

    walk(toc.get("chapters"))
    for part in toc.get("parts") or []:
        walk(part.get("chapters"))
    return [re.sub(r"\.(md|ipynb)$", "", p) for p in pages]


def glossary() -> list[tuple[str, str, str]]:
    """The rows of book/glossary.md: (English term, Chinese term, docname of the page that introduces it)."""
    rows = []
    for line in (ROOT / "book" / "glossary.md").read_text(encoding="utf-8").splitlines():
        m = re.fullmatch(r"\|\s*([^|]+?)\s*\|\s*([^|]+?)\s*\|\s*\{doc\}`([^`]+)`\s*\|", line.strip())
        if m:
            rows.append((m.group(1), m.group(2), m.group(3)))
    return rows


def write_search_dictionary(dest: Path) -> Path:
    """Write the glossary's Chinese terms as a jieba user dictionary, for the Chinese search index.

    Sphinx splits Chinese text into words with jieba; without the terms it cuts 反向传播 into 反向 and
    传播, and a search for the term (the browser does not split queries) finds nothing. With them, each
    term is indexed whole as well as in parts.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text("".join(f"{chinese} 10 n\n" for _, chinese, _ in glossary()), encoding="utf-8")
    return dest


def _deep_update(base: dict, overrides: dict) -> dict:
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _deep_update(base[key], value)
        else:
            base[key] = value
    return base


def derived_config(language: str | None, dest: Path, *, execute: bool = True) -> Path:
    """Write the book's configuration for one language build and return its path.

    Parameters
    ----------
    language : str or None
        ``"zh_CN"``, or None for the English text (used by the extraction).
    dest : pathlib.Path
        Where to write the YAML file.
    execute : bool
        False: execute nothing (the extraction of messages needs no outputs).
    """
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    sphinx = config.setdefault("sphinx", {})
    sphinx["local_extensions"] = {name: str(ROOT / path) for name, path in sphinx.get("local_extensions", {}).items()}
    sphinx_config = sphinx.setdefault("config", {})
    sphinx_config["locale_dirs"] = [str(LOCALE)]
    config["execute"]["cache"] = str(EXECUTION_CACHE)
    if not execute:
        config["execute"]["execute_notebooks"] = "off"
    if language:
        overrides = LOCALE / language / "_config.yml"
        if not overrides.is_file():
            raise FileNotFoundError(f"no {overrides.relative_to(ROOT)}: the {language} edition's title, author "
                                    "line and footer are read from it")
        _deep_update(config, yaml.safe_load(overrides.read_text(encoding="utf-8")) or {})
        sphinx_config["language"] = language
        if language.startswith("zh"):
            search_terms = write_search_dictionary(dest.parent / "search-terms.txt")
            sphinx_config["html_search_options"] = {"dict": str(search_terms)}
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return dest


def _jupyter_book() -> str:
    exe = Path(sys.executable).with_name("jupyter-book")
    return str(exe) if exe.exists() else (shutil.which("jupyter-book") or "jupyter-book")


def build_command(language: str, out: Path, config: Path) -> list[str]:
    """The strict build of one language edition (the same flags as the English one in the Makefile)."""
    return [_jupyter_book(), "build", "--all", "-W", "-n", "--keep-going", "--config", str(config),
            "--path-output", str(out), str(ROOT)]


def build(language: str, *, env: dict | None = None, timeout: float | None = None,
          log=print) -> subprocess.CompletedProcess:
    """Build one language edition strictly and copy it into ``_build/html/<language>/``.

    Parameters
    ----------
    language : str
        ``"zh_CN"``.
    env : dict, optional
        The build's environment (default: this process's).
    timeout : float, optional
        Seconds before the build is stopped (``subprocess.TimeoutExpired``).

    Returns
    -------
    subprocess.CompletedProcess
        The finished build (stdout and stderr together in ``stdout``). The edition is copied only when
        the build succeeded.
    """
    out = BUILD / language
    config = derived_config(language, out / "_config.yml")
    proc = subprocess.run(build_command(language, out, config), cwd=ROOT, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=timeout)
    if proc.returncode == 0:
        target = BUILD / "html" / language
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(out / "_build" / "html", target)
        log(f"The {language} edition is in {target.relative_to(ROOT)}/index.html.")
    return proc


def extract_messages(workdir: Path) -> dict[str, set[str]]:
    """The translatable messages of the current English sources, by page (``01_data``: {msgid, ...}).

    Runs Sphinx's gettext builder (nothing executed) into ``workdir``; ``make translations`` and the
    test that the catalogs are current use it.
    """
    import polib

    pot_dir = extract_templates(workdir)
    return {pot.stem: {e.msgid for e in polib.pofile(str(pot))} for pot in (pot_dir / "book").glob("*.pot")}


def extract_templates(workdir: Path) -> Path:
    """Write the message templates (``.pot``) of every page into ``workdir/_build/gettext``; return it."""
    config = derived_config(None, workdir / "_config.yml", execute=False)
    cmd = [_jupyter_book(), "build", "--all", "--builder", "custom", "--custom-builder", "gettext",
           "--config", str(config), "--path-output", str(workdir), str(ROOT)]
    proc = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"the gettext extraction failed (exit {proc.returncode}):\n{proc.stdout[-3000:]}")
    return workdir / "_build" / "gettext"


def update(language: str) -> None:
    """Extract the English messages and update ``language``'s catalogs (sphinx-intl), keeping translations.

    A changed English paragraph becomes a fuzzy entry with the old translation as a starting point;
    tests/test_translations.py fails until it is translated again and the flag removed.
    """
    work = BUILD / "gettext-work"
    shutil.rmtree(work, ignore_errors=True)
    pot_dir = extract_templates(work)
    intl = Path(sys.executable).with_name("sphinx-intl")
    subprocess.run([str(intl if intl.exists() else "sphinx-intl"), "update", "-p", str(pot_dir), "-l", language,
                    "-d", str(LOCALE), "-w", "0"], check=True)
    import polib

    for po_path in (LOCALE / language / "LC_MESSAGES").rglob("*.po"):
        catalog = polib.pofile(str(po_path), wrapwidth=0)
        catalog.metadata["Project-Id-Version"] = "mnistlab"
        catalog.header = "The mnistlab book, Simplified Chinese edition: messages of one page."
        # The header entry is not a translation: sphinx-intl marks it fuzzy at creation.
        catalog.metadata_is_fuzzy = False
        # A paragraph gone from the English takes its translation with it (a changed one is kept, fuzzy).
        for entry in catalog.obsolete_entries():
            catalog.remove(entry)
        catalog.save()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["build", "update", "config"])
    parser.add_argument("language", choices=LANGUAGES)
    args = parser.parse_args(argv)
    os.chdir(ROOT)
    if args.action == "build":
        proc = build(args.language)
        sys.stdout.write(proc.stdout)
        return proc.returncode
    if args.action == "update":
        update(args.language)
        return 0
    print(derived_config(args.language, BUILD / args.language / "_config.yml"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
