"""Figures of the first-order gate expansion (docs/theory.md: “The first-order gate
expansion”; Livi 2025, arXiv:2508.12121, appendix), drawn with matplotlib from plain arrays.

Every function takes per-seed arrays grouped as ``{convention: {gate: array}}`` — one panel
(column) per convention, one line per gate type inside it — and returns a
``matplotlib.figure.Figure`` (no pyplot, no global state, no display needed); :func:`png`
renders one to PNG bytes.  Across seeds each curve is the median with the 25–75 % band.

* :func:`truncation_figure` — E_trunc(ε) = ‖F(ε) − F(0) − ε L_F(0)[B]‖_F against ε, log-log,
  with a guide line of slope 2;
* :func:`c2_figure` — C₂(ε) = E_trunc(ε)/ε² against ε, with ‖c₂‖_F (the ε → 0 limit) marked;
* :func:`norms_figure` — ‖A_j‖₂ and ‖B_j‖₂ over the steps j, r_j = ‖B_j‖₂/‖A_j‖₂ on a twin
  axis; one panel per (gate, convention);
* :func:`ratio_histogram` — the distribution of r_j over all steps and seeds.

matplotlib is imported inside the functions only: importing this module costs nothing.
"""

from __future__ import annotations

import io
from collections.abc import Mapping

import numpy as np

GATE_NAMES = {"scalar_gate": "scalar gate", "multi_gate": "multi-gate"}
"""How a catalogue gate cell is named in a legend."""
CONVENTION_NAMES = {
    "exact": "exact convention: gate term with $h_{j-1}$ (the Jacobian)",
    "author": "author convention: gate term with $h_j$, earlier factors left",
}
"""Panel titles: what each convention computes (the author convention is the paper's public code)."""
_COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:red")
_EPSILON = r"gate-term scale $\varepsilon$ (dimensionless)"
_DPI = 150
_PANEL_WIDTH = 6.2
"""Inches per column of panels."""


def png(figure) -> bytes:
    """``figure`` rendered as PNG bytes."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=_DPI)
    return buffer.getvalue()


def _figure(panels: int, rows: int = 1, height: float = 4.2):
    from matplotlib.figure import Figure

    figure = Figure(figsize=(max(_PANEL_WIDTH * panels, 8.0), height * rows), layout="constrained")
    axes = figure.subplots(rows, panels, squeeze=False)
    return figure, axes


def _band(axis, x, values, colour: str, label: str, *, style: str = "-"):
    """Median line and 25–75 % band over the seeds (axis 0 of ``values``); returns the lower
    quartile."""
    values = np.asarray(values, dtype=float)
    q25, median, q75 = np.nanpercentile(values, [25, 50, 75], axis=0)
    axis.fill_between(x, q25, q75, color=colour, alpha=0.15, linewidth=0)
    for edge in (q25, q75):  # thin edges keep overlapping bands apart
        axis.plot(x, edge, "-", color=colour, linewidth=0.6, alpha=0.6)
    axis.plot(x, median, style, color=colour, label=label, linewidth=1.6)
    return q25


def _seeds(groups: Mapping) -> int:
    return max(np.asarray(a).shape[0] for panel in groups.values() for a in panel.values())


def _title(figure, text: str, note: str) -> None:
    """The title, then ``note``; on a one-column figure each breaks after its first ": " / "; "."""
    if figure.get_figwidth() < 2 * _PANEL_WIDTH:
        text, note = text.replace(": ", ":\n", 1), note.replace("; ", ";\n", 1)
    figure.suptitle(text + (f"\n{note}" if note else ""), fontsize=11)


def _epsilon_axes(axis, ylabel: str, convention: str) -> None:
    """A panel over ε of one convention: log–log, ε and ``ylabel`` on the axes, the
    convention's name as the title, a major grid."""
    axis.set_xscale("log")
    axis.set_yscale("log")
    axis.set_xlabel(_EPSILON)
    axis.set_ylabel(ylabel)
    axis.set_title(CONVENTION_NAMES.get(convention, convention), fontsize=10)
    axis.grid(True, which="major", alpha=0.3)


def truncation_figure(epsilons, errors: Mapping, *, note: str = ""):
    """E_trunc(ε) per convention (panel) and gate (line): ``errors[convention][gate]`` is
    ``(seeds, len(epsilons))``.  A dotted black line of slope 2, a decade below the lowest
    band at the smallest ε, shows the expected O(ε²); ``note`` (e.g. the settings) goes
    under the title."""
    epsilons = np.asarray(epsilons, dtype=float)
    figure, axes = _figure(len(errors))
    for axis, (convention, gates) in zip(axes[0], errors.items()):
        lowest = np.inf
        for colour, (gate, values) in zip(_COLOURS, gates.items()):
            lower = _band(axis, epsilons, values, colour, f"{GATE_NAMES.get(gate, gate)}: median, 25–75 % band")
            lowest = min(lowest, lower[0])
        guide = lowest / 10 * (epsilons / epsilons[0]) ** 2  # a decade below the lowest band, to stay visible
        axis.plot(epsilons, guide, ":", color="black", linewidth=1.4,
                  label=r"guide line of slope 2 ($\propto\varepsilon^2$)")
        _epsilon_axes(axis, r"$E_{\mathrm{trunc}}(\varepsilon)$, Frobenius norm (dimensionless)", convention)
        axis.legend(fontsize=8, loc="upper left")
    _title(figure, r"Truncation error of the first-order expansion: "
                   r"$E_{\mathrm{trunc}}(\varepsilon) = \|F(\varepsilon) - F(0) - \varepsilon L_F(0)[B]\|_F$", note)
    return figure


def c2_figure(epsilons, normalised: Mapping, c2_norms: Mapping, *, note: str = ""):
    """C₂(ε) = E_trunc(ε)/ε² per convention and gate (``normalised[convention][gate]``:
    ``(seeds, len(epsilons))``) with ‖c₂‖_F, the limit as ε → 0, as a horizontal line at its
    median over seeds (``c2_norms[convention][gate]``: ``(seeds,)``); one legend under the
    panels."""
    epsilons = np.asarray(epsilons, dtype=float)
    figure, axes = _figure(len(normalised))
    for axis, (convention, gates) in zip(axes[0], normalised.items()):
        for colour, (gate, values) in zip(_COLOURS, gates.items()):
            name = GATE_NAMES.get(gate, gate)
            _band(axis, epsilons, values, colour, f"{name}: $C_2(\\varepsilon)$ median, 25–75 % band")
            axis.axhline(float(np.nanmedian(c2_norms[convention][gate])), color=colour, linestyle="--",
                         linewidth=1.2, label=f"{name}: $\\|c_2\\|_F$ (median), the limit $\\varepsilon\\to 0$")
        _epsilon_axes(axis, r"$C_2(\varepsilon) = E_{\mathrm{trunc}}(\varepsilon)/\varepsilon^2$ (dimensionless)",
                      convention)
    lines, labels = axis.get_legend_handles_labels()  # the same curves in every panel: one legend
    figure.legend(lines, labels, loc="outside lower center", ncols=2, fontsize=9)
    _title(figure, r"Normalised remainder $C_2(\varepsilon) = E_{\mathrm{trunc}}(\varepsilon)/\varepsilon^2$: "
                   r"it tends to $\|c_2\|_F$, the second-order coefficient's norm, as $\varepsilon \to 0$", note)
    return figure


def norms_figure(a_norms: Mapping, b_norms: Mapping, ratios: Mapping, *, note: str = ""):
    """‖A_j‖₂ and ‖B_j‖₂ (left axis, log scale) and r_j (right axis) over the steps j = 1..T:
    one panel per gate (row) and convention (column), one legend under them; each array is
    ``(seeds, T)``."""
    conventions = list(a_norms)
    gates = list(a_norms[conventions[0]])
    figure, axes = _figure(len(conventions), rows=len(gates), height=3.6)
    for column, convention in enumerate(conventions):
        for row, gate in enumerate(gates):
            axis = axes[row][column]
            steps = np.arange(1, np.asarray(a_norms[convention][gate]).shape[1] + 1)
            _band(axis, steps, a_norms[convention][gate], _COLOURS[0], r"$\|A_j\|_2$ (gate frozen)")
            _band(axis, steps, b_norms[convention][gate], _COLOURS[1], r"$\|B_j\|_2$ (gate term)")
            axis.set_yscale("log")
            axis.set_xlabel("step $j$ (index along the sequence)")
            axis.set_ylabel("spectral norm (dimensionless)")
            axis.set_title(f"{GATE_NAMES.get(gate, gate)} — {CONVENTION_NAMES.get(convention, convention)}",
                           fontsize=9)
            axis.grid(True, which="major", alpha=0.3)
            twin = axis.twinx()
            _band(twin, steps, ratios[convention][gate], _COLOURS[2],
                  r"$r_j = \|B_j\|_2 / \|A_j\|_2$ (right axis)", style="--")
            twin.set_ylabel(r"ratio $r_j$ (dimensionless)", color=_COLOURS[2])
            twin.tick_params(axis="y", colors=_COLOURS[2])
            twin.set_ylim(bottom=0)
    lines, labels = axis.get_legend_handles_labels()  # the same three curves in every panel: one legend
    more, more_labels = twin.get_legend_handles_labels()
    figure.legend(lines + more, labels + more_labels, loc="outside lower center", ncols=3, fontsize=9)
    _title(figure, "Per-step factors $M_j(\\varepsilon) = A_j + \\varepsilon B_j$: spectral norms and their "
                   "ratio $r_j$ (median, 25–75 % band over seeds)", note)
    return figure


def ratio_histogram(ratios: Mapping, *, note: str = ""):
    """The histogram of r_j = ‖B_j‖₂/‖A_j‖₂ over all steps and seeds, per convention (panel)
    and gate (colour), ``ratios[convention][gate]`` ``(seeds, T)``; logarithmic bins, the
    median marked."""
    from matplotlib.colors import to_rgba

    figure, axes = _figure(len(ratios))
    pooled = np.concatenate([np.ravel(a) for gates in ratios.values() for a in gates.values()])
    positive = pooled[np.isfinite(pooled) & (pooled > 0)]
    low, high = (positive.min(), positive.max()) if positive.size else (1e-3, 1.0)
    bins = np.geomspace(low / 1.05, high * 1.05, 40)
    for axis, (convention, gates) in zip(axes[0], ratios.items()):
        for colour, (gate, values) in zip(_COLOURS, gates.items()):
            values = np.asarray(values, dtype=float)
            name = GATE_NAMES.get(gate, gate)
            seeds, steps = np.shape(values)
            axis.hist(np.ravel(values), bins=bins, facecolor=to_rgba(colour, 0.3), edgecolor=colour, linewidth=0.8,
                      label=f"{name} ({steps} steps × {seeds} seeds)")
            axis.axvline(float(np.nanmedian(values)), color=colour, linestyle="--", linewidth=1.2,
                         label=f"{name}: median {np.nanmedian(values):.3g}")
        axis.set_xscale("log")
        axis.set_xlabel(r"$r_j = \|B_j\|_2 / \|A_j\|_2$ (dimensionless)")
        axis.set_ylabel("count (steps × seeds)")
        axis.set_title(CONVENTION_NAMES.get(convention, convention), fontsize=10)
        axis.grid(True, which="major", alpha=0.3)
        axis.legend(fontsize=8, loc="upper left")
    _title(figure, r"How large is the gate term? Distribution of $r_j$ over all steps and seeds", note)
    return figure
