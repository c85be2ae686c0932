"""The sections of a design report (``verify.design_report``) that come from the spec and its
checks: the equations, every Jacobian, the gate split, every oracle's verdict, the mutation
catch rate and the comparison with the user's implementation.

A :class:`Section` is plain data — a title, ONE sentence on what it means, LaTeX displays, a
table, a PNG figure, Markdown text and the JSON record — that :mod:`verify._design_report_html`
renders as HTML (the LaTeX as MathML) and Markdown.  A section appears only when it applies: a
cell without a marked gate has no gate split (docs/theory.md: “The gate split”).

The Jacobians are those of ``symbolic.derivation_latex`` (Livi 2025, arXiv:2508.12121, for the
gate split J = A + B and the first-order gate expansion), split into its titled groups.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from gatejac.symbolic import Cell, Derivation, GatejacError, cell_latex, derivation_latex

GATE_SPLIT_TITLE = "Gate split"
EXPANSION_TITLE = "Gate expansion"
"""How ``derivation_latex`` starts the titles of its gate-split and gate-expansion groups."""


class ReportError(GatejacError, ValueError):
    """A design report that cannot be built as asked (an implementation without a comparison to
    run it, an output directory that cannot be written)."""


@dataclass(frozen=True)
class Section:
    """One section of a design report.

    ``key`` names it in ``report.json``; ``sentence`` is the one sentence on what it means;
    ``math`` holds ``(caption, LaTeX display)`` pairs, ``table`` a header row then rows,
    ``figure`` PNG bytes (``alt`` says what it shows), ``text`` Markdown shown as is, ``data``
    the section's JSON record and ``passed`` its verdict (``None`` for an analysis)."""

    key: str
    title: str
    sentence: str
    math: tuple[tuple[str, str], ...] = ()
    table: tuple[tuple[str, ...], ...] = ()
    figure: bytes | None = None
    alt: str = ""
    text: str = ""
    data: Mapping = field(default_factory=dict)
    passed: bool | None = None

    def to_dict(self) -> dict:
        """The JSON record: everything but the figure's bytes (``report.html`` embeds them)."""
        record = {"key": self.key, "title": self.title, "sentence": self.sentence, "passed": self.passed,
                  "math": [{"caption": caption, "latex": tex} for caption, tex in self.math],
                  "table": [list(row) for row in self.table], "figure": self.alt if self.figure else None}
        return record | ({"data": dict(self.data)} if self.data else {})


# ---------------------------------------------------------------------- the spec
def equations_section(cell: Cell) -> Section:
    """The cell's equations (``symbolic.cell_latex``): named intermediates, gates, updates."""
    about = [cell.description or cell.name]
    about += [f"reference: {cell.reference}"] if cell.reference else []
    about += [f"convention: {cell.convention}"] if cell.convention else []
    gates = ", ".join(g.name for g in cell.gates) or "none"
    sentence = (f"{'; '.join(about)}; {len(cell.states)} state(s) "
                f"({', '.join(s.name for s in cell.states)}), marked gates: {gates}.")
    return Section("equations", "Equations", sentence, math=(("", cell_latex(cell)),),
                   data={"states": [s.name for s in cell.states], "inputs": [x.name for x in cell.inputs],
                         "parameters": [p.name for p in cell.parameters], "gates": [g.name for g in cell.gates]})


def derivation_groups(derivation: Derivation) -> list[tuple[str, str]]:
    r"""``(title, aligned block)`` for each titled group of ``symbolic.derivation_latex`` (an
    ``array`` whose rows alternate ``\text{title}`` and an ``aligned`` block); the title is
    still LaTeX text (``\ensuremath{…}`` around math)."""
    body = derivation_latex(derivation).removeprefix("\\begin{array}{l}\n").removesuffix("\n\\end{array}")
    rows = body.split(" \\\\[1ex]\n")
    groups = []
    for title, block in zip(rows[::2], rows[1::2]):
        match = re.fullmatch(r"\\text\{(.*)\}", title, flags=re.S)
        groups.append((match.group(1) if match else title, block))
    return groups


def jacobian_sections(derivation: Derivation) -> list[Section]:
    """Every Jacobian (state, input, parameters) and, for a cell with a marked gate, the gate
    split J = A + B and the first-order gate expansion, each on its own (docs/theory.md: “The
    gate split”, “The first-order gate expansion”)."""
    cell = derivation.cell
    groups = derivation_groups(derivation)
    split = tuple(g for g in groups if g[0].startswith(GATE_SPLIT_TITLE))
    expanded = [g for g in groups if g[0].startswith(EXPANSION_TITLE)] if cell.gates else []
    rest = tuple(g for g in groups if g not in split and g not in expanded)
    captions = [title.removeprefix(f"{EXPANSION_TITLE}: ") for title, _ in expanded]
    expansion = tuple((c[:1].upper() + c[1:], block) for c, (_, block) in zip(captions, expanded))
    sections = [Section("jacobians", "Jacobians",
                        "Every Jacobian in closed form, numerator layout J[i, j] = ∂out_i/∂in_j, derived by "
                        "gatejac from the equations above (docs/theory.md: “Conventions”).", math=rest)]
    if cell.gates:
        names = ", ".join(g.name for g in cell.gates)
        sections.append(Section(
            "gate_split", "Gate split J = A + B",
            f"A is the state Jacobian with the marked gates ({names}) frozen, B the terms that exist only because "
            "a gate reads the state; the first-order gate expansion treats B as the perturbation "
            "(Livi 2025, arXiv:2508.12121; docs/theory.md: “The gate split”).",
            math=split, data={"gates": [g.name for g in cell.gates]}))
        sections.append(Section(
            "gate_expansion", "First-order gate expansion",
            "The product of step Jacobians M_j(ε) = A_j + εB_j over a window, expanded to first order in the gate "
            "term ε, with its remainder bound and the diagonal effective learning rate it predicts "
            "(Livi 2025, arXiv:2508.12121; docs/theory.md: “The first-order gate expansion”).", math=expansion))
    return sections


# ---------------------------------------------------------------------- the checks
def oracle_section(report) -> Section:
    """Every oracle's verdict on every Jacobian kernel (``verify.check``)."""
    results = report.results
    passed = sum(r.passed for r in results if not r.skipped)
    checked = sum(not r.skipped for r in results)
    oracles = sorted({r.oracle for r in results})
    rows = [("Jacobian", "oracle", "result", "max error", "tolerance")]
    rows += [(r.jacobian, r.oracle, r.status, _number(r.max_error), _number(r.tolerance)) for r in results]
    sizes = ", ".join(f"{k} = {v}" for k, v in report.sizes.items())
    verdict = "every compiled Jacobian agrees" if report.passed else "some compiled Jacobians disagree"
    sentence = (f"{passed} of {checked} comparisons pass at {report.points} random points ({sizes}): {verdict} with "
                f"the oracles ({', '.join(oracles)}) within the dtype- and scale-derived tolerances.")
    return Section("oracles", "Oracles", sentence, table=tuple(rows), passed=report.passed,
                   text="" if report.passed else "```\n" + report.to_text() + "\n```", data=report.to_dict())


def mutation_section(mutations) -> Section:
    """The mutation catch rate (``verify.mutation_suite``): proof that the checks can fail."""
    rows = [("kind", "made", "caught", "failure names the term", "not made")]
    rows += [(kind, str(made), str(caught), str(named), str(skipped))
             for _, kind, made, caught, named, skipped in mutations.rows()]
    made, caught = len(mutations.outcomes), len(mutations.caught)
    rate = "no mutation could be made" if not made else f"{caught} of {made} ({caught / made:.0%})"
    sentence = (f"Deliberately broken Jacobians (each term dropped, sign-flipped, transposed, or reading the "
                f"updated state inside a gate): {rate} are caught, so the verdicts above can fail.")
    return Section("mutations", "Mutation catch rate", sentence, table=tuple(rows),
                   passed=bool(made) and caught == made, data=mutations.to_dict())


def comparison_section(comparison) -> Section:
    """The user's implementation against the spec (``verify.compare``): forward outputs,
    named intermediates, then every Jacobian, the first divergence named."""
    if comparison.passed:
        sentence = "The implementation computes the spec: forward outputs, intermediates and every Jacobian agree."
    else:
        what = comparison.verdict().split(" — ", 1)[-1]  # the first divergence, the wrong term, the parameter
        sentence = f"The implementation departs from the spec: {what}."
    return Section("implementation", "Implementation", sentence, text=comparison.to_markdown(),
                   passed=comparison.passed, data=comparison.to_dict())


def _number(value) -> str:
    return "–" if value is None else f"{value:.1e}"
