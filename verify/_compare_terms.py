"""Which of the spec's terms accounts for the difference between an implementation's
Jacobian block and the derived one.

For one block ``∂s'/∂w`` of a failed Jacobian, ``D = J_yours − J_spec`` (autograd through
the implementation minus gatejac's kernel) is compared with the block's derived terms
``T_k``, each evaluated exactly by :class:`~verify._terms.TermValues` at the same points
and samples.  Two fits, at the tolerance the Jacobian was compared at (``"ad"``; float32:
``"reference"``):

1. *one coefficient per term*, shared by every sample and point: ``D ≈ Σ_k a_k T_k``.  A
   term with ``a_k = −1`` is **missing** from the implementation (dropped, or cut by a
   ``detach()``), ``a_k = −2`` **sign-flipped**, any other nonzero ``a_k`` **scaled**.  These
   differences are in the implementation's derivative itself (its forward step may be right).
   A fitted coefficient counts as exactly 0, −1 or −2 when the fit still holds, at the same
   tolerance, with it set to that value — no threshold on the coefficients themselves.
2. *one coefficient per term and row* (each sample and output entry its own): the spec's
   terms with other diagonal coefficients.  When this fits, the implementation's block has
   the structure of the spec's, with different values on its diagonals — values that follow
   from a wrong forward step or intermediate.  Terms whose coefficient is 0 in the
   implementation are named **missing**.  The fit is only decisive when a row has more
   entries than there are terms.
3. Otherwise no combination of the spec's terms gives the implementation's block: its
   **structure** differs (e.g. ``W_h`` multiplies ``h`` where the spec has ``f ⊙ h``).  The
   block's term whose entries carry the most of the unexplained difference is named — every
   such term when several fill the same entries (dense terms of a state block), so that the
   verdict prefers a block where one term is singled out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gatejac.symbolic import Jacobian, term_text

from ._comparison import max_abs
from ._terms import TermValues
from ._tolerances import tolerance

VERDICTS = ("missing", "sign-flipped", "scaled", "values", "structure", "undetermined")
"""What a :class:`TermAttribution` found (see the module docstring)."""


@dataclass(frozen=True)
class TermAttribution:
    """One failed block: ``verdict`` (one of :data:`VERDICTS`), the spec's ``terms`` it names
    (the term texts of ``symbolic.derive``) and a sentence saying what they mean."""

    jacobian: str
    block: tuple[str, str]
    verdict: str
    terms: tuple[str, ...]
    sentence: str
    parameter: str | None = None

    @property
    def root_cause(self) -> bool:
        """Whether the block points at a term of the implementation itself (not at values
        that follow from a wrong forward step)."""
        return self.verdict in ("missing", "sign-flipped", "scaled", "structure")

    def to_dict(self) -> dict:
        return {"jacobian": self.jacobian, "block": list(self.block), "verdict": self.verdict,
                "terms": list(self.terms), "sentence": self.sentence, "parameter": self.parameter}


def attribute_block(values: TermValues, jacobian: str, block: tuple[str, str], derived: Jacobian,
                    yours: np.ndarray, substitutions: list[dict], parameter: str | None,
                    oracle: str = "ad", dtype: str = "float64") -> TermAttribution:
    """Attribute ``yours − Σ derived terms`` (``yours``: ``(len(substitutions), rows, cols)``)
    at the tolerance of ``oracle`` and ``dtype`` (those the Jacobian was compared at)."""
    terms = derived.terms
    texts = [term_text(values.cell, t) for t in terms]
    stacked = np.stack([values.block((t,), derived, *substitutions) for t in terms]) if terms else \
        np.zeros((0, *yours.shape))
    spec = stacked.sum(axis=0) if terms else np.zeros_like(yours)
    difference = yours - spec
    tol = tolerance(oracle, dtype, max(max_abs(spec), max_abs(yours)))
    bound = tol.bound(np.abs(spec))
    make = lambda verdict, chosen, sentence: TermAttribution(  # noqa: E731
        jacobian, block, verdict, tuple(texts[k] for k in chosen), sentence, parameter)
    if not terms:
        return make("structure", [], "the spec's block is zero; yours is not")
    flat = stacked.reshape(len(terms), -1).T
    shared = _fit(flat, difference.ravel())
    if np.all(np.abs(flat @ shared - difference.ravel()) <= bound.ravel()):
        return _shared_verdict(make, _snapped(shared, lambda a: np.all(np.abs(flat @ a - difference.ravel())
                                                                       <= bound.ravel()), (0.0, -1.0, -2.0)))
    coefficients = _row_fits(stacked, difference)  # (terms, samples, rows): yours = Σ (1 + c) T
    fitted = lambda c: np.einsum("ksi,ksij->sij", c, stacked)  # noqa: E731
    if np.all(np.abs(fitted(coefficients) - difference) <= bound):
        if yours.shape[-1] <= len(terms):
            return make("undetermined", [], f"a row has {yours.shape[-1]} entries for {len(terms)} terms: "
                                            "no fit can say which term differs")
        snapped = _snapped(coefficients, lambda c: np.all(np.abs(fitted(c) - difference) <= bound), (0.0, -1.0))
        active = [bool(np.any(stacked[k])) for k in range(len(terms))]
        missing = [k for k in range(len(terms)) if active[k] and np.all(snapped[k] == -1.0)]
        if missing:
            return make("missing", missing, "your block lacks these terms of the spec; the others have the "
                                             "spec's structure with other values on their diagonals")
        changed = [k for k in range(len(terms)) if active[k] and not np.all(snapped[k] == 0.0)]
        return make("values", changed, "the spec's structure with other values on these terms' diagonals: "
                                       "values that follow from a wrong forward step or intermediate")
    residual = difference - fitted(coefficients)
    share = [float(np.linalg.norm(residual * (stacked[k] != 0))) for k in range(len(terms))]
    tied = [k for k in range(len(terms)) if share[k] == max(share)]  # terms filling the same entries tie exactly
    return make("structure", tied, "no combination of the spec's terms gives your block: the structure differs, "
                + ("in this term's place" if len(tied) == 1 else "in the place of one of these terms (they fill "
                   "the same entries)"))


def _snapped(coefficients: np.ndarray, fits, choices: tuple[float, ...]) -> np.ndarray:
    """``coefficients`` (one entry, or one array, per term) with each term's set exactly to one
    of ``choices`` wherever the fit still holds (``fits``: the attribution's tolerance), the
    terms nearest a choice first; the others keep their fitted values."""
    out = coefficients.copy()
    distance = lambda k, c: float(np.max(np.abs(coefficients[k] - c)))  # noqa: E731
    for k in sorted(range(len(out)), key=lambda k: min(distance(k, c) for c in choices)):
        for choice in sorted(choices, key=lambda c: distance(k, c)):
            trial = out.copy()
            trial[k] = choice
            if fits(trial):
                out = trial
                break
    return out


def _shared_verdict(make, shared: np.ndarray) -> TermAttribution:
    """The verdict of one coefficient per term, each snapped to 0, −1 or −2 where it fits."""
    for verdict, value, sentence in (("missing", -1.0, "these terms of the spec are missing from your derivative "
                                                       "(a path your code does not take, or one cut by a detach())"),
                                     ("sign-flipped", -2.0, "these terms of the spec have the opposite sign in "
                                                            "your derivative")):
        chosen = [k for k, a in enumerate(shared) if a == value]
        others = [k for k, a in enumerate(shared) if a not in (0.0, value)]
        if chosen and not others:
            return make(verdict, chosen, sentence)
    chosen = [k for k, a in enumerate(shared) if a != 0.0]
    factors = ", ".join(f"{1 + shared[k]:.3g}" for k in chosen)
    return make("scaled", chosen, f"these terms of the spec appear in your derivative multiplied by {factors}")


def _fit(matrix: np.ndarray, target: np.ndarray) -> np.ndarray:
    return np.linalg.lstsq(matrix, target, rcond=None)[0]


def _row_fits(stacked: np.ndarray, difference: np.ndarray) -> np.ndarray:
    """Per (sample, row) least squares of the difference on the terms' rows: the
    coefficients ``(terms, samples, rows)``."""
    terms, samples, rows, _ = stacked.shape
    coefficients = np.zeros((terms, samples, rows))
    for s in range(samples):
        for i in range(rows):
            coefficients[:, s, i] = _fit(stacked[:, s, i, :].T, difference[s, i])
    return coefficients
