"""A language switch on every page: the same page in the book's other language, offline.

The English site is ``_build/html/``, the Chinese edition ``_build/html/zh_CN/`` (book/i18n.py builds
it with the same sources and ``language: zh_CN``). The switch is a link in the header of each page, next to
the theme's buttons (sphinx-book-theme's ``article_header_end``), to the page of the same name in the other
edition, as a relative path, so it works from a file:// copy of the book. The class edition
(``make book EDITION=class``) is English only and has no switch.
"""
from __future__ import annotations

import os
from os import path as _path
from pathlib import Path

from sphinx import addnodes
from sphinx.locale import init as init_locale
from sphinx.transforms import SphinxTransform
from sphinx.util.i18n import docname_to_domain

TEMPLATES = Path(__file__).with_name("templates")
STATIC = str(Path(__file__).with_name("static"))
SWITCH = "mnistlab-language-switch.html"
EDITION_FOLDER = "zh_CN"


def _is_chinese(config) -> bool:
    return (config.language or "en").replace("-", "_").startswith("zh")


def _add_switch(app, config) -> None:
    config.templates_path = [*config.templates_path, str(TEMPLATES)]
    if STATIC not in config.html_static_path:
        config.html_static_path = [*config.html_static_path, STATIC]
    options = dict(config.html_theme_options or {})
    end = options.get("article_header_end", ["article-header-buttons.html"])
    if isinstance(end, str):
        end = [name.strip() for name in end.split(",") if name.strip()]
    options["article_header_end"] = [SWITCH, *[name for name in end if name != SWITCH]]
    config.html_theme_options = options


def other_language_link(pagename: str, chinese: bool) -> dict:
    """Where the switch of page ``pagename`` leads (``book/01_data`` -> ``../zh_CN/book/01_data.html``).

    Parameters
    ----------
    pagename : str
        Sphinx's docname of the page being written, with ``/`` between folders.
    chinese : bool
        True on a page of the Chinese edition (it links to the English page, one folder up).
    """
    depth = pagename.count("/")
    if chinese:
        return {"href": "../" * (depth + 1) + f"{pagename}.html", "label": "English", "lang": "en",
                "title": "阅读本页的英文版"}
    return {"href": "../" * depth + f"{EDITION_FOLDER}/{pagename}.html", "label": "中文", "lang": "zh-CN",
            "title": "Read this page in Simplified Chinese"}


class TranslateTocCaptions(SphinxTransform):
    """Translate the captions of the table of contents ("Chapters" -> "章节").

    sphinx-external-toc inserts the toctrees (priority 100) after Sphinx's Locale transform (20) has
    translated the page, so their captions stay English although the gettext build extracts them into the
    root page's catalog. This reads the same catalog, the way Locale does.
    """

    default_priority = 101

    def apply(self, **kwargs) -> None:
        toctrees = [node for node in self.document.findall(addnodes.toctree) if node.get("caption")]
        if not toctrees or not self.config.language or self.config.language == "en":
            return
        domain = docname_to_domain(self.env.docname, self.config.gettext_compact)
        dirs = [_path.join(self.env.srcdir, directory) for directory in self.config.locale_dirs]
        catalog, has_catalog = init_locale(dirs, self.config.language, domain)
        if has_catalog:
            for node in toctrees:
                node["caption"] = catalog.gettext(node["caption"])


def _page_context(app, pagename, templatename, context, doctree) -> None:
    # The class edition (MNISTLAB_EDITION=class) is English only: no switch to a page it does not have.
    if os.environ.get("MNISTLAB_EDITION", "reader") == "reader":
        context["mnistlab_other_language"] = other_language_link(pagename, _is_chinese(app.config))


def setup(app):
    app.connect("config-inited", _add_switch)
    app.add_transform(TranslateTocCaptions)
    app.add_css_file("mnistlab_i18n.css")
    app.connect("html-page-context", _page_context)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
