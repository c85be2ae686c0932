"""Which claimed term is wrong: each claimed term of a block paired with derived terms of equal value.

Every claimed and every derived term of a block is evaluated by
:class:`~verify._terms.TermValues` (rendered on a :class:`symbolic.Instance`, evaluated
exactly) at the check's first :data:`ATTRIBUTION_POINTS` points; each claimed term is
matched to a disjoint set of derived terms with the same value (subset sums, as many
claimed terms matched as possible, at the ``"reference"`` tolerance).  A claimed term no
set matches is *wrong*, unless the block's sum agrees (the terms then split the derivation
differently: *regrouped*); the derived terms left over are what the spec has in its place.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from gatejac.symbolic import Jacobian, Term, term_text

from ._claimed_blocks import ClaimedBlock
from ._comparison import max_abs
from ._terms import TermValues
from ._tolerances import tolerance

ATTRIBUTION_POINTS = 2
"""Points at which claimed and derived terms are evaluated to pair them up."""
MAX_DERIVED_TERMS = 14
"""Largest block (in derived terms) whose 2**terms subset sums are searched."""


@dataclass(frozen=True)
class TermVerdict:
    """A claimed term's verdict: ``"ok"`` (equal to the sum of the derived terms in
    ``matches``), ``"wrong"`` (equal to no set of derived terms), ``"regrouped"`` (no set
    matches it, but the block's sum agrees: the terms split the derivation differently)
    or ``"unchecked"`` (the block is too large to pair terms)."""

    label: str
    text: str
    status: str
    matches: tuple[str, ...] = ()


@dataclass(frozen=True)
class BlockAttribution:
    """Term-by-term comparison of one claimed block with the derived one."""

    jacobian: str
    block: tuple[str, str]
    verdicts: tuple[TermVerdict, ...]
    instead: tuple[str, ...] = ()
    note: str = ""

    @property
    def wrong(self) -> list[str]:
        return [v.label for v in self.verdicts if v.status == "wrong"]

    def to_dict(self) -> dict:
        return {"jacobian": self.jacobian, "block": list(self.block), "wrong": self.wrong,
                "terms": [dataclasses.asdict(v) for v in self.verdicts], "instead": list(self.instead),
                "note": self.note}


def attribute(claimed: ClaimedBlock, derived: Jacobian, values: TermValues, points: list[dict]) -> BlockAttribution:
    """Pair the claimed terms of a block with the derived ones (see the module docstring);
    ``points`` are the substitutions (:meth:`TermValues.substitution`) to evaluate them at."""
    derived_terms = derived.terms
    if len(derived_terms) > MAX_DERIVED_TERMS:
        return BlockAttribution(claimed.jacobian, claimed.block,
                                tuple(TermVerdict(lt.label, lt.text, "unchecked") for lt in claimed.labelled),
                                note=f"the block has {len(derived_terms)} derived terms; term-by-term pairing "
                                     f"searches at most {MAX_DERIVED_TERMS}")

    def vector(terms: tuple[Term, ...]) -> np.ndarray:
        """Every entry of ``sum(terms)`` at every point, flat."""
        return values.block(terms, derived, *points).ravel()

    claimed_vectors = [vector(lt.terms) for lt in claimed.labelled]
    derived_vectors = [vector((t,)) for t in derived_terms]
    total = vector(derived_terms)
    tol = tolerance("reference", "float64", max_abs(total))
    sum_holds = _close(np.sum(claimed_vectors, axis=0) if claimed_vectors else np.zeros_like(total), total, tol)
    masks = _assignment(claimed_vectors, derived_vectors, tol)
    texts = [term_text(values.cell, t) for t in derived_terms]
    verdicts, used = [], 0
    for lt, mask in zip(claimed.labelled, masks):
        if mask is None:
            verdicts.append(TermVerdict(lt.label, lt.text, "regrouped" if sum_holds else "wrong"))
        else:
            used |= mask
            matches = tuple(t for j, t in enumerate(texts) if mask >> j & 1)
            verdicts.append(TermVerdict(lt.label, lt.text, "ok", matches))
    if sum_holds:
        note = "" if all(v.status == "ok" for v in verdicts) else \
            "the block's sum agrees; the regrouped terms split the derivation differently"
        return BlockAttribution(claimed.jacobian, claimed.block, tuple(verdicts), note=note)
    instead = tuple(t for j, t in enumerate(texts) if not used >> j & 1)
    note = "" if any(v.status == "wrong" for v in verdicts) else "every claimed term is right, but terms are missing"
    return BlockAttribution(claimed.jacobian, claimed.block, tuple(verdicts), instead, note)


def _close(a: np.ndarray, b: np.ndarray, tol) -> bool:
    return bool(np.all(np.abs(a - b) <= tol.bound(np.abs(b))))


def _assignment(claimed: list[np.ndarray], derived: list[np.ndarray], tol) -> list[int | None]:
    """For each claimed vector, a bit mask of derived vectors summing to it, masks
    disjoint, as many claimed vectors matched as possible (then as many derived covered)."""
    count = len(derived)
    sums = np.zeros((1 << count, claimed[0].size if claimed else 0))
    for mask in range(1, 1 << count):
        low = mask & -mask
        sums[mask] = sums[mask ^ low] + derived[low.bit_length() - 1]
    candidates = [[int(m) for m in np.flatnonzero(np.all(np.abs(sums - c) <= tol.bound(np.abs(c)), axis=1))]
                  for c in claimed]
    best: tuple[tuple[int, int], list[int | None]] = ((-1, -1), [])

    def search(k: int, used: int, chosen: list[int | None]) -> None:
        nonlocal best
        if k == len(claimed):
            score = (sum(m is not None for m in chosen), bin(used).count("1"))
            if score > best[0]:
                best = (score, list(chosen))
            return
        for mask in candidates[k]:
            if not mask & used:
                search(k + 1, used | mask, chosen + [mask])
        search(k + 1, used, chosen + [None])

    search(0, 0, [])
    return best[1]
