"""The documentation pages under docs/ and the citations of them.

Code, tests, examples and the README cite the pages as ``docs/<page>.md: “<Section>”`` (or
several sections: ``docs/theory.md: “A”, “B”``; a citation may wrap across lines of a
docstring or a comment).  These tests check that every cited page and section exists, that
docs/theory.md has exactly its documented sections, that it covers every catalogue cell, that
no file cites a document which is not in the repository, and that the math of the pages has
balanced ``$`` delimiters.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from gatejac.symbolic import cells

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

THEORY_SECTIONS = [
    "Conventions",
    "The catalogue",
    "The gate split",
    "Transports and backpropagation",
    "The first-order gate expansion",
    "Lyapunov exponents",
    "Fixed points and spectra",
    "Initialisation",
    "Anisotropy of transports and updates",
    "Where public code departs from the mathematics",
    "Numerics",
    "Checkable properties",
]
VERIFICATION_SECTIONS = ["Oracles and tolerances", "Drawing values", "Checking your own implementation"]

CITING = ["symbolic", "numeric", "verify", "gatejac", "tests", "examples", "docs", "README.md"]
"""Where citations of the pages are looked for (folders searched recursively)."""
CITING_SUFFIXES = {".py", ".md", ".tex", ".toml", ".txt", ".cfg"}

# docs/<page>.md, then ": “S”" or " (“S”", then any further ", “S”": the sections cited.
_PAGE = re.compile(r"docs/(\w+)\.md")
_FIRST_SECTION = re.compile(r"(?::|\s\()\s*“([^”]+)”")
_MORE_SECTIONS = re.compile(r",\s*“([^”]+)”")
_WRAP = re.compile(r"\s*\n\s*(?:#\s*)?")  # a line break inside a docstring or a comment


def second_level_sections(page: Path) -> list[str]:
    """The ``## `` headings of a Markdown page, in order (code fences skipped)."""
    titles, fenced = [], False
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and line.startswith("## "):
            titles.append(line[3:].strip())
    return titles


def citations(text: str) -> list[tuple[str, str | None]]:
    """``(page, section)`` for every citation of a docs page in ``text``; ``section`` is
    ``None`` for a citation of a whole page (``see docs/theory.md``)."""
    text = _WRAP.sub(" ", text)
    found = []
    for page in _PAGE.finditer(text):
        first = _FIRST_SECTION.match(text, page.end())
        if first is None:
            found.append((page.group(1), None))
            continue
        found.append((page.group(1), first.group(1)))
        position = first.end()
        while (more := _MORE_SECTIONS.match(text, position)) is not None:
            found.append((page.group(1), more.group(1)))
            position = more.end()
    return found


def _citing_files() -> list[Path]:
    """Every file that may cite the pages, except this one (its parser tests hold made-up citations)."""
    files = []
    for name in CITING:
        path = ROOT / name
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.suffix in CITING_SUFFIXES and "__pycache__" not in p.parts)
    return [path for path in files if path != Path(__file__).resolve()]


def _sections_of_every_page() -> dict[str, list[str]]:
    return {page.stem: second_level_sections(page) for page in DOCS.glob("*.md")}


def bad_citations(sources: dict[str, str], sections: dict[str, list[str]]) -> list[str]:
    """``<label>: docs/<page>.md: “<section>”`` for every citation of a missing page or section
    in ``sources`` (``{label: text}``), given each page's ``sections``."""
    bad = []
    for label, text in sources.items():
        for page, section in citations(text):
            if page not in sections or (section is not None and section not in sections[page]):
                bad.append(f"{label}: docs/{page}.md" + ("" if section is None else f": “{section}”"))
    return bad


# --------------------------------------------------------------------------- the pages' sections
def test_theory_has_exactly_its_documented_sections_in_order():
    assert second_level_sections(DOCS / "theory.md") == THEORY_SECTIONS


def test_verification_has_exactly_its_documented_sections_in_order():
    assert second_level_sections(DOCS / "verification.md") == VERIFICATION_SECTIONS


def test_index_links_every_page():
    index = (DOCS / "index.md").read_text(encoding="utf-8")
    for page in DOCS.glob("*.md"):
        if page.name != "index.md":
            assert f"]({page.name})" in index, f"docs/index.md does not link {page.name}"


# --------------------------------------------------------------------------- citations
def test_the_citation_parser_reads_every_form():
    text = (
        "see docs/theory.md: “The gate split”).\n"
        "docs/theory.md: “Transports and backpropagation”, “Checkable properties”: ∇ …\n"
        "as docs/verification.md (“Drawing values”) describes\n"
        "    (docs/theory.md:\n    “The catalogue”)\n"
        "    # docs/theory.md: “Where public code departs from the\n    # mathematics” item 1\n"
        "(see docs/theory.md) | Can 2020 |"
    )
    assert citations(text) == [
        ("theory", "The gate split"),
        ("theory", "Transports and backpropagation"),
        ("theory", "Checkable properties"),
        ("verification", "Drawing values"),
        ("theory", "The catalogue"),
        ("theory", "Where public code departs from the mathematics"),
        ("theory", None),
    ]


def test_a_citation_of_a_missing_page_or_section_is_reported():
    text = '"""docs/theory.md: “The catalogue”, “No such section”; docs/nothing.md."""'
    assert bad_citations({"probe.py": text}, {"theory": THEORY_SECTIONS}) == [
        "probe.py: docs/theory.md: “No such section”",
        "probe.py: docs/nothing.md",
    ]


def test_every_citation_names_an_existing_page_and_section():
    sources = {str(path.relative_to(ROOT)): path.read_text(encoding="utf-8") for path in _citing_files()}
    cited = {section for text in sources.values() for _, section in citations(text) if section}
    assert len(cited) >= 8, f"the search found only {sorted(cited)}: too little to be trusted"
    assert bad_citations(sources, _sections_of_every_page()) == []


# --------------------------------------------------------------------------- no outside documents
def _repository_files() -> list[Path]:
    """Tracked and untracked files that git does not ignore (so not .venv, build output, caches)."""
    git = shutil.which("git")
    if git is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: the repository's files cannot be listed")
    listed = subprocess.run([git, "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=ROOT,
                            capture_output=True, check=True).stdout
    return [ROOT / name for name in listed.decode().split("\0") if name and (ROOT / name).is_file()]


def test_no_file_mentions_a_document_outside_the_repository():
    outside = [name.encode() for name in ("MATH" + ".md", "DESIGN" + ".md")]  # spelt apart: this file must not match
    files = _repository_files()
    assert any(path.name == "README.md" for path in files)
    offending = []
    for path in files:
        for number, line in enumerate(path.read_bytes().splitlines(), start=1):
            if any(name in line for name in outside):
                offending.append(f"{path.relative_to(ROOT)}:{number}: {line.decode(errors='replace').strip()}")
    assert offending == []


# --------------------------------------------------------------------------- coverage and math
@pytest.mark.parametrize("name", [*cells.names(), "residual_homogeneous", "residual_rotational",
                                  "residual_heterogeneous"])
def test_theory_covers_every_catalogue_cell_and_residual_builder(name):
    assert f"`{name}`" in (DOCS / "theory.md").read_text(encoding="utf-8")


def _prose_paragraphs(page: Path) -> list[str]:
    """Paragraphs of a page with code fences and code spans removed (``$`` there is not math)."""
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    return [re.sub(r"`[^`]*`", "", paragraph) for paragraph in re.split(r"\n\s*\n", text)]


@pytest.mark.parametrize("page", sorted(p.name for p in DOCS.glob("*.md")))
def test_math_delimiters_are_balanced_in_every_paragraph(page):
    """GitHub renders ``$…$`` and ``$$…$$`` only when they pair up inside a paragraph; an odd
    count would print raw TeX (and let ``_`` start emphasis)."""
    odd = [p.strip()[:80] for p in _prose_paragraphs(DOCS / page) if p.count("$") % 2]
    assert odd == []


@pytest.mark.parametrize("page", sorted(p.name for p in DOCS.glob("*.md")))
def test_inline_math_hugs_its_delimiters(page):
    """``$ x$`` or ``$x $`` is not math on GitHub; ``$…$`` must open and close on non-space."""
    loose = []
    for paragraph in _prose_paragraphs(DOCS / page):
        without_display = re.sub(r"\$\$.*?\$\$", "", paragraph, flags=re.S)
        for math in re.findall(r"\$([^$]+)\$", without_display):
            if math != math.strip():
                loose.append(math)
    assert loose == []
