"""``verify.design_report``: one page that validates a new gate design — is the derivation right,
is the PyTorch implementation right, and what does the gate do to time-scales and gradient flow?

:func:`design_report` builds, in this order (each section only where it applies):

1. the equations and every Jacobian in closed form, the gate split J = A + B
   (:mod:`verify._design_report_sections`; docs/theory.md: “The gate split”);
2. every oracle's verdict (``verify.check`` at its default sizes), the mutation catch rate
   (``verify.mutation_suite`` at n = 3, other sizes 2) and, given an ``implementation``, the
   comparison with it (``verify.compare``: forward outputs, named intermediates, every Jacobian);
3. the analyses at initialisation at ``sizes`` (default n = 64, other sizes 8), each with a figure
   and one sentence (:mod:`verify._design_report_analyses`): the Jacobian spectrum against the
   zero-fixed-point disk of Can, Krishnamurthy & Schwab 2020 (arXiv:2002.00025), the Lyapunov
   spectrum, the effective learning rate over lags with the zeroth-order predictor (Livi 2025,
   arXiv:2508.12121, Section VII-A), the expansion validity r_j = ‖B_j‖₂/‖A_j‖₂ and the
   slow-mode fraction.

Progress goes to stderr (``verify._progress``).  :meth:`DesignReport.write` writes
``report.html`` (self-contained: inline CSS, MathML, figures as data URIs), ``report.md`` and
``report.json`` atomically (``verify._cli_output``).  An LSTM-sized cell (n = 64) takes well under
two minutes (the README gives measured times).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import gatejac
from gatejac.symbolic import Cell, GatejacError, derive

from . import _cli_output as output
from ._cells import resolve_cell
from ._check import check
from ._compare import prepare, run_comparison
from ._design_report_analyses import analysis_sections, initial_network
from ._design_report_html import report_html, report_markdown
from ._design_report_sections import (
    ReportError, Section, comparison_section, equations_section, jacobian_sections, mutation_section, oracle_section,
)
from ._mutations import mutation_suite
from ._progress import Progress
from ._sizes import checked_sizes, size_names

ANALYSIS_SIZES = {"n": 64}
"""Sizes of the analyses at initialisation; any other size defaults to :data:`OTHER_SIZE`."""
OTHER_SIZE = 8
ANALYSES = 5
"""Analyses a cell with a gate gets (one fewer without: no expansion validity)."""
FILES = ("report.html", "report.md", "report.json")


@dataclass(frozen=True)
class DesignReport:
    """The sections of one cell's design report, the settings it was built with and how long it
    took; :meth:`to_html`, :meth:`to_markdown`, :meth:`to_dict` render it, :meth:`write` saves it."""

    cell: str
    sections: tuple[Section, ...]
    settings: Mapping = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        """Whether no section failed (the oracles, the mutations and the comparison)."""
        return all(s.passed is not False for s in self.sections)

    def section(self, key: str) -> Section | None:
        """The section called ``key`` (``"gate_split"``, ``"spectrum"``, …), or None if absent."""
        return next((s for s in self.sections if s.key == key), None)

    @property
    def keys(self) -> list[str]:
        """The keys of the sections present, in report order."""
        return [s.key for s in self.sections]

    def _summary(self) -> list[str]:
        verdicts = [f"{s.title}: {'PASS' if s.passed else 'FAIL'}" for s in self.sections if s.passed is not None]
        sizes = ", ".join(f"{k} = {v}" for k, v in self.settings.get("sizes", {}).items())
        return ["; ".join(verdicts) + ".", f"Analyses at initialisation at {sizes}, seed {self.settings.get('seed')}."]

    def _footer(self) -> str:
        return (f"gatejac {gatejac.__version__} · built in {self.seconds:.0f} s · "
                f"{self.settings.get('command', '')}").rstrip(" ·")

    def to_html(self) -> str:
        """The self-contained page (no network: CSS inline, MathML, figures as data URIs)."""
        return report_html(f"Design report: {self.cell}", self._summary(), list(self.sections), self._footer())

    def to_markdown(self) -> str:
        """The report as Markdown: equations in ``$$`` blocks, figures named (they are in the HTML)."""
        return report_markdown(f"Design report: {self.cell}", self._summary(), list(self.sections), self._footer())

    def to_dict(self) -> dict:
        """The JSON record: verdict, settings, build time and every section's data."""
        return {"cell": self.cell, "passed": self.passed, "gatejac": gatejac.__version__,
                "settings": dict(self.settings), "seconds": round(self.seconds, 1),
                "sections": [s.to_dict() for s in self.sections]}

    def to_json(self) -> str:
        """:meth:`to_dict` as strict JSON."""
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False, allow_nan=False)

    def write(self, out: str | Path) -> list[Path]:
        """Write :data:`FILES` into ``out`` (created if missing), each atomically; a
        :class:`ReportError` if one cannot be written."""
        paths = _prepared(out)
        contents = (self.to_html(), self.to_markdown(), self.to_json())  # render all before writing any
        notes = ("open in a browser; no network needed", "the same report as Markdown", "every section's data")
        for path, content, note in zip(paths, contents, notes):
            if not output.write(path, content, f"the report {path.name}", note):
                raise ReportError(f"could not write {path}; see the message above")
        return paths


def design_report(cell: Cell | str, *, implementation=None, mapping=None, intermediates=None,
                  out: str | Path | None = None, sizes: Mapping[str, int] | None = None, seed: int = 0,
                  progress: bool = True,
                  command: str = "") -> DesignReport:
    """Build the design report of ``cell`` (a :class:`symbolic.Cell` or catalogue name) and, with
    ``out``, write ``report.html``, ``report.md`` and ``report.json`` there (module docstring).

    ``implementation`` (a ``torch.nn.Module``, its class, or a step function), ``mapping`` and
    ``intermediates`` go to ``verify.compare``; ``sizes`` are those of the analyses at
    initialisation (default n = 64, other sizes 8); ``seed`` seeds the checks and the
    initialisation; ``progress`` shows a progress bar on stderr; ``command`` is recorded in the
    footer (the CLI passes its command line).

    Example::

        report = verify.design_report("gru_torch", out="gru_report")   # writes gru_report/report.html
        print(report.section("lyapunov").sentence)
    """
    start = time.perf_counter()
    cell = resolve_cell(cell, "design_report", ReportError)
    comparing = None if implementation is None else prepare(  # a bad implementation or mapping fails before any work
        cell, implementation, mapping=mapping, intermediates=intermediates)
    defaults = {name: ANALYSIS_SIZES.get(name, OTHER_SIZE) for name in size_names(cell)}
    sizes = checked_sizes(cell, sizes, where="design_report(sizes=...)", defaults=defaults)
    derivation = derive(cell)
    sections: list[Section] = []
    total = 3 + (implementation is not None) + 1 + ANALYSES  # spec, oracles, [comparison], mutations, init, analyses
    if out is not None:
        _prepared(out)  # an unwritable directory fails now, not after the work
    small = {name: 3 if name == "n" else 2 for name in size_names(cell)}
    stages = [("equations and Jacobians", lambda: [equations_section(cell), *jacobian_sections(derivation)]),
              ("oracles", lambda: [oracle_section(check(cell, seed=seed, derivation=derivation))])]
    if implementation is not None:
        stages.append(("implementation", lambda: [comparison_section(run_comparison(*comparing, seed=seed))]))
    stages.append(("mutations", lambda: [mutation_section(mutation_suite(cell, sizes=small, seed=seed))]))
    with Progress(total, f"report {cell.name}", enabled=progress) as bar:
        for label, stage in stages:
            sections += _staged(bar, label, stage)
        sections += _analyses(cell, sizes, seed, bar)
    settings = {"sizes": dict(sizes), "seed": seed, "initialisation": "gaussian (weights N(0, 1/fan-in), biases 0)",
                "implementation": None if implementation is None else _name(implementation), "command": command}
    report = DesignReport(cell.name, tuple(sections), settings, time.perf_counter() - start)
    if out is not None:
        report.write(out)
    return report


def _analyses(cell: Cell, sizes: dict, seed: int, bar: Progress) -> list[Section]:
    """The analyses that apply; a cell that cannot be initialised (a fixed parameter without a
    default) gets one section saying why instead."""
    bar.skip(0, "initialisation …")
    try:
        network = initial_network(cell, sizes, seed)
    except GatejacError as exc:
        bar.skip(1 + ANALYSES, "analyses: the cell cannot be initialised")
        return [Section("analyses", "Analyses at initialisation",
                        f"Not run: the cell cannot be initialised without more input ({exc}).")]
    bar.advance("initialisation")
    chosen = analysis_sections(network)
    sections = [section for key, function in chosen
                for section in _staged(bar, key.replace("_", " "), lambda: [function(network)])]
    bar.skip(ANALYSES - len(chosen))  # a cell without a gate has no expansion section
    return sections


def _staged(bar: Progress, label: str, stage) -> list[Section]:
    """Run ``stage``, the bar saying ``label …`` while it runs and ``label`` when it is done."""
    bar.skip(0, f"{label} …")
    sections = stage()
    bar.advance(label)
    return sections


def _prepared(out: str | Path) -> list[Path]:
    """The paths of :data:`FILES` in ``out``, created if missing and checked writable."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ReportError(f"out={str(out)!r} is a file; give a directory for {', '.join(FILES)}")
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / name for name in FILES]
    for path, what in zip(paths, ("the HTML report", "the Markdown report", "the JSON report")):
        output.claim(path, what)
    return paths


def _name(implementation) -> str:
    kind = implementation if isinstance(implementation, type) else type(implementation)
    return getattr(implementation, "__qualname__", None) or kind.__qualname__
