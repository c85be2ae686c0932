"""Figures of a design report (``verify.design_report``), drawn in the shared style of
:mod:`verify._figures` / :mod:`verify._figures_dynamics` from plain arrays; each function returns a
``matplotlib.figure.Figure`` (``verify._figures.png`` renders it).

* :func:`spectrum_figure` — eigenvalues of J at the zero state in the complex plane, with the
  predicted disk of Can, Krishnamurthy & Schwab 2020 (arXiv:2002.00025) when one exists;
* :func:`lyapunov_figure` — the Lyapunov spectrum (natural log per step) against the index;
* :func:`learning_rate_figure` — the effective-learning-rate profile μ̃_eff(h) over lags h with
  the zeroth-order gate-product predictor μ̃_pred(h) and the fitted power (Livi 2025,
  arXiv:2508.12121, Section VII-A);
* :func:`slow_mode_figure` — the fraction of eigenvalues within w of 1 against w.

The expansion-validity figure is ``verify._figures.norms_figure`` itself.
"""

from __future__ import annotations

import numpy as np

from ._figures_dynamics import _COLOURS, _figure, _title, _unit_circle

GUARDED = 1e-10


def spectrum_figure(values, disk_boundary, *, prediction: str, title: str):
    """``values`` (complex) as dots, ``disk_boundary`` (complex polyline, or None) as a line, the
    unit circle dotted; one legend under the panel."""
    figure, axes = _figure(1, width=6.0, height=5.4)
    axis = axes[0][0]
    values = np.asarray(values)
    axis.plot(values.real, values.imag, ".", markersize=4, color=_COLOURS[0], alpha=0.8,
              label=f"eigenvalues of J (measured, {values.size})")
    if disk_boundary is not None:
        boundary = np.asarray(disk_boundary)
        axis.plot(boundary.real, boundary.imag, "-", color=_COLOURS[3], linewidth=1.4, label=prediction)
    _unit_circle(axis)
    axis.set_aspect("equal", adjustable="datalim")
    axis.set_xlabel(r"Re $\lambda$ (dimensionless)")
    axis.set_ylabel(r"Im $\lambda$ (dimensionless)")
    axis.grid(True, alpha=0.3)
    figure.legend(*axis.get_legend_handles_labels(), loc="outside lower center", ncols=1, fontsize=9)
    _title(figure, title, "")
    return figure


def lyapunov_figure(exponents, *, title: str):
    """The exponents ``(S,)`` in decreasing order against their index, zero marked."""
    figure, axes = _figure(1, width=6.0, height=4.2)
    axis = axes[0][0]
    exponents = np.asarray(exponents, dtype=float)
    index = np.arange(1, exponents.size + 1)
    axis.plot(index, exponents, ".-", color=_COLOURS[0], markersize=3, linewidth=1.0,
              label="Lyapunov exponents (QR method)")
    axis.axhline(0.0, color="grey", linestyle=":", linewidth=1.0, label="0 (neutral: no growth or decay)")
    return _finish(figure, axis, "index i (exponents in decreasing order)", "exponent (natural log per step)", title,
                   legend="lower left")


def learning_rate_figure(lags, measured, predicted, fitted, *, slope: float, title: str):
    """μ̃_eff(h) (measured), μ̃_pred(h) and μ̃_pred(h)^s over lags h on a log scale; curves
    that are not finite anywhere are left out, and the fitted power where μ̃_pred(h) is below
    :data:`GUARDED` (there it shows the 10⁻¹² guard of the profile, not the predictor)."""
    fitted = np.where(np.asarray(predicted, dtype=float) > GUARDED, fitted, np.nan)
    figure, axes = _figure(1, width=6.0, height=4.2)
    axis = axes[0][0]
    curves = ((measured, "-", _COLOURS[0], "measured: median sensitivity, normalised to lag 1"),
              (predicted, "--", _COLOURS[1], "zeroth-order predictor: gate products"),
              (fitted, ":", _COLOURS[2], f"predictor to the fitted power s = {slope:.2f}"))
    for values, style, colour, label in curves:
        values = np.asarray(values, dtype=float)
        shown = np.isfinite(values) & (values > 0)
        if shown.any():
            axis.plot(np.asarray(lags)[shown], values[shown], style, color=colour, linewidth=1.6, label=label)
    axis.set_yscale("log")
    return _finish(figure, axis, "lag h = t − k (steps)", "effective learning rate (relative to lag 1)", title,
                   legend="lower left")


def slow_mode_figure(widths, fractions, *, chosen: float, title: str):
    """The fraction of eigenvalues within ``w`` of 1 against ``w`` (log scale), ``chosen`` marked."""
    figure, axes = _figure(1, width=6.0, height=4.2)
    axis = axes[0][0]
    axis.plot(widths, fractions, "-", color=_COLOURS[0], linewidth=1.6,
              label="eigenvalues along the trajectory within w of 1")
    axis.axvline(chosen, color=_COLOURS[3], linestyle="--", linewidth=1.0, label=f"w = {chosen:g} (the summary)")
    axis.set_xscale("log")
    axis.set_ylim(0, 1.02)
    return _finish(figure, axis, "distance w from 1 (dimensionless)", "fraction of eigenvalues", title,
                   legend="upper left")


def _finish(figure, axis, xlabel: str, ylabel: str, title: str, *, legend: str):
    """Axis labels, the major grid, the legend at ``legend`` and the title."""
    axis.set_xlabel(xlabel)
    axis.set_ylabel(ylabel)
    axis.grid(True, which="major", alpha=0.3)
    axis.legend(fontsize=8, loc=legend)
    _title(figure, title, "")
    return figure
