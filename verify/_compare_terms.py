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
2. *one coefficient per term and row* (each sample and output entry its own): the spec's
   terms with other diagonal coefficients.  When this fits, the implementation's block has
   the structure of the spec's, with different values on its diagonals — values that follow
   from a wrong forward step or intermediate.  Terms whose coefficient is 0 in the
   implementation are named **missing**.  The fit is only decisive when a row has more
   entries than there are terms.
3. Otherwise no combination of the spec's terms gives the implementation's block: its
   **structure** differs (e.g. ``W_h`` multiplies ``h`` where the spec has ``f ⊙ h``).  The
   block's term that reads the most of the unexplained difference is named.
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
    shared = _fit(stacked.reshape(len(terms), -1).T, difference.ravel())
    if np.all(np.abs(stacked.reshape(len(terms), -1).T @ shared - difference.ravel()) <= bound.ravel()):
        return _shared_verdict(make, shared)
    columns = yours.shape[-1]
    rows = _row_fits(stacked, difference)
    if rows is not None and np.all(np.abs(rows[1] - difference) <= bound):
        if columns <= len(terms):
            return make("undetermined", [], f"a row has {columns} entries for {len(terms)} terms: "
                                            "no fit can say which term differs")
        coefficients = rows[0]  # (terms, samples, rows): yours = Σ (1 + c) T
        active = [np.linalg.norm(stacked[k], axis=-1) > 0 for k in range(len(terms))]
        missing = [k for k in range(len(terms)) if active[k].any()
                   and np.allclose(coefficients[k][active[k]], -1.0, atol=1e-6)]
        changed = [k for k in range(len(terms)) if not np.allclose(coefficients[k][active[k]], 0.0, atol=1e-6)]
        if missing:
            return make("missing", missing, "your block lacks these terms of the spec; the others have the "
                                             "spec's structure with other values on their diagonals")
        return make("values", changed, "the spec's structure with other values on these terms' diagonals: "
                                       "values that follow from a wrong forward step or intermediate")
    residual = difference - (rows[1] if rows is not None else 0.0)
    share = [float(np.linalg.norm(residual * (stacked[k] != 0))) for k in range(len(terms))]
    best = int(np.argmax(share))
    return make("structure", [best], "no combination of the spec's terms gives your block: the structure "
                                     "differs, in this term's place")


def _shared_verdict(make, shared: np.ndarray) -> TermAttribution:
    for verdict, value, sentence in (("missing", -1.0, "these terms of the spec are missing from your derivative "
                                                       "(a path your code does not take, or one cut by a detach())"),
                                     ("sign-flipped", -2.0, "these terms of the spec have the opposite sign in "
                                                            "your derivative")):
        chosen = [k for k, a in enumerate(shared) if abs(a - value) <= 1e-6]
        others = [k for k, a in enumerate(shared) if k not in chosen and abs(a) > 1e-6]
        if chosen and not others:
            return make(verdict, chosen, sentence)
    chosen = [k for k, a in enumerate(shared) if abs(a) > 1e-6]
    factors = ", ".join(f"{1 + shared[k]:.3g}" for k in chosen)
    return make("scaled", chosen, f"these terms of the spec appear in your derivative multiplied by {factors}")


def _fit(matrix: np.ndarray, target: np.ndarray) -> np.ndarray:
    return np.linalg.lstsq(matrix, target, rcond=None)[0]


def _row_fits(stacked: np.ndarray, difference: np.ndarray):
    """Per (sample, row) least squares of the difference on the terms' rows:
    ``(coefficients (terms, samples, rows), fitted (samples, rows, cols))``."""
    terms, samples, rows, _ = stacked.shape
    coefficients = np.zeros((terms, samples, rows))
    fitted = np.zeros_like(difference)
    for s in range(samples):
        for i in range(rows):
            basis = stacked[:, s, i, :].T
            coefficients[:, s, i] = _fit(basis, difference[s, i])
            fitted[s, i] = basis @ coefficients[:, s, i]
    return coefficients, fitted
