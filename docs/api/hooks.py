"""mkdocs hooks of the API reference (registered in ``mkdocs.yml``; not a page of the site).

* The three layers live at the repository's top level and install as ``gatejac.symbolic``,
  ``gatejac.numeric`` and ``gatejac.verify`` through pyproject's ``package-dir``, so the folders
  do not form a ``gatejac`` package on disk. :func:`source_tree` builds one in
  ``build/api-source`` out of symbolic links, and mkdocstrings reads the docstrings there from
  the source files (``paths: [build/api-source]``), as written, attribute docstrings included.
* The docstrings write cross-references as Sphinx roles (``:func:`compile```); the rendered
  pages keep the code span, drop the role, and link the name where it names exactly one
  object documented on the same page.  A paragraph that introduces a literal block
  the reST way (``Equations as implemented::``) ends in one colon.
* The math of the pages (``$…$``, ``$$…$$``, kept whole by ``pymdownx.arithmatex``) becomes
  MathML, as in the design reports (``verify._design_report_html.mathml``): the site renders it
  offline, with no script.  A formula that would still show TeX is a warning, so a strict build
  fails on it.
* ``members: __all__`` in the options of a ``::: module`` block is replaced with the list of
  the module's ``__all__`` read at run time: ``gatejac.verify`` builds its ``__all__`` from its
  lazy export table, which a static reader cannot evaluate.
* ``docs/api/cli.md`` gets the ``--help`` text of every ``gatejac`` command, taken from the
  parser itself, so the page cannot fall behind the command line.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import html as markup
import json
import logging
import os
import re
from pathlib import Path

from mkdocs.plugins import event_priority

ROOT = Path(__file__).resolve().parents[2]
SOURCE_TREE = ROOT / "build" / "api-source"
CLI_MARKER = "<!-- gatejac command-line help -->"
_ROLE = re.compile(r":(?:func|class|mod|data|attr|meth|exc|obj|const):<code>~?([^<]*)</code>")
_ANCHOR = re.compile(r'id="(gatejac\.[\w.]+)"')
_MATH = re.compile(r'<(span|div) class="arithmatex">(.*?)</\1>', re.S)
_SPELLINGS = (("\\lvert", "|"), ("\\rvert", "|"), ("\\lVert", "\\|"), ("\\rVert", "\\|"))
"""TeX that latex2mathml does not know, spelt the way it does."""
_LOG = logging.getLogger("mkdocs.hooks.gatejac")
_HELP_WIDTH = "100"
_DIRECTIVE = re.compile(r"^::: ([\w.]+)\n((?:[ \t]+.*\n)*?)([ \t]+)members: __all__$", re.M)


def source_tree(target: Path = SOURCE_TREE) -> Path:
    """``target/gatejac/...``: a symbolic link to the package's ``__init__.py`` and one to each
    layer's folder, where Python finds them (the working tree, for the editable install of
    ``.ci/setup``); idempotent."""
    import gatejac

    links = {Path("gatejac", "__init__.py"): Path(gatejac.__file__).resolve()}
    for layer in (name for name in gatejac.__all__ if not name.startswith("_")):
        links[Path("gatejac", layer)] = Path(importlib.util.find_spec(f"gatejac.{layer}").origin).resolve().parent
    for link, source in links.items():
        path = target / link
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_symlink() and path.resolve() == source:
            continue
        if path.is_symlink():
            path.unlink()
        with contextlib.suppress(FileExistsError):  # another build made the same link meanwhile
            path.symlink_to(source)
    return target


def expand_members(markdown: str) -> str:
    """``markdown`` with every ``members: __all__`` option of a ``::: module`` block replaced by
    the module's run-time ``__all__``."""
    def members(match: re.Match) -> str:
        names = importlib.import_module(match.group(1)).__all__
        return f"::: {match.group(1)}\n{match.group(2)}{match.group(3)}members: {json.dumps(sorted(names))}"
    return _DIRECTIVE.sub(members, markdown)


def parser() -> argparse.ArgumentParser:
    """The one parser the ``gatejac`` command line runs."""
    from gatejac.verify._cli_commands import _parser

    return _parser()


def commands(command: argparse.ArgumentParser, name: str = "gatejac", summary: str = ""):
    """``(full name, parser, one-line help)`` for ``command`` and every sub-command below it."""
    yield name, command, summary
    for action in command._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
            for sub, subparser in action.choices.items():
                yield from commands(subparser, f"{name} {sub}", helps.get(sub, ""))


def command_help() -> str:
    """Markdown: a section per ``gatejac`` command with its ``--help`` text."""
    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = _HELP_WIDTH  # argparse wraps at the terminal's width: fix it
    try:
        lines = []
        for name, command, _ in commands(parser()):
            level = min(name.count(" ") + 2, 4)
            lines += [f"{'#' * level} `{name}`", "", "```text", command.format_help().rstrip(), "```", ""]
        return "\n".join(lines)
    finally:
        if previous is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = previous


@event_priority(100)  # before mkdocstrings' on_config, which sets up its search paths
def on_config(config, **kwargs):
    """Build the source tree before mkdocstrings reads its search paths."""
    source_tree()
    return config


def on_page_markdown(markdown: str, page, config, files, **kwargs) -> str:
    """Expand ``members: __all__``; put the command line's help into the CLI page."""
    markdown = expand_members(markdown)
    if CLI_MARKER in markdown:
        markdown = markdown.replace(CLI_MARKER, command_help())
    return markdown


def math(html: str, where: str) -> str:
    """``html`` with every ``arithmatex`` span (inline) and div (display) as MathML."""
    from gatejac.verify import ReportError
    from gatejac.verify._design_report_html import mathml  # the design reports' converter

    def convert(match: re.Match) -> str:
        tex = markup.unescape(match.group(2)).strip()
        display = "block" if tex.startswith("\\[") else "inline"
        tex = tex[2:-2].strip()
        for spelling, known in _SPELLINGS:
            tex = tex.replace(spelling, known)
        try:
            return mathml(tex, display=display)
        except ReportError as error:
            _LOG.warning(f"{where}: {error}")
            return f"<code>{markup.escape(tex)}</code>"

    return _MATH.sub(convert, html)


def on_page_content(html: str, page, config, files, **kwargs) -> str:
    """Math as MathML; drop the Sphinx role in front of a rendered code span (``:class:`Report```
    → ``Report``), linked to the one object of the page it names, if there is one; and the
    second colon of a paragraph's closing ``::``."""
    anchors = set(_ANCHOR.findall(html))

    def reference(match: re.Match) -> str:
        name, code = match.group(1).removesuffix("()"), f"<code>{match.group(1)}</code>"
        targets = [anchor for anchor in anchors if anchor == name or anchor.endswith(f".{name}")]
        return f'<a href="#{targets[0]}">{code}</a>' if len(targets) == 1 else code

    html = math(html, page.file.src_path if page is not None else "a page")
    return _ROLE.sub(reference, html).replace("::</p>", ":</p>")
