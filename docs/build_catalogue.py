"""Build the catalogue document: every catalogue cell's equations and derivation.

    .venv/bin/python docs/build_catalogue.py [--pages K]

Writes ``docs/catalogue.tex`` (for each cell of ``symbolic.cells``: its equations; the state
Jacobian as definition → chain rule → closed form; the gate split; the input and parameter
Jacobians), compiles it with ``pdflatex`` (until the table of contents is stable) into
``docs/catalogue.pdf``, and renders pages 1..K to ``docs/catalogue-<page>.png`` with
``pdftoppm -png -r 80`` so the notation can be looked at without a PDF viewer; the pages
holding the first-order gate expansion of the scalar and the multi gate (found with
``pdftotext``) are rendered too, as ``docs/catalogue-<cell>-expansion-<page>.png``.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import gatejac.symbolic.cells as catalogue
from gatejac.symbolic import compile_latex, document_latex

DOCS = Path(__file__).resolve().parent


def build(pages: int) -> list[Path]:
    """Write, compile and render the catalogue; return the files written."""
    tex = DOCS / "catalogue.tex"
    tex.write_text(document_latex([catalogue.get(name) for name in catalogue.names()], title="gatejac catalogue"))
    with tempfile.TemporaryDirectory() as work:  # keep .aux/.log/.toc out of docs/
        pdf = compile_latex(shutil.copy(tex, work))
        shutil.copy(pdf, DOCS / "catalogue.pdf")
        starts = section_pages(pdf.with_suffix(".toc").read_text())
    for old in DOCS.glob("catalogue-*.png"):
        old.unlink()
    pdf = DOCS / "catalogue.pdf"
    written = [tex, pdf, *(render(pdf, page) for page in range(1, pages + 1))]
    for cell in EXPANSION_CELLS:
        written += [render(pdf, page, f"{cell}-expansion-{page}") for page in expansion_pages(pdf, starts, cell)]
    return written


EXPANSION_CELLS = ("scalar_gate", "multi_gate")


def section_pages(toc: str) -> list[tuple[str, int]]:
    """``(cell, first page)`` of every cell's section, in order, from the table of contents."""
    return [(name.replace("\\_", "_"), int(page)) for name, page in
            re.findall(r"\\contentsline \{section\}\{\\numberline \{\d+\}(.*?)\}\{(\d+)\}", toc)]


def expansion_pages(pdf: Path, starts: list[tuple[str, int]], cell: str) -> list[int]:
    """The pages of ``cell``'s section that hold its first-order gate expansion (on a page
    shared with the cell before or after it, only the text after or before the description
    that opens a cell's section counts)."""
    index = [name for name, _ in starts].index(cell)
    first = starts[index][1]
    last, following = (starts[index + 1][1], starts[index + 1][0]) if index + 1 < len(starts) else (None, None)
    pages, page = [], first
    while last is None or page <= last:
        text = subprocess.run(["pdftotext", "-f", str(page), "-l", str(page), str(pdf), "-"],
                              capture_output=True, text=True).stdout
        if not text:
            break
        if page == first:
            text = text.split(catalogue.get(cell).description, 1)[-1]
        if page == last:
            text = text.split(catalogue.get(following).description, 1)[0]
        if "gate expansion" in text.lower():
            pages.append(page)
        page += 1
    return pages


def render(pdf: Path, page: int, name: str | None = None) -> Path:
    """Page ``page`` of ``pdf`` as ``<pdf stem>-<name or page>.png`` at 80 dpi."""
    stem = pdf.with_name(f"{pdf.stem}-{name or page}")
    command = ["pdftoppm", "-png", "-r", "80", "-f", str(page), "-l", str(page), "-singlefile", str(pdf), str(stem)]
    subprocess.run(command, check=True, capture_output=True)
    return stem.with_suffix(".png")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=3, metavar="K", help="render pages 1..K to PNG (default 3)")
    args = parser.parse_args(argv)
    for path in build(args.pages):
        print(f"wrote {path.relative_to(DOCS.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
