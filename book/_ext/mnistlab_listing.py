"""Sphinx extension: the ``listing`` directive shows one function of the teaching library as code.

Loaded by ``_config.yml`` (``sphinx: local_extensions``). In a chapter::

    ```{listing} mnistlab.functional.relu
    ```

reads ``mnistlab/functional.py`` with :mod:`ast` (nothing is imported) and shows the function in
one of two ways, chosen by the environment variable ``MNISTLAB_EDITION`` (``reader``, the default,
or ``class``; ``make book EDITION=class`` sets it):

* **as code** (the reader edition, and every function that no assignment grades in both editions):
  its decorators and signature, its docstring's one-line summary as a one-line docstring, and its
  body as in the file; the full numpydoc docstring follows in a collapsed "Full docstring" box.
* **as an exercise** (the class edition, for a function an assignment grades, and the private
  helpers it calls in its module): the signature and the full docstring, no body, and a box "You
  write this in assignment ``a2_relu_softmax``" with the functions it may use: NumPy and the
  public mnistlab functions and classes its reference body (or a helper's) refers to.

The graded functions are :data:`mnistlab.checks.GRADED`, found in the modules of the chapter map
(:data:`mnistlab.checks.REFERENCE_MODULES`). A graded method that its class inherits (``TwoLayerNet.loss``) is the
base class's method (``MLP.loss``). A graded name that is not a function of those modules fails
the build, unless it is listed in :data:`NOT_FUNCTIONS`.
"""

from __future__ import annotations

import ast
import functools
import os
import textwrap
from dataclasses import dataclass
from pathlib import Path

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.errors import ExtensionError
from sphinx.util.docutils import SphinxDirective

#: The environment variable that selects the edition, and its values.
EDITION_ENV = "MNISTLAB_EDITION"
EDITIONS = ("reader", "class")

#: The repository root (this file is ``book/_ext/mnistlab_listing.py``).
ROOT = Path(__file__).resolve().parents[2]

#: Graded items that are not functions (a5's training run must reach an accuracy bar).
NOT_FUNCTIONS = frozenset({"training_run"})


def edition() -> str:
    """The edition this build renders, from ``$MNISTLAB_EDITION`` (default ``reader``).

    Returns
    -------
    str
        ``"reader"`` or ``"class"``.

    Raises
    ------
    ExtensionError
        If the variable holds anything else.
    """
    value = os.environ.get(EDITION_ENV, "reader").strip() or "reader"
    if value not in EDITIONS:
        raise ExtensionError(f"{EDITION_ENV}={value!r}: expected one of {', '.join(EDITIONS)}")
    return value


@functools.lru_cache(maxsize=None)
def module_source(module: str) -> tuple[str, ast.Module]:
    """The source text and syntax tree of a ``mnistlab`` module, read from its file.

    Parameters
    ----------
    module : str
        Dotted name, e.g. ``"mnistlab.functional"``.

    Returns
    -------
    tuple of (str, ast.Module)
        The file's text and its parsed tree.
    """
    parts = module.split(".")
    path = ROOT.joinpath(*parts).with_suffix(".py")
    if not path.is_file():
        path = ROOT.joinpath(*parts, "__init__.py")
    if parts[0] != "mnistlab" or not path.is_file():
        raise ExtensionError(f"listing: no module {module!r} in {ROOT / 'mnistlab'}")
    text = path.read_text(encoding="utf-8")
    return text, ast.parse(text, filename=str(path))


def _top_level(tree: ast.Module) -> dict[str, ast.AST]:
    """Module-level definitions and assignments, by name."""
    found: dict[str, ast.AST] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found[node.name] = node
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    found[target.id] = node
    return found


def find(module: str, qualname: str) -> tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]:
    """The function ``qualname`` of ``module``, following base classes for an inherited method.

    Parameters
    ----------
    module : str
        Dotted module name.
    qualname : str
        ``"relu"`` or ``"Class.method"``.

    Returns
    -------
    tuple of (str, ast.FunctionDef)
        The qualified name where it is defined (``"MLP.loss"`` for ``"TwoLayerNet.loss"``) and its node.

    Raises
    ------
    KeyError
        If the module defines no such function.
    """
    _, tree = module_source(module)
    top = _top_level(tree)
    if "." not in qualname:
        node = top.get(qualname)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return qualname, node
        raise KeyError(f"{module}.{qualname}")
    cls_name, method = qualname.split(".", 1)
    cls = top.get(cls_name)
    while isinstance(cls, ast.ClassDef):
        for item in cls.body:
            if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and item.name == method:
                return f"{cls.name}.{method}", item
        bases = [b.id for b in cls.bases if isinstance(b, ast.Name)]
        cls = top.get(bases[0]) if bases else None
    raise KeyError(f"{module}.{qualname}")


@dataclass(frozen=True)
class Graded:
    """What the class edition says about a hidden function."""

    assignment: str
    #: The name the assignment gives it (``TwoLayerNet.loss``, or the graded function a helper belongs to).
    name: str
    #: Dotted names of what it may use, NumPy first.
    may_use: tuple[str, ...]
    #: For a private helper: the graded function it is part of.
    part_of: str | None = None


def _references(node: ast.AST) -> list[tuple[str | None, str]]:
    """``(prefix, name)`` of every name (``relu``) and attribute of a name (``layers.relu``) loaded."""
    refs = []
    for sub in ast.walk(node):
        if isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Name):
            refs.append((sub.value.id, sub.attr))
        elif isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load):
            refs.append((None, sub.id))
    return refs


def _imports(tree: ast.Module) -> dict[str, str]:
    """Local name -> dotted target of every ``from mnistlab... import`` at module level."""
    names = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "mnistlab":
            for alias in node.names:
                names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return names


def _is_public_api(dotted: str) -> bool:
    """A public function or class of a public mnistlab module (``mnistlab.layers.affine_forward``)."""
    *mod_parts, name = dotted.split(".")
    if name.startswith("_") or any(p.startswith("_") for p in mod_parts):
        return False
    try:
        _, tree = module_source(".".join(mod_parts))
    except ExtensionError:
        return False
    return isinstance(_top_level(tree).get(name), (ast.FunctionDef, ast.ClassDef))


def _uses(module: str, node: ast.AST) -> tuple[set[str], set[str]]:
    """Public mnistlab names the code refers to, and the module's private names it reaches.

    Private module-level names (helpers, tables such as ``_ACTIVATIONS``) are followed into
    their definitions, so a helper's calls count as the function's own.
    """
    _, tree = module_source(module)
    top, imported = _top_level(tree), _imports(tree)
    public: set[str] = set()
    private: set[str] = set()
    todo = [node]
    while todo:
        for prefix, name in _references(todo.pop()):
            if prefix is None:
                if name.startswith("_") and name in top and name not in private:
                    private.add(name)
                    todo.append(top[name])
                elif name in top:
                    public.add(f"{module}.{name}")
                elif name in imported:
                    public.add(imported[name])
            elif prefix in imported:
                public.add(f"{imported[prefix]}.{name}")
    return {d for d in public if _is_public_api(d)}, private


@functools.lru_cache(maxsize=None)
def graded_functions() -> dict[tuple[str, str], Graded]:
    """Every function the class edition hides: ``(module, qualname where defined) -> Graded``.

    The graded functions of :data:`mnistlab.checks.GRADED` and the private helpers each calls
    (directly or through another helper) in its module.
    """
    from mnistlab.checks import GRADED, REFERENCE_MODULES

    hidden: dict[tuple[str, str], Graded] = {}
    for assignment, names in GRADED.items():
        modules = REFERENCE_MODULES[assignment]
        for name in names:
            if name in NOT_FUNCTIONS:
                continue
            for module in modules:
                try:
                    where, node = find(module, name)
                except KeyError:
                    continue
                break
            else:
                raise ExtensionError(f"listing: graded function {name!r} of {assignment} is in none of {modules}")
            body = ast.Module(body=_body(node), type_ignores=[])
            public, private = _uses(module, body)
            public.discard(f"{module}.{where}")
            public.discard(f"{module}.{name}")
            may_use = ("numpy", *sorted(public))
            hidden[(module, where)] = Graded(assignment, name, may_use)
            for helper in private:
                if isinstance(_top_level(module_source(module)[1]).get(helper), ast.FunctionDef):
                    hidden.setdefault((module, helper), Graded(assignment, helper, may_use, part_of=name))
    return hidden


def _body(node: ast.FunctionDef) -> list[ast.stmt]:
    """The statements of a function after its docstring."""
    return node.body[1:] if ast.get_docstring(node, clean=False) is not None else node.body


#: Characters that fit a code block of the book's text column (about 75 at the theme's code font).
TEXT_COLUMNS = 72


def _indent_of(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def _continues(line: str, indent: str) -> bool:
    """Whether ``line`` continues a paragraph at ``indent`` (not a new item, header or blank)."""
    return (bool(line.strip()) and _indent_of(line) == indent and " : " not in line
            and not line.lstrip().startswith(("- ", "* ", "---", '"""', ">>>")))


def wrap_prose(text: str, width: int = TEXT_COLUMNS) -> str:
    """Re-wrap each paragraph of a docstring that has a line longer than ``width``.

    A paragraph is the long line and the lines after it at the same indentation, up to a blank
    line, a new item (``name : type``, ``- ``) or a section underline. The code of a listing stays
    as written (the stylesheet wraps a long code line); a docstring's prose reads better broken at
    words.

    Parameters
    ----------
    text : str
        Docstring lines (with their quotes and indentation, or cleaned).
    width : int, default TEXT_COLUMNS
        The longest line kept as it is.

    Returns
    -------
    str
    """
    lines, out, i = text.splitlines(), [], 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if len(line) <= width:
            out.append(line)
            continue
        indent = _indent_of(line)
        paragraph = [line.strip()]
        while i < len(lines) and _continues(lines[i], indent):
            paragraph.append(lines[i].strip())
            i += 1
        out.extend(textwrap.wrap(" ".join(paragraph), width, initial_indent=indent, subsequent_indent=indent,
                                 break_long_words=False, break_on_hyphens=False))
    return "\n".join(out)


def summary(docstring: str) -> str:
    """A docstring's summary: its first paragraph, on one line."""
    first = textwrap.dedent(docstring).strip().split("\n\n", 1)[0]
    return " ".join(line.strip() for line in first.splitlines())


@dataclass(frozen=True)
class Parts:
    """The pieces of a function's source, dedented to its ``def``."""

    header: str  # decorators and signature, up to the colon
    indent: str  # the body's indentation
    docstring_source: str  # the docstring as written (quotes and all), or ""
    docstring: str  # its text, cleaned
    body: str  # the statements after the docstring


def split(module: str, node: ast.FunctionDef) -> Parts:
    """Cut a function's source into signature, docstring and body.

    Parameters
    ----------
    module : str
        Dotted name of the module that defines it.
    node : ast.FunctionDef
        The function, from :func:`find`.

    Returns
    -------
    Parts
        Its pieces, dedented to the ``def``.
    """
    text, _ = module_source(module)
    lines = text.splitlines()
    start = min([node.lineno] + [d.lineno for d in node.decorator_list])
    has_doc = ast.get_docstring(node, clean=False) is not None
    first = node.body[0]
    stmts = _body(node)
    header = lines[start - 1 : first.lineno - 1]
    doc_src = lines[first.lineno - 1 : first.end_lineno] if has_doc else []
    body = lines[stmts[0].lineno - 1 : node.end_lineno] if stmts else []
    if has_doc and stmts:
        # Comments and blank lines between the docstring and the first statement belong to the body.
        body = lines[first.end_lineno : node.end_lineno]
    while body and not body[0].strip():
        body.pop(0)
    offset = " " * node.col_offset

    def dedent(source_lines):
        return "\n".join(l[len(offset):] if l.startswith(offset) else l.lstrip() for l in source_lines)

    indent = " " * (first.col_offset - node.col_offset)
    return Parts(dedent(header), indent, dedent(doc_src), ast.get_docstring(node) or "", dedent(body))


class details(nodes.General, nodes.Element):  # noqa: N801 - docutils node names are lower case
    """A collapsed box (HTML ``<details>``) whose ``summary`` attribute is its caption."""


def _visit_details_html(self, node):
    """Open ``<details>`` with its caption."""
    self.body.append(f'<details class="mnistlab-docstring"><summary>{self.encode(node["summary"])}</summary>')


def _depart_details_html(self, node):
    """Close ``<details>``."""
    self.body.append("</details>")


def _visit_details_other(self, node):
    """Other builders show the box's content as it is."""


def _depart_details_other(self, node):
    """Nothing to close outside HTML."""


def _code(text: str, language: str = "python") -> nodes.literal_block:
    """A highlighted code block."""
    block = nodes.literal_block(text, text)
    block["language"] = language
    return block


class ListingDirective(SphinxDirective):
    """``{listing} mnistlab.module.function``: one library function, as code or as an exercise."""

    required_arguments = 1
    optional_arguments = 0
    has_content = False
    option_spec = {"class": directives.class_option}

    def run(self):
        """The listing's nodes: code, then the full docstring (collapsed) or the assignment box."""
        target = self.arguments[0]
        parts = target.split(".")
        node = module = qualname = None
        for cut in (len(parts) - 1, len(parts) - 2):
            if cut < 2:
                continue
            module, qualname = ".".join(parts[:cut]), ".".join(parts[cut:])
            try:
                qualname, node = find(module, qualname)
                break
            except (KeyError, ExtensionError):
                node = None
        if node is None:
            raise self.error(f"listing: no function {target!r} in the mnistlab sources")
        self.env.note_dependency(str(ROOT.joinpath(*module.split(".")).with_suffix(".py")))
        pieces = split(module, node)
        graded = graded_functions().get((module, qualname))
        box = nodes.container(classes=["mnistlab-listing", *self.options.get("class", [])])
        if graded is not None and edition() == "class":
            box["classes"].append("mnistlab-exercise")
            doc = wrap_prose(pieces.docstring_source) + "\n" if pieces.docstring_source else ""
            code = f"{pieces.header}\n{doc}{pieces.indent}..."
            box += _code(code)
            box += self._exercise(graded)
        else:
            line = f'{pieces.indent}"""{summary(pieces.docstring)}"""\n' if pieces.docstring else ""
            box += _code(f"{pieces.header}\n{line}{pieces.body}")
            if pieces.docstring:
                label = FULL_DOCSTRING.get(self.env.config.language or "en", FULL_DOCSTRING["en"])
                more = details(summary=label.format(name=qualname))
                more += _code(wrap_prose(pieces.docstring), "text")
                box += more
        return [box]

    @staticmethod
    def _exercise(graded: Graded) -> nodes.admonition:
        """The box under a hidden function: which assignment, and what it may use."""
        note = nodes.admonition(classes=["admonition", "important", "mnistlab-assignment"])
        title = nodes.title()
        if graded.part_of:
            title += [nodes.Text("Part of "), nodes.literal(graded.part_of, graded.part_of),
                      nodes.Text(", which you write in assignment ")]
        else:
            title += nodes.Text("You write this in assignment ")
        title += nodes.literal(graded.assignment, graded.assignment)
        if not graded.part_of and "." in graded.name:
            title += [nodes.Text(" (as "), nodes.literal(graded.name, graded.name), nodes.Text(")")]
        note += title
        uses = nodes.paragraph()
        uses += nodes.Text("It may use: ")
        for i, name in enumerate(graded.may_use):
            if i:
                uses += nodes.Text(", ")
            shown = "NumPy" if name == "numpy" else name
            uses += nodes.literal(shown, shown)
        uses += nodes.Text(".")
        note += uses
        return note


#: The reader edition's one label, in each language of the book (book/i18n.py builds zh_CN; the class
#: edition is English only).
FULL_DOCSTRING = {"en": "Full docstring of {name}", "zh_CN": "{name} 的完整文档字符串"}


def _add_static_path(app):
    """Serve this extension's stylesheet (``book/_ext/static/mnistlab_listing.css``)."""
    static = str(Path(__file__).parent / "static")
    if static not in app.config.html_static_path:  # mnistlab_i18n serves the same folder
        app.config.html_static_path.append(static)


def setup(app):
    """Register the ``listing`` directive and the ``<details>`` node; check the edition."""
    edition()
    app.add_config_value("mnistlab_edition", edition(), "env")
    app.add_node(details, html=(_visit_details_html, _depart_details_html),
                 latex=(_visit_details_other, _depart_details_other),
                 text=(_visit_details_other, _depart_details_other))
    app.add_directive("listing", ListingDirective)
    app.connect("builder-inited", _add_static_path)
    app.add_css_file("mnistlab_listing.css")
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
