"""The result of ``verify.check_claims``: one :class:`ClaimResult` per claim, gathered with the
spec's own check in a :class:`ClaimsReport` that prints as text or serialises to JSON.

The text says what was checked, in the user's terms: the spec's derivation against the
oracles, then every claim — "your hand-derived terms", "your function f", "your torch_step" —
with its verdict, the term-by-term attribution of a claimed block (aligned columns: status,
label, term), the blocks taken from ``symbolic.derive`` because they were
not claimed, and the table of its checks (the full failure report when it failed).  The
verdict line names what held, or what was wrong; with no claims it says that nothing was
claimed.  A failed report ends with the call that repeats it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from ._claims_attribution import BlockAttribution
from ._report import Report


@dataclass
class ClaimResult:
    """One claim: its name and kind (``"terms"``, ``"function"``, ``"torch_step"``), the
    check :class:`Report` that decides it, the name of the user's code (``code``: the
    function or step), for labelled terms the attribution, and for a torch step what is
    wrong first (``finding``: a wrong forward step, the first diverging intermediate, the
    wrong term)."""

    name: str
    kind: str
    report: Report
    attributions: list[BlockAttribution] = field(default_factory=list)
    unclaimed: list[tuple[str, str]] = field(default_factory=list)
    code: str = ""
    finding: str = ""

    @property
    def passed(self) -> bool:
        return self.report.passed

    @property
    def wrong_terms(self) -> list[str]:
        return [label for a in self.attributions for label in a.wrong]

    @property
    def description(self) -> str:
        """What the claim is, as the user's: ``your torch_step``, ``your function f``."""
        if self.kind == "terms":
            return "your hand-derived terms"
        if self.kind == "function":
            return f"your function {self.code}".rstrip()
        return f"your {self.code or 'torch step'}"

    def to_dict(self) -> dict:
        return {"claim": self.name, "kind": self.kind, "code": self.code, "passed": self.passed,
                "wrong_terms": self.wrong_terms, "attributions": [a.to_dict() for a in self.attributions],
                "unclaimed_blocks": [list(b) for b in self.unclaimed], "finding": self.finding,
                "report": self.report.to_dict()}


@dataclass
class ClaimsReport:
    """The spec's own check and one :class:`ClaimResult` per claim; ``reproduce`` is the
    call (or command) that repeats the whole check."""

    cell: str
    spec: Report
    claims: list[ClaimResult]
    source: str = ""
    reproduce: str = ""

    @property
    def passed(self) -> bool:
        return self.spec.passed and all(c.passed for c in self.claims)

    def to_dict(self) -> dict:
        return {"cell": self.cell, "source": self.source, "passed": self.passed, "reproduce": self.reproduce,
                "spec": self.spec.to_dict(), "claims": [c.to_dict() for c in self.claims]}

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False, allow_nan=False)

    def __str__(self) -> str:
        return self.to_text()

    def to_text(self) -> str:
        lines = [f"gatejac check of cell {self.cell!r}" + (f" from {self.source}" if self.source else ""), "",
                 f"spec: symbolic.derive({self.cell!r}) against the oracles: {_verdict(self.spec)}"]
        if not self.spec.passed:
            lines += _indented(self.spec.to_text())
        if not self.claims:
            lines.append("no claims given: return (cell, verify.Claims(...)) to check your own Jacobians")
        for claim in self.claims:
            lines += ["", f"claim {claim.name!r} ({claim.description}): {_verdict(claim.report)}"]
            if claim.finding:
                lines += [("  first: " if k == 0 else "         ") + line
                          for k, line in enumerate(claim.finding.splitlines())]
            for attribution in claim.attributions:
                lines += _attribution_text(attribution)
            if claim.unclaimed:
                blocks = ", ".join(f"d{o}'/d{w}" for o, w in claim.unclaimed)
                lines.append(f"  not claimed (taken from symbolic.derive): {blocks}")
            lines += _indented(claim.report.to_text() if not claim.passed else _table_only(claim.report))
        lines += ["", self._verdict_line()]
        if not self.passed and self.reproduce:
            lines += ["", "reproduce:", *(f"  {line}" for line in self.reproduce.splitlines())]
        return "\n".join(lines)

    def _verdict_line(self) -> str:
        if self.passed:
            if not self.claims:
                return "verdict: PASSED — the spec's derivation holds; nothing was claimed"
            count = len(self.claims)
            names = ", ".join(repr(c.name) for c in self.claims)
            return f"verdict: PASSED — the spec's derivation and your {count} claim{'s' * (count > 1)} ({names}) hold"
        parts = [] if self.spec.passed else ["the spec's derivation disagrees with the oracles"]
        for claim in self.claims:
            if claim.passed:
                continue
            wrong = claim.wrong_terms
            parts.append(f"claim {claim.name!r} is wrong" + (
                f" — wrong term{'s' if len(wrong) > 1 else ''}: {', '.join(map(repr, wrong))}" if wrong else "")
                + (f" — {claim.finding.splitlines()[0]}" if claim.finding else ""))
        return "verdict: FAILED — " + "; ".join(parts)


def _verdict(report: Report) -> str:
    count = len(report.results)
    return "PASSED" if report.passed else f"FAILED ({len(report.failures)} of {count} checks)"


def _indented(text: str) -> list[str]:
    return [f"  | {line}".rstrip() for line in text.splitlines()]


def _table_only(report: Report) -> str:
    return "\n".join(report.table())


def _attribution_text(attribution: BlockAttribution) -> list[str]:
    out, wrt = attribution.block
    lines = [f"  block d{out}'/d{wrt}, term by term:"]
    status_width = max((len(v.status) for v in attribution.verdicts), default=0)
    label_width = max((len(v.label) for v in attribution.verdicts), default=0)
    for verdict in attribution.verdicts:
        lines.append(f"    {verdict.status.upper():<{status_width}}  {verdict.label:<{label_width}}  {verdict.text}")
        if verdict.matches and verdict.matches != (verdict.text,):
            lines.append(f"    {'':<{status_width}}  {'':<{label_width}}  = {' + '.join(verdict.matches)}")
    if attribution.instead:
        lead = "the spec has instead" if attribution.wrong else "missing from the claim"
        lines.append(f"    {lead}: {' + '.join(attribution.instead)}")
    if attribution.note:
        lines.append(f"    ({attribution.note})")
    return lines
