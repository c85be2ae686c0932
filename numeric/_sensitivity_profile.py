"""Effective learning rates of a trajectory: the normalised sensitivity profile, the
zeroth-order gate-product predictor, the trimmed log–log slope and the fitted-power profile
(Livi 2025, arXiv:2508.12121, Section VII-A, experiment S1).

With S_{t,k} = ‖Φ(t, k)‖₂ (:func:`sensitivities`) and the pairs of a lag h (all probe
sequences b and all t − k = h):

* profile            μ̃_eff(h) = median_{t−k=h} S / (median_{t−k=1} S + 10⁻¹²),   h = 1..T;
* predictor          P_{t,k} = (1/U) Σ_i Π_j w_{j,i}  (the mean over the U state units is
                     taken after the product), with the per-step factor w_j of ``predictor=``:
  - ``"write"``: w_j = 1 − λ_j, the write fraction — α for the leaky cell (P = α^{t−k}),
    the gate g_j for the scalar gate (P = Π g_j) and the gate vector for the multi-gate
    (P = (1/N) Σ_i Π g_{j,i}): the paper's zeroth-order predictor, the coefficient of the
    pure-recurrent path of A_t ⋯ A_{k+1};
  - ``"retention"``: w_j = λ_j, the retention product Π λ_j, the pure-retention path;
  - ``"auto"`` (default): ``"write"`` for the paper's cells (catalogue names ``leaky``,
    ``leaky_dt``, ``scalar_gate``, ``multi_gate``), ``"retention"`` for every other cell;
  where λ_j is the retention of ``gatejac.symbolic.expand(cell).retention`` (per state: the
  terms of the frozen-gate block ∂s'/∂s that are diagonal without a matrix factor — 1 − g,
  1 − α, z for the torch GRU, f for an LSTM's memory, 0 when there is none, e.g. Elman or an
  LSTM's h), evaluated at every step from the compiled cell's intermediates and parameters
  and broadcast to each state's units (U = S, the stacked state);
  the steps j: k+1..t (t − k factors, as many as Φ(t, k) has) in the ``"exact"`` convention;
  in the ``"author"`` convention the public code's bookkeeping — a cell with gates also counts
  the factor of step k (j = k..t, t − k + 1 factors), a cell without gates does not (α^{t−k});
* predicted profile  μ̃_pred(h) = median_{t−k=h} P / (median_{t−k=1} P + 10⁻¹²);
* slope              s, a: OLS of ln S = a + s ln P over the pairs with finite logs (S, P > 0)
                     whose P lies between its ``trim`` and 1 − ``trim`` quantiles (NumPy's
                     linear interpolation), with R² = 1 − SS_res/SS_tot; NaN with fewer than
                     ``min_points`` (50) pairs in the fit or SS_tot = 0 for R²;
* fitted profile     μ̃_fit(h) = (μ̃_pred(h) + 10⁻¹²)^s (NaN when s is; the public code falls
                     back to s = 1 there).

Products of factors are summed in logarithms (signs and zeros counted apart), so P does not
over- or underflow before the mean; ln P is NaN where the mean of signed products is negative.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from gatejac.symbolic import expand

from ._arrays import arrays, to_numpy
from ._errors import ArgumentError, check_integer, is_real
from ._expansion import check_convention
from ._printer import print_array
from ._sensitivity import Sensitivities, check_trajectory, exp_of_log_values, sensitivities
from ._trajectory import Trajectory

PREDICTORS = ("auto", "write", "retention")
"""The values of ``predictor=``: the write product Π (1 − λ_j), the retention product Π λ_j, or
``"auto"`` (write for the paper's cells, retention otherwise); see the module docstring."""
WRITE_CELLS = ("leaky", "leaky_dt", "scalar_gate", "multi_gate")
"""Catalogue cells whose ``predictor="auto"`` is the write product (the paper's predictors)."""
GUARD = 1e-12


class Predictor(NamedTuple):
    """``log_values[..., t, k]`` = ln P_{t,k} (NaN where not covered, as for the
    sensitivities); ``kind`` is ``"write"`` or ``"retention"``."""

    log_values: np.ndarray
    kind: str
    convention: str

    values = exp_of_log_values("P_{t,k} (0 where it underflows).")


class SlopeFit(NamedTuple):
    """The trimmed log–log fit ln S = intercept + slope · ln P over ``points`` pairs with
    P in [``low``, ``high``]; NaN where there were too few points."""

    slope: float
    intercept: float
    r_squared: float
    low: float
    high: float
    points: int


class EffectiveLR(NamedTuple):
    """S1 at one set of parameters: ``lags`` (1..T), the empirical ``profile`` μ̃_eff, the
    ``predicted`` μ̃_pred and ``fitted`` μ̃_fit profiles, the ``fit``, and the
    ``sensitivities`` and ``predictor`` they come from."""

    lags: np.ndarray
    profile: np.ndarray
    predicted: np.ndarray
    fitted: np.ndarray
    fit: SlopeFit
    sensitivities: Sensitivities
    predictor: Predictor


# ------------------------------------------------------------------------------ predictor
def predictor_kind(cell, predictor: str) -> str:
    """``"write"`` or ``"retention"`` for ``predictor=`` on ``cell`` (``"auto"`` resolved)."""
    if predictor not in PREDICTORS:
        raise ArgumentError(f"predictor={predictor!r} is not one of {list(PREDICTORS)}: 'write' is the product of "
                            "write fractions 1 − λ (the paper's), 'retention' the product of retentions λ")
    if predictor == "auto":
        return "write" if cell.name in WRITE_CELLS else "retention"
    return predictor


def step_retention(trajectory: Trajectory):
    """λ_j at every step as a NumPy array ``(T, B, S)`` (batch flattened, index j−1 = step j):
    each state's retention from ``symbolic.expand(cell).retention``, evaluated from the
    compiled cell's intermediates at (s_{j−1}, x_j) and the parameters."""
    compiled = trajectory.compiled
    xp = arrays(compiled.backend)
    states = {name: value[:-1] for name, value in trajectory.states.items()}
    inputs = dict(trajectory.inputs)
    names = {**trajectory.params, **compiled.intermediates(states, inputs, trajectory.params), "_B": xp}
    pieces = []
    for state, expression in expand(compiled.cell).retention.items():
        code = print_array(expression)
        try:
            value = eval(code, {"__builtins__": {}}, names)  # noqa: S307 - our own printed expression
        except NameError as error:
            raise ArgumentError(f"the retention {expression} of state {state!r} of cell {compiled.cell.name!r} uses "
                                f"a value that is neither a parameter nor a named intermediate ({error}); "
                                "name it with cell.let(...) or pass predictor='write'/'retention' explicitly") from None
        value = to_numpy(value.detach() if hasattr(value, "detach") else value) if not is_real(value) else value
        shape = tuple(states[state].shape)
        pieces.append(np.broadcast_to(np.asarray(value, dtype=np.float64), shape))
    stacked = np.concatenate(pieces, axis=-1)
    return stacked.reshape((trajectory.steps, -1, trajectory.state_size))


def _log_products(factors: np.ndarray):
    """Cumulative ln|Π|, sign parity and zero counts of a ``(T, B, U)`` stack of factors,
    each ``(T+1, B, U)`` with index j covering steps 1..j."""
    zero = factors == 0
    with np.errstate(divide="ignore"):
        logs = np.where(zero, 0.0, np.log(np.abs(np.where(zero, 1.0, factors))))
    pad = np.zeros((1,) + factors.shape[1:])
    cumulative = [np.concatenate([pad, np.cumsum(part, axis=0)]) for part in (logs, factors < 0, zero)]
    return cumulative[0], cumulative[1].astype(np.int64), cumulative[2].astype(np.int64)


def _mean_of_products(logs, negatives, zeros):
    """ln((1/U) Σ_i ±e^{logs_i}) over the last axis (a product with a zero factor counts as 0):
    −inf when all vanish, NaN when the signed mean is negative."""
    logs = np.where(zeros > 0, -np.inf, logs)
    top = np.max(logs, axis=-1, keepdims=True)
    finite_top = np.where(np.isfinite(top), top, 0.0)
    signs = np.where(negatives % 2 == 1, -1.0, 1.0)
    total = np.sum(signs * np.exp(logs - finite_top), axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return finite_top[..., 0] + np.log(total) - np.log(logs.shape[-1])


def gate_products(trajectory: Trajectory, predictor: str = "auto", convention: str = "exact") -> Predictor:
    """ln P_{t,k}, the zeroth-order predictor of every pair (see the module docstring), as
    :class:`Predictor` with ``log_values`` ``(*batch, T+1, T+1)`` indexed ``[..., t, k]``."""
    trajectory = check_trajectory(trajectory, "gate_products")
    convention = check_convention(convention)
    kind = predictor_kind(trajectory.compiled.cell, predictor)
    retention = step_retention(trajectory)
    logs, negatives, zeros = _log_products(1 - retention if kind == "write" else retention)
    steps = trajectory.steps
    extra = 1 if convention == "author" and trajectory.compiled.cell.gates else 0
    result = np.full((retention.shape[1], steps + 1, steps + 1), np.nan)
    for lag in range(1, steps + 1):
        first = 1 if convention == "author" else 0  # the pairs the convention covers: k ≥ first
        ends = np.arange(first + lag, steps + 1)
        begins = ends - lag - extra
        value = _mean_of_products(logs[ends] - logs[begins], negatives[ends] - negatives[begins],
                                  zeros[ends] - zeros[begins])
        result[:, ends, ends - lag] = value.T
    return Predictor(result.reshape(trajectory.batch_shape + result.shape[1:]), kind, convention)


# ------------------------------------------------------------------------------ profiles
def lag_profile(values) -> np.ndarray:
    """median_{t−k=h} v / (median_{t−k=1} v + 10⁻¹²) for h = 1..T, from a ``(*batch, T+1, T+1)``
    array of pair values (NaN = not covered; medians over every batch entry and t)."""
    values = np.asarray(values, dtype=np.float64)
    steps = int(values.shape[-1]) - 1
    flat = values.reshape((-1, steps + 1, steps + 1))
    medians = np.full(steps, np.nan)
    for lag in range(1, steps + 1):
        pairs = np.diagonal(flat, offset=-lag, axis1=1, axis2=2)
        if not np.all(np.isnan(pairs)):  # a lag the convention covers with no pair stays NaN
            medians[lag - 1] = np.nanmedian(pairs)
    return medians / (medians[0] + GUARD)


def fit_slope(log_s, log_p, *, trim: float = 0.01, min_points: int = 50) -> SlopeFit:
    """The trimmed OLS fit of ln S = a + s ln P (see the module docstring) over the entries
    of two equally shaped arrays of logarithms (NaN / ±inf entries are left out)."""
    log_s, log_p = np.asarray(log_s, dtype=np.float64), np.asarray(log_p, dtype=np.float64)
    if log_s.shape != log_p.shape:
        raise ArgumentError(f"fit_slope: log_s has shape {log_s.shape} but log_p has {log_p.shape}; give one per pair")
    if not (is_real(trim) and 0 <= trim < 0.5):
        raise ArgumentError(f"trim={trim!r} must be a number in [0, 0.5), e.g. 0.01 (the 1 % and 99 % quantiles)")
    check_integer("min_points", min_points, 2, None)
    valid = np.isfinite(log_s) & np.isfinite(log_p)
    x, y = log_p[valid], log_s[valid]
    missing = SlopeFit(np.nan, np.nan, np.nan, np.nan, np.nan, 0)
    if x.size == 0:
        return missing
    low, high = np.exp(np.quantile(x, [trim, 1 - trim]))  # quantiles of P (ln is monotone)
    central = (x >= np.log(low)) & (x <= np.log(high))
    x, y = x[central], y[central]
    if x.size < min_points:
        return missing._replace(low=float(low), high=float(high), points=int(x.size))
    design = np.stack([np.ones_like(x), x], axis=1)
    (intercept, slope), *_ = np.linalg.lstsq(design, y, rcond=None)
    residual = float(np.sum((y - design @ np.array([intercept, slope])) ** 2))
    total = float(np.sum((y - y.mean()) ** 2))
    r_squared = 1 - residual / total if total > 0 else np.nan
    return SlopeFit(float(slope), float(intercept), float(r_squared), float(low), float(high), int(x.size))


def effective_learning_rates(trajectory: Trajectory, predictor: str = "auto", convention: str = "exact",
                             norm: str = "exact", *, trim: float = 0.01, min_points: int = 50,
                             seed: int = 0) -> EffectiveLR:
    """S1 for one trajectory (a batch of probe sequences): the exact sensitivities, the
    predictor, the profiles μ̃_eff, μ̃_pred, μ̃_fit and the trimmed slope fit (module
    docstring); ``norm`` and ``seed`` as for :func:`sensitivities`."""
    trajectory = check_trajectory(trajectory, "effective_learning_rates")
    measured = sensitivities(trajectory, convention, norm, seed=seed)
    predicted = gate_products(trajectory, predictor, convention)
    fit = fit_slope(measured.log_values, predicted.log_values, trim=trim, min_points=min_points)
    profile_pred = lag_profile(predicted.values)
    with np.errstate(invalid="ignore"):
        fitted = (profile_pred + GUARD) ** fit.slope
    return EffectiveLR(np.arange(1, trajectory.steps + 1), lag_profile(measured.values), profile_pred, fitted, fit,
                       measured, predicted)
