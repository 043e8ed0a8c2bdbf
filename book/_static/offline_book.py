"""Sphinx extension: keep the built book free of network references.

Loaded by ``_config.yml`` (``sphinx: local_extensions``). Jupyter Book always loads
``sphinx_thebe``, which adds to every page an inline script naming a CDN URL (thebe's bundle on
unpkg.com, fetched only if a reader presses a "live code" button, which this book does not have)
plus its JavaScript/CSS and a JSON config block. None of it is used here, so this extension
removes it, and then checks every built page: a ``<script src>``, ``<link href>``, ``<img src>``,
``<iframe src>`` or CSS ``url()`` that points to ``http(s)://`` or ``//`` fails the build with the
page's name. MathJax itself is served from ``_static/mathjax`` by ``sphinx-mathjax-offline``.
"""

from __future__ import annotations

import re
from pathlib import Path

from docutils import nodes
from sphinx.errors import ExtensionError

_THEBE_MARKERS = ("thebe",)
_REMOTE_ATTR = re.compile(
    r"<(script|link|img|iframe|source|video|audio)\b[^>]*?\b(src|href)\s*=\s*[\"']\s*(https?:)?//",
    re.IGNORECASE,
)
_REMOTE_CSS = re.compile(r"url\(\s*[\"']?\s*(https?:)?//|@import\s+[\"']?\s*(https?:)?//", re.IGNORECASE)


def _is_thebe_asset(asset) -> bool:
    filename = str(getattr(asset, "filename", "") or "")
    body = str(getattr(asset, "attributes", {}).get("body", "") or "")
    return any(m in filename for m in _THEBE_MARKERS) or "THEBE_JS_URL" in body


def _drop_thebe_assets(app, pagename, templatename, context, doctree):
    for key in ("script_files", "css_files"):
        if key in context:
            context[key] = [a for a in context[key] if not _is_thebe_asset(a)]


def _drop_thebe_config(app, doctree, docname):
    for node in list(doctree.findall(nodes.raw)):
        if "text/x-thebe-config" in node.astext() or "kernelName =" in node.astext():
            node.parent.remove(node)


def _check_offline(app, exc):
    if exc is not None or app.builder.format != "html":
        return
    outdir = Path(app.outdir)
    offenders = []
    for page in sorted(outdir.rglob("*.html")):
        text = page.read_text(encoding="utf-8", errors="replace")
        for m in _REMOTE_ATTR.finditer(text):
            offenders.append(f"{page.relative_to(outdir)}: {text[m.start():m.end() + 60]!r}")
        if "unpkg.com" in text or "cdn.jsdelivr" in text or "cdnjs.cloudflare" in text:
            offenders.append(f"{page.relative_to(outdir)}: names a CDN")
    for css in sorted((outdir / "_static").rglob("*.css")):
        text = css.read_text(encoding="utf-8", errors="replace")
        for m in _REMOTE_CSS.finditer(text):
            offenders.append(f"{css.relative_to(outdir)}: {text[m.start():m.end() + 60]!r}")
    if not (outdir / "_static" / "mathjax" / "tex-chtml.js").is_file():
        offenders.append("_static/mathjax/tex-chtml.js is missing: is sphinx-mathjax-offline loaded?")
    if offenders:
        raise ExtensionError(
            "the built book would need the network (it must read offline):\n  " + "\n  ".join(offenders)
        )


def setup(app):
    # After sphinx_thebe's own doctree-resolved handler (default priority 500).
    app.connect("doctree-resolved", _drop_thebe_config, priority=900)
    app.connect("html-page-context", _drop_thebe_assets, priority=900)
    # After sphinx-mathjax-offline has copied MathJax into _static (also on build-finished).
    app.connect("build-finished", _check_offline, priority=900)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
