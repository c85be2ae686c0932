"""The analyses of a design report at initialisation (``verify.design_report``), each a
:class:`~verify._design_report_sections.Section` with a figure and one sentence on what it means.

The network at initialisation (:func:`initial_network`): parameters
``numeric.initialise(cell, sizes, scheme="gaussian", seed=seed)`` — weights N(0, 1/fan-in),
biases 0, the random-network ensemble of Can, Krishnamurthy & Schwab 2020 (arXiv:2002.00025;
docs/theory.md: “Initialisation”) — and :data:`PROBES` probe sequences of :data:`STEPS` steps
with inputs x_t ~ N(0, 1) and starting states s_0 ~ N(0, 0.5²), rolled out by ``numeric.rollout``
(one more sequence of :data:`LYAPUNOV_STEPS` steps for the Lyapunov spectrum).  All draws come
from ``numpy.random.default_rng((seed, crc32(what)))``.

* :func:`spectrum_section` — eigenvalues of J = ∂s'/∂s at s = 0, x = 0
  (``numeric.jacobian_eigenvalues``) against ``numeric.zero_fixed_point_disk`` where the cell
  has that prediction (docs/theory.md: “Fixed points and spectra”);
* :func:`lyapunov_section` — ``numeric.lyapunov_spectrum`` after :data:`BURN_IN` steps
  (docs/theory.md: “Lyapunov exponents”);
* :func:`learning_rate_section` — ``numeric.effective_learning_rates``: μ̃_eff(h) = median_{t−k=h}
  ‖Φ(t, k)‖₂ / median_{t−k=1} ‖Φ(t, k)‖₂ with the zeroth-order gate-product predictor (Livi 2025,
  arXiv:2508.12121, Section VII-A);
* :func:`expansion_section` — r_j = ‖B_j‖₂ / ‖A_j‖₂ along the probes (``numeric.expansion_factors``,
  ``numeric.gate_ratios``; docs/theory.md: “The first-order gate expansion”), for a cell with a gate;
* :func:`slow_mode_section` — ``numeric.fraction_near(λ(J_t), 1, w)`` along the probes: the mass of
  the eigenvalue peak at 1 that closed update gates create (Can, Krishnamurthy & Schwab 2020).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from gatejac import numeric
from gatejac.symbolic import Cell, GatejacError

from ._design_report_figures import learning_rate_figure, lyapunov_figure, slow_mode_figure, spectrum_figure
from ._design_report_sections import Section
from ._figures import norms_figure, png

PROBES = 4
"""Probe sequences of the trajectory the analyses read."""
STEPS = 60
"""Steps of each probe sequence (the learning-rate profile costs O(STEPS² · PROBES · S³))."""
LYAPUNOV_STEPS = 400
BURN_IN = 100
"""The Lyapunov spectrum averages steps BURN_IN + 1 .. LYAPUNOV_STEPS of one more sequence."""
SLOW_WIDTH = 0.05
"""w of the slow-mode fraction (eigenvalues with |λ − 1| < w)."""


@dataclass(frozen=True)
class Network:
    """A cell at initialisation: its compiled kernels, sizes, parameters, the probe trajectory
    and the longer trajectory of the Lyapunov spectrum."""

    cell: Cell
    compiled: object
    sizes: dict
    params: dict
    seed: int
    probes: object
    long: object


def _draw(seed: int, what: str, shape: tuple) -> np.ndarray:
    return np.random.default_rng((seed, zlib.crc32(what.encode()))).standard_normal(shape)


def initial_network(cell: Cell, sizes: dict, seed: int) -> Network:
    """The cell at initialisation (module docstring); a :class:`~symbolic.GatejacError` from
    ``numeric.initialise`` (e.g. a fixed parameter without a default) propagates."""
    params = numeric.initialise(cell, sizes, scheme="gaussian", seed=seed)
    compiled = numeric.compile(cell)
    shapes = numeric.shapes(cell, sizes)

    def rollout(batch: int, steps: int, what: str):
        states = {s.name: 0.5 * _draw(seed, f"{what} {s.name}", (batch, *shapes[s.name])) for s in cell.states}
        inputs = {x.name: _draw(seed, f"{what} {x.name}", (steps, batch, *shapes[x.name])) for x in cell.inputs}
        return numeric.rollout(compiled, states, inputs, params, steps=steps)

    return Network(cell, compiled, dict(sizes), params, seed, rollout(PROBES, STEPS, "probes"),
                   rollout(1, LYAPUNOV_STEPS, "lyapunov"))


def _units(network: Network) -> str:
    sizes = ", ".join(f"{k} = {v}" for k, v in network.sizes.items())
    return f"{sizes}, weights N(0, 1/fan-in), biases 0, seed {network.seed}"


# ---------------------------------------------------------------------- spectrum
def spectrum_section(network: Network) -> Section:
    """Eigenvalues of J at the zero state and zero input, with the predicted disk if any."""
    cell, compiled, shapes = network.cell, network.compiled, numeric.shapes(network.cell, network.sizes)
    states = {s.name: np.zeros(shapes[s.name]) for s in cell.states}
    inputs = {x.name: np.zeros(shapes[x.name]) for x in cell.inputs}
    values = np.asarray(numeric.jacobian_eigenvalues(compiled, states, inputs, network.params))
    radius = float(np.max(np.abs(values)))
    try:
        disk = numeric.zero_fixed_point_disk(compiled, network.params)
    except GatejacError as exc:  # no closed-form prediction for this cell (or these parameters)
        disk, why = None, str(exc).split(";")[0]
    data = {"spectral_radius": radius, "eigenvalues": [values.real.tolist(), values.imag.tolist()]}
    if disk is None:
        verdict = "perturbations of the zero state decay" if radius < 1 else "some perturbations of the zero state grow"
        sentence = f"The spectral radius at the zero state is {radius:.3f}: {verdict} ({why})."
        boundary, prediction = None, ""
    else:
        shown = values[: values.size - disk.zeros]
        distance = float(np.max(np.abs(shown - disk.centre)))
        sentence = (f"The eigenvalues fill the predicted disk (centre {disk.centre:.3f}, radius {disk.radius:.3f}; "
                    f"farthest measured {distance:.3f} from the centre), which lies "
                    f"{'inside' if disk.stable else 'outside'} the unit circle: the zero state is "
                    f"{'stable' if disk.stable else 'unstable'} at initialisation (Can, Krishnamurthy & Schwab 2020).")
        boundary = disk.boundary()
        prediction = f"predicted disk: centre {disk.centre:.3f}, radius {disk.radius:.3f}"
        data |= {"disk": {"centre": disk.centre, "radius": disk.radius, "zeros": disk.zeros, "ratio": disk.ratio},
                 "farthest_from_centre": distance}
    figure = spectrum_figure(values, boundary, prediction=prediction,
                             title=f"Eigenvalues of the state Jacobian at the zero state\n({_units(network)})")
    return Section("spectrum", "Jacobian spectrum at initialisation", sentence, figure=png(figure),
                   alt="eigenvalues of the state Jacobian in the complex plane with the unit circle", data=data)


# ---------------------------------------------------------------------- Lyapunov spectrum
def lyapunov_section(network: Network) -> Section:
    """The full Lyapunov spectrum of one sequence after the burn-in."""
    spectrum = numeric.lyapunov_spectrum(network.long, burn_in=BURN_IN)
    exponents = np.asarray(numeric.to_numpy(spectrum.exponents)).reshape(-1)
    largest = float(exponents[0])
    if largest < 0:
        meaning = (f"every perturbation decays, the slowest over about {-1 / largest:.0f} steps (1/|λ₁|): "
                   "the memory time-scale of the untrained cell")
    else:
        meaning = "some perturbations grow: the untrained cell is chaotic and its gradients can explode"
    sentence = f"The largest Lyapunov exponent is {largest:.3f} per step: {meaning}."
    figure = lyapunov_figure(exponents, title=f"Lyapunov spectrum over {LYAPUNOV_STEPS - BURN_IN} steps after "
                                              f"{BURN_IN} of burn-in\n({_units(network)})")
    return Section("lyapunov", "Lyapunov spectrum", sentence, figure=png(figure),
                   alt="Lyapunov exponents against their index",
                   data={"exponents": exponents.tolist(), "steps": spectrum.steps, "burn_in": spectrum.burn_in})


# ---------------------------------------------------------------------- effective learning rates
def learning_rate_section(network: Network) -> Section:
    """μ̃_eff(h) over lags with the zeroth-order predictor and the fitted power."""
    rates = numeric.effective_learning_rates(network.probes)
    lags, measured = np.asarray(rates.lags), np.asarray(rates.profile, dtype=float)
    lag = min(10, lags.size)
    fit = rates.fit
    if np.isfinite(fit.slope):
        predictor = (f"the zeroth-order gate-product predictor ({rates.predictor.kind} products) tracks it with "
                     f"S ∝ P^{fit.slope:.2f} (R² = {fit.r_squared:.2f})")
    else:
        predictor = "the zeroth-order gate-product predictor has too few finite pairs to fit (no retention term)"
    sentence = (f"A gradient reaching back {lag} steps is scaled by {measured[lag - 1]:.2g} relative to one step "
                f"back; {predictor}.")
    figure = learning_rate_figure(lags, measured, rates.predicted, rates.fitted, slope=fit.slope,
                                  title=f"Effective learning rate over lags, {PROBES} probe sequences of {STEPS} "
                                        f"steps\n({_units(network)})")
    data = {"lags": lags.tolist(), "measured": _finite(measured), "predicted": _finite(rates.predicted),
            "predictor": rates.predictor.kind, "slope": _float(fit.slope), "r_squared": _float(fit.r_squared)}
    return Section("learning_rate", "Effective learning rate over lags", sentence, figure=png(figure),
                   alt="effective learning rate against the lag, measured and predicted", data=data)


# ---------------------------------------------------------------------- expansion validity
def expansion_section(network: Network) -> Section:
    """r_j = ‖B_j‖₂/‖A_j‖₂ along the probe sequences (a cell with a marked gate)."""
    A, B = numeric.expansion_factors(network.probes)
    ratios = numeric.gate_ratios(A, B)
    r = np.asarray(numeric.to_numpy(ratios.ratios), dtype=float)
    median, p90 = (float(v) for v in np.nanpercentile(r, [50, 90]))
    regime = "small" if p90 < 0.3 else "not small"
    sentence = (f"The gate term is {regime} against the frozen-gate part: r = ‖B‖₂/‖A‖₂ per step has "
                f"median {median:.2f} and 90th percentile {p90:.2f}, so the first-order gate expansion is "
                f"{'a good' if regime == 'small' else 'a rough'} guide to this cell at initialisation (Livi 2025).")

    def by_probe(values):  # (T, probes) -> (probes, T): the figure's bands run over the probes
        return {"exact": {network.cell.name: np.asarray(numeric.to_numpy(values), dtype=float).T}}

    figure = norms_figure(by_probe(ratios.a_norms), by_probe(ratios.b_norms), by_probe(ratios.ratios),
                          note=f"seeds here: {PROBES} probe sequences of {STEPS} steps; {_units(network)}")
    return Section("expansion", "Expansion validity", sentence, figure=png(figure),
                   alt="spectral norms of the frozen-gate part A and the gate term B of each step, and their ratio r, "
                       "over the steps",
                   data={"median": median, "p90": p90, "max": float(np.nanmax(r))})


# ---------------------------------------------------------------------- slow modes
def slow_mode_section(network: Network) -> Section:
    """The fraction of eigenvalues of J_t near 1 along the probe sequences."""
    values = np.asarray(numeric.trajectory_eigenvalues(network.probes))
    widths = np.geomspace(1e-3, 1.0, 61)
    fractions = [float(np.mean(numeric.fraction_near(values, 1.0, w))) for w in widths]
    fraction = float(np.mean(numeric.fraction_near(values, 1.0, SLOW_WIDTH)))
    sentence = (f"{fraction:.1%} of the Jacobian's eigenvalues along the probes lie within {SLOW_WIDTH} of 1: "
                f"{'slow modes that integrate' if fraction > 0 else 'no slow modes: nothing integrates'} over long "
                "time-scales (Can, Krishnamurthy & Schwab 2020).")
    figure = slow_mode_figure(widths, fractions, chosen=SLOW_WIDTH,
                              title=f"Slow modes: eigenvalues of $J_t$ near 1 over {PROBES}×{STEPS} steps\n"
                                    f"({_units(network)})")
    return Section("slow_modes", "Slow-mode fraction", sentence, figure=png(figure),
                   alt="fraction of eigenvalues within w of 1 against w",
                   data={"width": SLOW_WIDTH, "fraction": fraction})


def analysis_sections(network: Network):
    """``(key, function)`` of every analysis that applies to the cell, in report order."""
    chosen = [("spectrum", spectrum_section), ("lyapunov", lyapunov_section),
              ("learning_rate", learning_rate_section)]
    if network.cell.gates:
        chosen.append(("expansion", expansion_section))
    return chosen + [("slow_modes", slow_mode_section)]


def _float(value) -> float | None:
    return float(value) if np.isfinite(value) else None


def _finite(values) -> list:
    return [_float(v) for v in np.asarray(values, dtype=float)]
