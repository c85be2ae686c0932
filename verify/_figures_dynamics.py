"""Figures of the dynamics reproductions, drawn with matplotlib from plain arrays: Jacobian
spectra of gated cells against their random-matrix predictions (Can, Krishnamurthy & Schwab
2020, arXiv:2002.00025) and Lyapunov spectra of weakly coupled residual RNNs (Dubinin &
Effenberger 2024, arXiv:2307.14823).  Each function returns a ``matplotlib.figure.Figure``
(no pyplot, no display); ``verify._figures.png`` renders it.

* :func:`spectra_panels` — eigenvalues in the complex plane, one panel per case, with the
  predicted support's boundary (a disk, or a traced support) and the unit circle;
* :func:`slow_mode_figure` — the fraction of eigenvalues near 1 against the fraction of
  units with a (nearly) closed update gate, with the identity line;
* :func:`phase_diagram` — a heatmap over (σ_h, reset bias) with the threshold curve;
* :func:`exponent_scatter` — Lyapunov exponents against ln|λ_i(R)|, the identity line;
* :func:`deviation_figure` — max_i |LE_i − ln|λ_i(R)|| against γ, log-log, slope-1 guide;
* :func:`criticality_figure` — LE_max against λ for R = λI, with ln λ and the coupling band.

matplotlib is imported inside the functions only: importing this module costs nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

_COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple")
_UNITS = "natural log per step"


def _figure(columns: int, rows: int = 1, width: float = 4.6, height: float = 4.2):
    from matplotlib.figure import Figure

    figure = Figure(figsize=(max(width * columns, 8.0), height * rows), layout="constrained")
    return figure, figure.subplots(rows, columns, squeeze=False)


def _title(figure, text: str, note: str) -> None:
    figure.suptitle(text + (f"\n{note}" if note else ""), fontsize=11)


def _unit_circle(axis) -> None:
    angles = np.linspace(0, 2 * np.pi, 361)
    axis.plot(np.cos(angles), np.sin(angles), ":", color="grey", linewidth=1.0, label="unit circle |λ| = 1")


def spectra_panels(panels: Sequence[Mapping], *, columns: int, title: str, note: str = ""):
    """Eigenvalues (dots) with the predicted boundary (line) per panel.  Each panel is a
    mapping with ``eigenvalues`` (complex array), ``boundary`` (complex closed polyline),
    ``title``, ``prediction`` (the boundary's legend text) and optionally ``limits``
    ((xmin, xmax, ymin, ymax)); one legend under the panels."""
    if not panels:
        figure, axes = _figure(1, width=6.0, height=3.0)
        axes[0][0].text(0.5, 0.5, "nothing to show: no case was found", ha="center", va="center")
        axes[0][0].set_axis_off()
        _title(figure, title, note)
        return figure
    rows = -(-len(panels) // columns)
    figure, axes = _figure(columns, rows, width=4.0, height=3.9)
    for axis, panel in zip(axes.flat, panels):
        values = np.asarray(panel["eigenvalues"])
        axis.plot(values.real, values.imag, ".", markersize=2.5, color=_COLOURS[0], alpha=0.7,
                  label="eigenvalues of the Jacobian (measured)")
        boundary = np.asarray(panel["boundary"])
        axis.plot(boundary.real, boundary.imag, "-", color=_COLOURS[3], linewidth=1.4, label=panel["prediction"])
        _unit_circle(axis)
        if "limits" in panel:
            left, right, bottom, top = panel["limits"]
            axis.set_xlim(left, right)
            axis.set_ylim(bottom, top)
        axis.set_aspect("equal", adjustable="datalim")
        axis.set_xlabel(r"Re $\lambda$")
        axis.set_ylabel(r"Im $\lambda$")
        axis.set_title(panel["title"], fontsize=9)
        axis.grid(True, alpha=0.3)
    for axis in list(axes.flat)[len(panels):]:
        axis.set_visible(False)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", ncols=3, fontsize=9, markerscale=4)
    _title(figure, title, note)
    return figure


def slow_mode_figure(closed, slow, groups, *, width: float, note: str = ""):
    """The fraction of eigenvalues within ``width`` of 1 (``slow``) against the fraction of
    units with update gate z_i < ``width`` (``closed``), one point per case and seed, coloured
    by ``groups`` (a legend text per point), with the identity line (the prediction)."""
    figure, axes = _figure(1, width=6.4, height=5.6)
    axis = axes[0][0]
    closed, slow, groups = np.asarray(closed, float), np.asarray(slow, float), list(groups)
    for k, group in enumerate(dict.fromkeys(groups)):  # every group drawn, colours repeating after five
        colour = _COLOURS[k % len(_COLOURS)]
        chosen = np.array([g == group for g in groups])
        axis.plot(closed[chosen], slow[chosen], "o", color=colour, markersize=5, alpha=0.8, label=group)
    top = 1.05 * max(float(np.max(closed)), float(np.max(slow)), 0.05)
    axis.plot([0, top], [0, top], "--", color="black", linewidth=1.2, label="identity: the prediction")
    axis.set_xlim(0, top)
    axis.set_ylim(0, top)
    axis.set_aspect("equal")
    axis.set_xlabel(f"fraction of units with update gate $z_i < {width:g}$")
    axis.set_ylabel(f"fraction of eigenvalues with $|\\lambda - 1| < {width:g}$")
    axis.grid(True, alpha=0.3)
    axis.legend(fontsize=8, loc="upper left")
    _title(figure, "Slow modes: closed update gates put eigenvalues at 1", note)
    return figure


RADIUS = {"level": 1.0, "symbol": r"\rho(J_0)",
          "label": r"spectral radius $\rho(J_0)$ at the zero fixed point (median over seeds)",
          "title": r"Phase diagram of the Chung GRU: $\rho(J_0) > 1$ (red) beyond $\bar r\,\sigma_h = 1$"}
"""How :func:`phase_diagram` shows the spectral radius at the zero fixed point."""
EXPONENT = {"level": 0.0, "symbol": r"\lambda_{\max}",
            "label": r"largest Lyapunov exponent $\lambda_{\max}$ (natural log per step), median over seeds",
            "title": r"Chung GRU: $\lambda_{\max} < 0$ (blue) below $\bar r\,\sigma_h = 1$; "
                     r"beyond, $\lambda_{\max} \approx 0$ (white) or $> 0$ (red: chaos)"}
"""How :func:`phase_diagram` shows the largest Lyapunov exponent of the trajectories."""


def phase_diagram(sigmas, biases, values, *, threshold, shown: Mapping = RADIUS, note: str = ""):
    """A heatmap of ``values`` ``(len(sigmas), len(biases))`` over σ_h (x) and the reset bias
    b_r (y), a diverging colour scale centred at ``shown["level"]`` (1 for ρ(J₀), 0 for
    λ_max: :data:`RADIUS`, :data:`EXPONENT`), the measured contour at that level, and the
    curve σ_h = ``threshold(b_r)`` (where the prediction puts ρ(J₀) = 1)."""
    from matplotlib.colors import TwoSlopeNorm

    sigmas, biases, values = np.asarray(sigmas, float), np.asarray(biases, float), np.asarray(values, float)
    level = shown["level"]
    figure, axes = _figure(1, width=7.0, height=5.4)
    axis = axes[0][0]
    low, high = float(np.nanmin(values)), float(np.nanmax(values))
    norm = TwoSlopeNorm(vcenter=level, vmin=min(low, level - 0.01), vmax=max(high, level + 0.01))
    mesh = axis.pcolormesh(_edges(sigmas), _edges(biases), values.T, cmap="RdBu_r", norm=norm, shading="flat")
    colourbar = figure.colorbar(mesh, ax=axis)
    colourbar.set_label(shown["label"])
    fine = np.linspace(biases[0], biases[-1], 200)
    curve = threshold(fine)
    inside = (curve >= sigmas[0]) & (curve <= sigmas[-1])
    axis.plot(curve[inside], fine[inside], "-", color="black", linewidth=2,
              label=r"predicted threshold $\bar r\,\sigma_h = 1$, $\bar r = \mathrm{sigmoid}(b_r)$")
    axis.contour(sigmas, biases, values.T, levels=[level], colors="gold", linewidths=1.4, linestyles="--")
    axis.plot([], [], "--", color="gold", label=f"measured contour ${shown['symbol']} = {level:g}$")
    axis.set_xlabel(r"recurrent weight scale $\sigma_h$ ($W_h$ entries $\sim N(0, \sigma_h^2/N)$)")
    axis.set_ylabel(r"reset-gate bias $b_r$")
    axis.legend(fontsize=8, loc="upper right")
    _title(figure, shown["title"], note)
    return figure


def _edges(centres: np.ndarray) -> np.ndarray:
    """Cell edges around equally or unequally spaced centres (for pcolormesh)."""
    middles = (centres[1:] + centres[:-1]) / 2
    return np.concatenate([[2 * centres[0] - middles[0]], middles, [2 * centres[-1] - middles[-1]]])


def exponent_scatter(log_moduli: Mapping, exponents: Mapping, *, note: str = ""):
    """LE_i against ln|λ_i(R)| (both sorted) per residual (panel), one marker set per γ
    (``exponents[kind][gamma]``), the identity line (the γ = 0 prediction)."""
    figure, axes = _figure(len(log_moduli))
    for axis, (kind, reference) in zip(axes[0], log_moduli.items()):
        reference = np.asarray(reference, float)
        span = np.array([reference.min(), reference.max()])
        pad = max(0.01, 0.1 * float(np.ptp(span)))
        axis.plot(span + [-pad, pad], span + [-pad, pad], "--", color="black", linewidth=1.0,
                  label=r"identity: $LE_i = \ln|\lambda_i(R)|$")
        for (gamma, values), marker, colour in zip(exponents[kind].items(), ("o", "x", "s"), _COLOURS):
            axis.plot(reference, np.asarray(values, float), marker, color=colour, markersize=6 if marker == "o" else 5,
                      fillstyle="none", label=f"$\\gamma = {gamma:g}$")
        axis.set_xlabel(r"$\ln|\lambda_i(R)|$ (" + _UNITS + ")")
        axis.set_ylabel(r"Lyapunov exponent $LE_i$ (" + _UNITS + ")")
        equal = np.ptp(reference) <= 1e-12  # a degenerate modulus: the exponents split vertically at O(γ)
        axis.set_title(f"{kind} residual" + (f": all {reference.size} |λ_i(R)| equal" if equal else ""), fontsize=10)
        axis.grid(True, alpha=0.3)
        axis.legend(fontsize=8, loc="upper left")
    _title(figure, r"Lyapunov spectrum of the WCRNN against the residual's log-moduli, "
                   r"$h_t = R h_{t-1} + \gamma \tanh(W h_{t-1} + V x_t)$", note)
    return figure


def deviation_figure(gammas, deviations: Mapping, *, checked: Sequence[str], note: str = ""):
    """max_i |LE_i − ln|λ_i(R)|| against γ on log-log axes: per residual the median over seeds
    with the 25–75 % band (``deviations[kind]`` ``(len(gammas), seeds)``), and a dotted line
    of slope 1 (O(γ)) starting at half the lowest median at the smallest γ (below every curve)."""
    gammas = np.asarray(gammas, float)
    figure, axes = _figure(1, width=7.2, height=5.4)
    axis = axes[0][0]
    for colour, (kind, values) in zip(_COLOURS, deviations.items()):
        values = np.asarray(values, float)
        q25, median, q75 = np.nanpercentile(values, [25, 50, 75], axis=1)
        axis.fill_between(gammas, q25, q75, color=colour, alpha=0.15, linewidth=0)
        status = "ratios checked" if kind in checked else "reported only"
        axis.plot(gammas, median, "o-", color=colour, label=f"{kind} residual: median, 25–75 % band ({status})")
    lowest = min(float(np.nanmedian(np.asarray(values, float)[0])) for values in deviations.values())
    axis.plot(gammas, lowest / 2 * gammas / gammas[0], ":", color="black", linewidth=1.4,
              label=r"guide line of slope 1 ($\propto\gamma$)")
    axis.set_xscale("log")
    axis.set_yscale("log")
    axis.set_xlabel(r"coupling $\gamma$ (dimensionless)")
    axis.set_ylabel(r"$\max_i |LE_i - \ln|\lambda_i(R)||$ (" + _UNITS + ")")
    axis.grid(True, which="both", alpha=0.3)
    axis.legend(fontsize=8, loc="upper left")
    _title(figure, r"The exponents leave $\ln|\lambda_i(R)|$ at $O(\gamma)$: "
                   r"halving $\gamma$ halves the deviation", note)
    return figure


def criticality_figure(moduli, gammas, largest, margins, *, note: str = ""):
    """LE_max against λ for R = λI: per γ (panel) the value of every seed (``largest``
    ``(len(moduli), len(gammas), seeds)``), the line ln λ and the band ±margin around 0
    (``margins`` ``(len(moduli), len(gammas))``) inside which a network counts as critical."""
    moduli = np.asarray(moduli, float)
    largest = np.asarray(largest, float)
    figure, axes = _figure(len(gammas), width=4.4)
    for j, (axis, gamma) in enumerate(zip(axes[0], gammas)):
        axis.fill_between(moduli, -margins[:, j], margins[:, j], color="grey", alpha=0.25, linewidth=0,
                          label="critical band: |LE| ≤ coupling margin")
        axis.plot(moduli, np.log(moduli), "--", color="black", linewidth=1.0,
                  label=r"$\ln\lambda$ (the $\gamma = 0$ value)")
        for s in range(largest.shape[2]):
            axis.plot(moduli, largest[:, j, s], "o", color=_COLOURS[0], markersize=4, alpha=0.6,
                      label="measured $LE_{max}$ (one dot per seed)" if s == 0 else None)
        axis.axvline(1.0, color="grey", linewidth=0.8)
        axis.set_xlabel(r"residual eigenvalue $\lambda$ ($R = \lambda I$)")
        axis.set_ylabel(r"largest exponent $LE_{max}$ (" + _UNITS + ")")
        axis.set_title(f"coupling $\\gamma = {gamma:g}$", fontsize=10)
        axis.grid(True, alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", ncols=3, fontsize=9)
    _title(figure, r"Edge of chaos of the homogeneous WCRNN: $LE_{max} < 0$ for $\lambda < 1$, "
                   r"$\approx 0$ at $\lambda = 1$, $> 0$ beyond", note)
    return figure
