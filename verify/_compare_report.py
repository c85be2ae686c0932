"""The result of ``verify.compare``: a :class:`Comparison` of three :class:`Stage` s that prints
as a short text (``to_text``), as Markdown (``to_markdown``, for the design report) or
serialises (``to_dict``, ``to_json``).

The text follows the order of the comparison: the forward step first (if it is wrong, the
Jacobian failures follow from it, and the text says so), then the named intermediates with
the first that diverges, then every Jacobian with the spec's terms that account for the
difference (:mod:`verify._compare_terms`).  The verdict line names the first diverging
quantity, the wrong term and the parameter it belongs to.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from ._compare_terms import TermAttribution
from ._report import CheckResult

STAGES = {"forward": "forward step (your new states against the spec's step)",
          "intermediates": "named intermediates (yours against the spec's, in its evaluation order)",
          "jacobians": "Jacobians (torch.func.jacrev through yours against gatejac's closed forms)"}
"""Each stage's name and what it compares."""
_RANK = {"structure": 0, "sign-flipped": 1, "scaled": 2, "missing": 3}


@dataclass
class Stage:
    """One stage of a comparison: ``name`` (a key of :data:`STAGES`), one
    :class:`CheckResult` per compared quantity, and (intermediates) the spec's named nodes
    the implementation does not expose."""

    name: str
    results: list[CheckResult]
    not_exposed: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    @property
    def first_failure(self) -> CheckResult | None:
        return next((r for r in self.results if not r.passed), None)

    def to_dict(self) -> dict:
        return {"stage": self.name, "passed": self.passed, "not_exposed": list(self.not_exposed),
                "results": [r.to_dict() for r in self.results]}


@dataclass(frozen=True)
class Divergence:
    """Where an implementation first departs from the spec: the ``stage`` and the ``name``
    of the quantity (a node such as ``h_tilde``, a new state ``h'``, a Jacobian ``state``)."""

    stage: str
    name: str
    max_error: float | None
    tolerance: float | None


@dataclass
class Comparison:
    """What ``verify.compare`` found (see the module docstring).  ``stages`` are the
    forward step, the intermediates and the Jacobians; ``attributions`` one per failed
    Jacobian block; ``equations`` the spec's named nodes as text."""

    cell: str
    implementation: str
    convention: str
    mapping: dict[str, str]
    mapping_text: str
    sizes: dict
    seed: int
    points: int
    dtype: str
    stages: list[Stage]
    attributions: list[TermAttribution]
    equations: dict[str, str]

    @property
    def passed(self) -> bool:
        return all(stage.passed for stage in self.stages)

    def stage(self, name: str) -> Stage:
        return next(s for s in self.stages if s.name == name)

    @property
    def first_divergence(self) -> Divergence | None:
        """The first quantity in the step's evaluation order that diverges: an exposed
        intermediate, else a new state, else a Jacobian (``None`` when all agree)."""
        for name in ("intermediates", "forward", "jacobians"):
            failure = self.stage(name).first_failure
            if failure is not None:
                return Divergence(name, failure.jacobian, failure.max_error, failure.tolerance)
        return None

    @property
    def wrong_term(self) -> TermAttribution | None:
        """The attribution that points at a term of the implementation itself: a block whose
        structure differs first, then a sign flip, a scale, a missing term (fewest terms first)."""
        causes = [a for a in self.attributions if a.root_cause]
        return min(causes, key=lambda a: (_RANK[a.verdict], len(a.terms)), default=None)

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict:
        divergence, wrong = self.first_divergence, self.wrong_term
        return {"cell": self.cell, "implementation": self.implementation, "convention": self.convention,
                "passed": self.passed, "mapping": dict(self.mapping), "sizes": dict(self.sizes), "seed": self.seed,
                "points": self.points, "dtype": self.dtype,
                "first_divergence": None if divergence is None else {**divergence.__dict__},
                "wrong_term": None if wrong is None else wrong.to_dict(),
                "stages": [s.to_dict() for s in self.stages], "attributions": [a.to_dict() for a in self.attributions]}

    def to_json(self, indent: int | None = 2) -> str:
        """Strict JSON (non-finite numbers become strings, as in :meth:`Report.to_json`)."""
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False, allow_nan=False)

    def __str__(self) -> str:
        return self.to_text()

    # ------------------------------------------------------------------ text
    def to_text(self) -> str:
        """The short human report: what was called how, each stage, the verdict."""
        sizes = ", ".join(f"{k}={v}" for k, v in self.sizes.items())
        lines = [f"gatejac compare: your {self.implementation} against cell {self.cell!r}: "
                 f"{'PASSED' if self.passed else 'FAILED'}",
                 f"{self.convention}; {self.dtype}, sizes {sizes}, seed {self.seed}, {self.points} points",
                 f"parameters: {self.mapping_text}"]
        for number, stage in enumerate(self.stages, 1):
            lines += ["", f"{number}. {STAGES[stage.name]}: {self._stage_verdict(stage)}"]
            lines += [f"   {row}" for row in _table(stage.results)]
            lines += [f"   {line}" for line in self._stage_notes(stage)]
        lines += ["", self.verdict()]
        return "\n".join(lines)

    def verdict(self) -> str:
        """One line: PASSED, or what is wrong — first divergence, wrong term, parameter."""
        if self.passed:
            return "verdict: PASSED — the forward step, every exposed intermediate and every Jacobian agree"
        parts = []
        if self.stage("forward").passed and self.stage("intermediates").passed:
            parts.append("the step agrees, its derivative does not")
        forward = self.stage("forward")
        if not forward.passed:
            wrong = [r.jacobian for r in forward.results if not r.passed]
            right = [r.jacobian for r in forward.results if r.passed]
            agree = f" ({', '.join(right)} agree{'s' * (len(right) == 1)})" if right else ""
            parts.append(f"the forward step is wrong in {', '.join(wrong)}{agree} — the Jacobian failures follow "
                         "from it")
        failure = self.stage("intermediates").first_failure
        if failure is not None:
            parts.append(f"the first diverging intermediate is {failure.jacobian} = {self.equations[failure.jacobian]} "
                         f"(max error {_number(failure.max_error)} > tolerance {_number(failure.tolerance)})")
        wrong = self.wrong_term
        if wrong is not None:
            where = f"d{wrong.block[0]}'/d{wrong.block[1]}"
            owner = f", parameter {wrong.parameter}" if wrong.parameter else ""
            parts.append(f"wrong term ({wrong.verdict}): {' + '.join(wrong.terms)} of {where}{owner}")
        elif self.stage("forward").passed and not self.stage("jacobians").passed:
            parts.append("no term of the spec accounts for the difference")
        return "verdict: FAILED — " + "; ".join(parts)

    def _stage_verdict(self, stage: Stage) -> str:
        if stage.name == "intermediates" and not stage.results:
            return "none exposed"
        if stage.passed:
            return "PASSED"
        failed = sum(not r.passed for r in stage.results)
        text = f"FAILED ({failed} of {len(stage.results)})"
        if stage.name == "intermediates":
            text += f", first divergence {stage.first_failure.jacobian}"
        return text

    def _stage_notes(self, stage: Stage) -> list[str]:
        notes = [f"{r.jacobian}: {r.detail}" for r in stage.results if not r.passed and r.worst is None and r.detail]
        if stage.name == "forward" and not stage.passed:
            notes.append("the step is already wrong: the Jacobian failures below follow from it; fix the step first")
        if stage.name == "intermediates":
            failure = stage.first_failure
            if failure is not None:
                before = [r.jacobian for r in stage.results[:stage.results.index(failure)]]
                agree = f" (those before it agree: {', '.join(before)})" if before else ""
                notes.append(f"first divergence: {failure.jacobian} = {self.equations[failure.jacobian]}{agree}")
            if stage.not_exposed:
                notes.append(f"not exposed by yours: {', '.join(stage.not_exposed)} (return them in a dict, name a "
                             "submodule or attribute after them, or pass intermediates=)")
        if stage.name == "jacobians":
            for a in self.attributions:
                owner = f" (parameter {a.parameter})" if a.parameter else ""
                notes.append(f"d{a.block[0]}'/d{a.block[1]}{owner}: {a.verdict.upper()} — {a.sentence}")
                notes += [f"    {term}" for term in a.terms]
        return notes

    # ------------------------------------------------------------------ markdown
    def to_markdown(self) -> str:
        """The comparison as a Markdown section (level-3 headings), for the design report."""
        lines = [f"### Your {self.implementation} against `{self.cell}`: {'PASSED' if self.passed else 'FAILED'}", "",
                 f"{self.convention}; {self.dtype}, sizes "
                 f"{', '.join(f'{k}={v}' for k, v in self.sizes.items())}, seed {self.seed}, {self.points} points.", "",
                 f"Parameters: {_escape(self.mapping_text)}.", "",
                 f"**Verdict:** {_escape(self.verdict().removeprefix('verdict: '))}"]
        for number, stage in enumerate(self.stages, 1):
            lines += ["", f"#### {number}. {STAGES[stage.name]}: {self._stage_verdict(stage)}", ""]
            if stage.results:
                lines += ["| quantity | result | max error | tolerance | worst entry |", "|---|---|---|---|---|"]
                lines += [f"| `{r.jacobian}` | {r.status} | {_number(r.max_error)} | {_number(r.tolerance)} | "
                          f"{_entry(r)} |" for r in stage.results]
            notes = self._stage_notes(stage)
            if notes:
                lines += [""] + [f"- {_escape(note.strip())}" if not note.startswith("    ") else f"  `{note.strip()}`"
                                 for note in notes]
        return "\n".join(lines) + "\n"


def _table(results: list[CheckResult]) -> list[str]:
    """One aligned line per result: quantity, result, max error, tolerance, worst entry."""
    if not results:
        return []
    rows = [("quantity", "result", "max error", "tolerance", "worst entry")]
    rows += [(r.jacobian, r.status, _number(r.max_error), _number(r.tolerance), _entry(r)) for r in results]
    widths = [max(len(row[k]) for row in rows) for k in range(4)]
    return ["  ".join([*(text.ljust(w) for text, w in zip(row, widths)), row[4]]).rstrip() for row in rows]


def _escape(text: str) -> str:
    """``text`` with Markdown's emphasis characters escaped (term texts hold ``*`` and ``_``)."""
    return "".join("\\" + c if c in "\\*_`[]" else c for c in text)


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.1e}"


def _entry(result: CheckResult) -> str:
    if result.row is None:
        return "-"
    return f"{result.row}" + ("" if result.column in (None, "value") else f" / {result.column}")
