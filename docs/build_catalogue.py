"""Build the catalogue document: every catalogue cell's equations and derivation.

    .venv/bin/python docs/build_catalogue.py [--pages K]

Writes ``docs/catalogue.tex`` (for each cell of ``symbolic.cells``: its equations; the state
Jacobian as definition → chain rule → closed form; the gate split; the input and parameter
Jacobians), compiles it with ``pdflatex`` (until the table of contents is stable) into
``docs/catalogue.pdf``, and renders pages 1..K to ``docs/catalogue-<page>.png`` with
``pdftoppm -png -r 80`` so the notation can be looked at without a PDF viewer.
"""

from __future__ import annotations

import argparse
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
    for old in DOCS.glob("catalogue-*.png"):
        old.unlink()
    return [tex, DOCS / "catalogue.pdf", *(render(DOCS / "catalogue.pdf", page) for page in range(1, pages + 1))]


def render(pdf: Path, page: int) -> Path:
    """Page ``page`` of ``pdf`` as ``<pdf stem>-<page>.png`` at 80 dpi."""
    stem = pdf.with_name(f"{pdf.stem}-{page}")
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
