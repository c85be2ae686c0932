"""The API reference (``mkdocs.yml``, ``docs/api/``): it builds offline in strict mode, and every
public name is on a page with its docstring.

A public name is an entry of the ``__all__`` of a public module (every module of the package
whose dotted name has no part starting with ``_``: ``gatejac``, ``gatejac.symbolic``,
``gatejac.symbolic.cells``, ``gatejac.numeric``, ``gatejac.verify`` — its lazy export table —,
``gatejac.verify.strategies``), a fixture or a command-line option of the pytest plugin, or a
command of ``gatejac``.  Docstrings are read the way the reference reads
them (griffe, from the source), so a dataclass's generated ``__doc__`` or a constant without a
docstring counts as undocumented.  :func:`undocumented` is the checker; a test runs it on a
made-up package to show it catches a name with no docstring and a name on no page.
"""

from __future__ import annotations

import html
import importlib
import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

griffe = pytest.importorskip("griffe", reason="the API reference needs the docs extra: pip install -e '.[docs]'")
pytest.importorskip("mkdocstrings", reason="the API reference needs the docs extra: pip install -e '.[docs]'")

ROOT = Path(__file__).resolve().parents[1]
KNOWN_PUBLIC_MODULES = {"gatejac", "gatejac.symbolic", "gatejac.symbolic.cells", "gatejac.numeric", "gatejac.verify",
                        "gatejac.verify.strategies"}
PLUGIN = "gatejac.verify._plugin"
BUILD_SECONDS = 30


def _hooks():
    """docs/api/hooks.py, the build's own hooks (the source tree and the command list)."""
    spec = importlib.util.spec_from_file_location("gatejac_docs_hooks", ROOT / "docs" / "api" / "hooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --------------------------------------------------------------------------- the checker
def normalised(text: str) -> str:
    """Letters and digits only, roles dropped: a docstring line and its rendering compare equal
    whatever Markdown did to code spans, emphasis, quotes and line breaks."""
    return re.sub(r"[\W_]+", "", re.sub(r":\w+:(?=`)", "", text)).lower()


def page_text(page: str) -> str:
    """The visible text of an HTML page."""
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def first_line(docstring: str | None) -> str:
    """The first non-blank line of a docstring ('' when there is none)."""
    return next((line.strip() for line in (docstring or "").splitlines() if line.strip()), "")


def section(pages: dict[str, str], anchor: str) -> tuple[str, str] | None:
    """``(page, html)`` of the object whose heading has ``id=anchor``: from that heading to the
    next object's heading (its signature and docstring), or ``None`` when no page has it."""
    for name, page in pages.items():
        start = page.find(f'id="{anchor}"')
        if start >= 0:
            end = page.find('class="doc doc-heading"', page.find(">", start))
            return name, page[start: end if end >= 0 else len(page)]
    return None


def undocumented(public: dict[str, str | None], pages: dict[str, str]) -> list[str]:
    """One line for every public name that has no docstring, is on no page, or whose docstring
    the page does not show.  ``public`` maps the names' anchors (``gatejac.numeric.compile``)
    to their docstrings, ``pages`` a page's name to its HTML."""
    problems = []
    for anchor, docstring in sorted(public.items()):
        line = first_line(docstring)
        found = section(pages, anchor)
        if not line:
            problems.append(f"{anchor}: no docstring")
        if found is None:
            problems.append(f"{anchor}: on no page of the API reference")
        elif line and normalised(line) not in normalised(page_text(found[1])):
            problems.append(f"{anchor}: {found[0]} does not show its docstring's first line {line!r}")
    return problems


def docstrings(module: griffe.Module, names: list[str]) -> dict[str, str | None]:
    """``{module.name: docstring}`` for ``names`` of ``module`` as griffe read it from the source
    (``None`` for a name griffe does not find or that has no docstring)."""
    found = {}
    for name in names:
        try:
            docstring = module[name].docstring
        except (KeyError, griffe.AliasResolutionError, griffe.CyclicAliasError):
            docstring = None
        found[f"{module.path}.{name}"] = None if docstring is None else docstring.value
    return found


# --------------------------------------------------------------------------- the public names
def public_modules(module: griffe.Module) -> list[str]:
    """``module`` and its submodules, recursively, whose dotted names have no private part."""
    if any(part.startswith("_") for part in module.path.split(".")):
        return []
    found = [module.path]
    for member in module.members.values():
        if not member.is_alias and member.is_module:  # not a module imported by this one
            found += public_modules(member)
    return found


def public_names(loader: griffe.GriffeLoader) -> dict[str, str | None]:
    """Every public name of gatejac with its docstring (dunders such as ``__version__`` aside)."""
    package = loader.load("gatejac", try_relative_path=False)  # not ./gatejac: the folder without the layers
    loader.resolve_aliases(external=False)
    modules = public_modules(package)
    assert KNOWN_PUBLIC_MODULES <= set(modules), f"the public modules found are only {modules}"
    public = {}
    for module in modules:
        names = [name for name in getattr(importlib.import_module(module), "__all__", ["__all__ is missing"])
                 if not name.startswith("__")]
        public |= docstrings(loader.modules_collection[module], names)
    plugin = loader.modules_collection[PLUGIN]
    fixtures = [name for name, member in plugin.members.items() if not member.is_alias and member.is_function
                and any("fixture" in str(decorator.value) for decorator in member.decorators)]
    assert len(fixtures) >= 5, f"found only the fixtures {fixtures}"
    public |= docstrings(plugin, fixtures)
    return public


class _OptionRecorder:
    """Stands in for pytest's parser: records the options the plugin adds."""

    def __init__(self):
        self.options: list[str] = []

    def getgroup(self, *args, **kwargs):
        return self

    def addoption(self, *names, **kwargs):
        self.options += names

    def addini(self, *args, **kwargs):
        pass


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> dict[str, str]:
    """The site built by ``mkdocs build --strict``: ``{page path: html}`` of every page."""
    mkdocs = shutil.which("mkdocs", path=str(Path(sys.executable).parent)) or shutil.which("mkdocs")
    assert mkdocs is not None, "mkdocs is not installed: pip install -e '.[docs]'"
    out = tmp_path_factory.mktemp("site")
    done = subprocess.run([mkdocs, "build", "--strict", "--site-dir", str(out)], cwd=ROOT, capture_output=True,
                          text=True, timeout=10 * BUILD_SECONDS)
    assert done.returncode == 0, done.stderr[-4000:]
    return {str(path.relative_to(out)): path.read_text(encoding="utf-8") for path in sorted(out.rglob("*.html"))}


@pytest.fixture(scope="module")
def loader() -> griffe.GriffeLoader:
    """Reads gatejac's source where the reference does (the layers' tree of docs/api/hooks.py)."""
    return griffe.GriffeLoader(search_paths=[_hooks().source_tree()])


# --------------------------------------------------------------------------- tests
def test_every_public_name_is_documented_on_a_page(site, loader):
    public = public_names(loader)
    assert len(public) > 200, f"only {len(public)} public names found: the lists are not being read"
    assert undocumented(public, site) == []


def test_no_page_loads_anything_from_the_network(site):
    remote = re.compile(r'<(?:script|img|link|iframe)\b[^>]*\b(?:src|href)="(?:https?:)?//[^"]*"[^>]*>')
    assert "api/index.html" in site and "tutorial/index.html" in site
    assert {page: remote.findall(text) for page, text in site.items() if remote.search(text)} == {}
    assert remote.search('<script src="https://cdn.example/x.js"></script>')  # the pattern sees a CDN script


def test_every_plugin_option_and_the_marker_are_on_the_plugin_page(site):
    recorder = _OptionRecorder()
    importlib.import_module(PLUGIN).pytest_addoption(recorder)
    text = page_text(site["api/pytest-plugin/index.html"])
    assert recorder.options, "the plugin added no options: the recorder is broken"
    assert [option for option in recorder.options if option not in text] == []
    assert "@pytest.mark.gatejac(" in text


def test_every_command_is_on_the_cli_page_with_its_help(site):
    hooks = _hooks()
    text = normalised(page_text(site["api/cli/index.html"]))
    listed = list(hooks.commands(hooks.parser()))
    assert len(listed) >= 8
    for name, command, summary in listed[1:]:
        assert summary, f"`{name}` has no help line"
        assert normalised(name) in text and normalised(command.format_usage()) in text, name
        assert normalised(summary) in text, f"the CLI page lacks the help of `{name}`"


def test_the_checker_catches_an_undocumented_name_and_a_missing_one(tmp_path):
    """A made-up package: ``kept`` is documented and on the page, ``bare`` has no docstring,
    ``dropped`` is documented but on no page, and ``stale``'s page shows another docstring."""
    (tmp_path / "fake").mkdir()
    (tmp_path / "fake" / "__init__.py").write_text(
        '__all__ = ["bare", "dropped", "kept", "stale"]\n'
        'def kept():\n    """Kept: with ``code`` and a :func:`role`."""\n'
        'def bare():\n    pass\n'
        'def dropped():\n    """Dropped from the pages."""\n'
        'def stale():\n    """The new first line."""\n'
    )
    fake = griffe.GriffeLoader(search_paths=[tmp_path]).load("fake", try_relative_path=False)
    public = docstrings(fake, ["bare", "dropped", "kept", "stale"])
    pages = {"api/fake.html": '<h2 id="fake.kept" class="doc doc-heading">kept</h2><p>Kept: with <code>code</code> '
                              'and a <code>role</code>.</p>'
                              '<h2 id="fake.bare" class="doc doc-heading">bare</h2>'
                              '<h2 id="fake.stale" class="doc doc-heading">stale</h2><p>The old first line.</p>'}
    assert undocumented(public, pages) == [
        "fake.bare: no docstring",
        "fake.dropped: on no page of the API reference",
        "fake.stale: api/fake.html does not show its docstring's first line 'The new first line.'",
    ]


def test_roles_become_code_linked_to_the_one_object_they_name():
    on_page_content = _hooks().on_page_content
    page = ('<h2 id="gatejac.numeric.compile" class="doc doc-heading"></h2>'
            '<h2 id="gatejac.numeric.A.step" class="doc doc-heading"></h2><h2 id="gatejac.numeric.B.step"></h2>'
            '<p>:func:<code>compile</code>, :meth:<code>step</code>, :class:<code>~verify.Report</code>::</p>')
    html = on_page_content(page, page=None, config=None, files=None)
    assert ('<p><a href="#gatejac.numeric.compile"><code>compile</code></a>, <code>step</code>, '
            '<code>verify.Report</code>:</p>') in html  # unique: linked; two steps, no Report: code only


def test_math_becomes_mathml_and_tex_it_cannot_render_is_a_warning(caplog):
    math = _hooks().math
    page = '<p><span class="arithmatex">\\(x_1 \\lvert y\\)</span></p><div class="arithmatex">\\[\\sigma(a)\\]</div>'
    converted = math(page, "probe.md")
    assert converted.count("<math") == 2 and "arithmatex" not in converted and "\\" not in converted
    assert not caplog.records
    unknown = '<span class="arithmatex">\\(\\nosuchcommand{x}\\)</span>'
    assert math(unknown, "probe.md") == "<code>\\nosuchcommand{x}</code>"
    assert [record.levelname for record in caplog.records] == ["WARNING"] and "probe.md" in caplog.text
